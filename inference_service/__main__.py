"""`python -m inference_service`: run the gRPC inference server."""

import os

# numpy's matrix products here are small (a mask's change); OpenBLAS's own threads would only
# spin on the cores that onnxruntime needs. Must be set before numpy is first imported.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from inference_service.server import main  # noqa: E402

if __name__ == "__main__":
    main()
