"""Command-line client: `python -m inference_service.client IMAGE [--mask PNG] [--model M]`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import grpc

from maskscope.channel import make_channel, token_metadata
from maskscope.flags import add_flag
from maskscope.fills import BY_NAME as FILLS
from maskscope.v1 import classifier_pb2 as pb
from maskscope.v1 import classifier_pb2_grpc as pb_grpc


def format_table(response: pb.ClassifyResponse) -> str:
    width = max([len(p.label) for p in response.predictions] + [5])
    lines = [f"{'rank':>4}  {'class':<{width}}  {'index':>5}  {'probability':>11}"]
    for rank, p in enumerate(response.predictions, 1):
        lines.append(f"{rank:>4}  {p.label:<{width}}  {p.class_index:>5}  {p.probability * 100:>10.2f}%")
    t = response.timings
    lines.append(f"model {response.model}; image {response.image_width}x{response.image_height} "
                 f"id {response.image_id[:12]}; server {t.total_ms:.1f} ms "
                 f"(preprocess {t.preprocess_ms:.1f}, queue {t.queue_ms:.1f}, inference {t.inference_ms:.1f} "
                 f"in a batch of {t.batch_size})")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m inference_service.client", description=__doc__)
    parser.add_argument("image", type=Path, help="PNG, JPEG, WebP, ... to classify")
    parser.add_argument("--mask", type=Path, help="PNG of the same size: painted (non-zero alpha) pixels are hidden")
    parser.add_argument("--model", default="", help="model name (default: the server's default)")
    parser.add_argument("--fill", choices=sorted(FILLS), default="gray", help="what painted pixels become")
    parser.add_argument("--keep-painted", action="store_true", help="keep only the painted area instead")
    parser.add_argument("--top-k", type=int, default=5)
    add_flag(parser, "--addr", default="127.0.0.1:50051", help="inference service address, host:port")
    add_flag(parser, "--timeout-s", type=float, default=30.0, help="deadline for the call, in seconds")
    add_flag(parser, "--tls-ca-file", default="", help="CA certificate (PEM): connect with TLS")
    add_flag(parser, "--tls-server-name", default="", help="name to check the server's certificate against")
    add_flag(parser, "--auth-token", default="", help="the server's shared token, if it requires one")
    args = parser.parse_args(argv)

    request = pb.ClassifyRequest(image=args.image.read_bytes(), model=args.model, fill=FILLS[args.fill],
                                 keep_painted=args.keep_painted, top_k=args.top_k,
                                 mask=args.mask.read_bytes() if args.mask else b"")
    with make_channel(args.addr, tls_ca_file=args.tls_ca_file, tls_server_name=args.tls_server_name) as channel:
        try:
            response = pb_grpc.ClassifierStub(channel).Classify(request, timeout=args.timeout_s,
                                                                metadata=token_metadata(args.auth_token))
        except grpc.RpcError as exc:
            print(f"error: {exc.code().name}: {exc.details()}", file=sys.stderr)
            return 1
    print(format_table(response))
    return 0


if __name__ == "__main__":
    sys.exit(main())
