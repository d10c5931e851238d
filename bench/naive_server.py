"""The baseline people build first (like the seed prototype): one HTTP request, one eager PyTorch
forward pass. No batching, no ONNX, no image cache: the photo comes with every mask.

    python -m bench.naive_server --arch resnet50 --port 8500
"""

from __future__ import annotations

import argparse
import base64
import io
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import torch
import torchvision.transforms as T
from PIL import Image, ImageOps

from inference_service.export import ARCHITECTURES

GRAY = (124, 116, 104)


def make_handler(model, transform, device):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as any real client would use

        def log_message(self, *args):
            pass

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            image = ImageOps.exif_transpose(Image.open(io.BytesIO(base64.b64decode(body["image"])))).convert("RGB")
            pixels = np.array(image)
            if body.get("mask"):
                mask = Image.open(io.BytesIO(base64.b64decode(body["mask"])))
                plane = mask.getchannel("A") if "A" in mask.getbands() else mask.convert("L")
                pixels[np.asarray(plane) > 0] = GRAY
            with torch.no_grad():
                probabilities = model(transform(Image.fromarray(pixels))[None].to(device)).softmax(-1)[0].cpu()
            top = probabilities.topk(5)
            payload = json.dumps({"predictions": [{"class_index": int(i), "probability": float(p)}
                                                  for p, i in zip(top.values, top.indices)]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    return Handler


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.naive_server", description=__doc__)
    parser.add_argument("--arch", choices=sorted(ARCHITECTURES), required=True)
    parser.add_argument("--port", type=int, default=8500)
    parser.add_argument("--random-weights", action="store_true")
    args = parser.parse_args(argv)
    arch = ARCHITECTURES[args.arch]
    model, _ = arch.build(None, args.random_weights)
    # A GPU when torch sees one, as anyone would: the same device as the service under test.
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model.eval().to(device)
    spec = arch.preprocessing
    transform = T.Compose([T.Resize(spec.resize), T.CenterCrop(spec.crop), T.ToTensor(), T.Normalize(spec.mean, spec.std)])
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(model, transform, device))
    print(f"naive server on 127.0.0.1:{server.server_port} ({device})", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
