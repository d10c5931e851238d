"""The baselines people build first: one HTTP request, one model run, the photo with every mask.

    python -m bench.naive_server --arch resnet50 --port 8500           # eager PyTorch (the seed prototype's style)
    python -m bench.naive_server --model-dir DIR --port 8500           # plain onnxruntime, one request at a time

No batching and no image cache in either. The onnxruntime one is what a careful engineer writes in
an afternoon: PIL decodes, the mask is pasted in gray, torchvision's eval transforms in PIL and
numpy, the same ONNX file on one session with onnxruntime's defaults, one request at a time.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from inference_service.pipeline.preprocess import IMAGENET_MEAN_RGB


def masked_photo(body: dict) -> Image.Image:
    """The request's photo (upright, RGB) with its painted pixels gray."""
    image = ImageOps.exif_transpose(Image.open(io.BytesIO(base64.b64decode(body["image"])))).convert("RGB")
    if not body.get("mask"):
        return image
    mask = Image.open(io.BytesIO(base64.b64decode(body["mask"])))
    plane = mask.getchannel("A") if "A" in mask.getbands() else mask.convert("L")
    pixels = np.array(image)
    pixels[np.asarray(plane) > 0] = IMAGENET_MEAN_RGB
    return Image.fromarray(pixels)


def make_handler(classify):
    """`classify(image) -> probabilities` for one PIL image."""
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as any real client would use
        # The body goes out apart from the headers: without this, Nagle's algorithm holds it until
        # the client's delayed ACK of the headers (~40 ms a request).
        disable_nagle_algorithm = True

        def log_message(self, *args):
            pass

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            probabilities = classify(masked_photo(body))
            top = np.argsort(-probabilities)[:5]
            payload = json.dumps({"predictions": [{"class_index": int(i), "probability": float(probabilities[i])}
                                                  for i in top]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    return Handler


def torch_classifier(arch_name: str, random_weights: bool):
    import torch
    import torchvision.transforms as T

    from inference_service.export import ARCHITECTURES
    arch = ARCHITECTURES[arch_name]
    model, _ = arch.build(None, random_weights)
    # A GPU when torch sees one, as anyone would: the same device as the service under test.
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model.eval().to(device)
    spec = arch.preprocessing
    transform = T.Compose([T.Resize(spec.resize), T.CenterCrop(spec.crop), T.ToTensor(), T.Normalize(spec.mean, spec.std)])

    def classify(image: Image.Image) -> np.ndarray:
        with torch.no_grad():
            return model(transform(image)[None].to(device)).softmax(-1)[0].cpu().numpy()

    return classify, device


def onnxruntime_classifier(model_dir: Path):
    import onnxruntime as ort

    from inference_service.runtimes.metadata import MODEL_FILE, ModelMetadata
    from inference_service.runtimes.models import pick_providers
    meta = ModelMetadata.load(model_dir)
    session = ort.InferenceSession(str(model_dir / MODEL_FILE), providers=pick_providers("auto"))
    spec = meta.preprocessing
    mean = np.asarray(spec.mean, np.float32).reshape(3, 1, 1)
    std = np.asarray(spec.std, np.float32).reshape(3, 1, 1)
    one_at_a_time = threading.Lock()

    def classify(image: Image.Image) -> np.ndarray:
        width, height = image.size
        scale = spec.resize / min(width, height)
        size = (spec.resize, int(height * scale)) if width <= height else (int(width * scale), spec.resize)
        image = image.resize(size, Image.Resampling.BILINEAR)
        left, top = int(round((size[0] - spec.crop) / 2)), int(round((size[1] - spec.crop) / 2))
        pixels = np.asarray(image.crop((left, top, left + spec.crop, top + spec.crop)), np.float32)
        x = ((pixels.transpose(2, 0, 1) / 255 - mean) / std)[None]
        with one_at_a_time:
            (logits,) = session.run(None, {meta.input_name: x})
        e = np.exp(logits[0] - logits[0].max())
        return e / e.sum()

    return classify, session.get_providers()[0]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.naive_server", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    engine = parser.add_mutually_exclusive_group(required=True)
    engine.add_argument("--arch", help="eager PyTorch: resnet50 or efficientnet-lite0")
    engine.add_argument("--model-dir", type=Path, help="plain onnxruntime: an exported model folder")
    parser.add_argument("--port", type=int, default=8500)
    parser.add_argument("--random-weights", action="store_true")
    args = parser.parse_args(argv)
    if args.arch:
        classify, device = torch_classifier(args.arch, args.random_weights)
        kind = "naive"
    else:
        classify, device = onnxruntime_classifier(args.model_dir)
        kind = "plain"
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(classify))
    print(f"{kind} server on 127.0.0.1:{server.server_port} ({device})", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
