"""The limits the service, the web app, the study store, the tools and the page share: each a
default its own flag may change (--max-image-pixels, --max-receive-mb, --max-upload-mb); the page
reads the web app's from GET /api/limits."""

MAX_IMAGE_PIXELS = 40_000_000  # a photo's width x height, checked from its header before decoding
MAX_ASPECT_RATIO = 50          # a photo's longer side over its shorter one
UPLOAD_MB = 16                 # a photo or mask a client sends: the web app's upload, the service's message
