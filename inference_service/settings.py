"""Every flag of the inference service, and the settings the rest of it is made from them (the
entry points import this module; nothing here imports an entry point)."""

from __future__ import annotations

import argparse
from pathlib import Path

from inference_service.batching.model_queues import BatchLimits
from inference_service.pipeline.classification import Limits
from inference_service.runtimes.models import PRECISIONS, RuntimeOptions
from maskscope.flags import add_flag, env_file
from maskscope.limits import MAX_IMAGE_PIXELS, UPLOAD_MB

MB = 1 << 20


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m inference_service",
                                     description="Maskscope's gRPC inference service.")
    add_flag(parser, "--host", default="127.0.0.1", help="address to bind; 0.0.0.0 or [::] to serve other machines")
    add_flag(parser, "--port", type=int, default=50051, help="gRPC port (0: pick a free one and log it)")
    add_flag(parser, "--workers", type=int, default=1,
             help="front-end processes (gRPC, decoding, masking) that feed one model process through shared "
                  "memory; 1: everything in one process (sizing for a GPU: docs/deploy.md)")
    add_flag(parser, "--model-dir", type=Path, default=Path("models"), help="folder of exported model folders")
    add_flag(parser, "--device", default="auto", choices=("auto", "cuda", "cpu"),
             help="where models run: auto = CUDA when onnxruntime can use it, else the CPU")
    add_flag(parser, "--max-batch-size", type=int, default=16, help="most requests in one model run")
    add_flag(parser, "--max-delay-ms", type=float, default=2.0,
             help="longest wait, in milliseconds from the first queued request, for a batch to fill")
    add_flag(parser, "--concurrent-batches", type=int, default=2,
             help="model worker threads per model: batches in flight at once; a free worker forms its next batch at once")
    add_flag(parser, "--bulk-batch-size", type=int, default=0,
             help="most bulk requests (Explain's occluded copies, replays) in one model run (0: 1 on the CPU, "
                  "where a painter would wait for a whole batch; --max-batch-size on a GPU, where bulk fills every run)")
    add_flag(parser, "--concurrent-explains", type=int, default=2,
             help="occlusion maps and region searches computed at once, per model; more wait their turn")
    add_flag(parser, "--search-classifications", type=int, default=2000,
             help="copies a region search (Search) may classify when its request names no budget")
    add_flag(parser, "--max-search-classifications", type=int, default=4096,
             help="the most copies one region search may classify, whatever its request asks")
    add_flag(parser, "--max-queue-size", type=int, default=256,
             help="requests queued per model before new ones are refused with RESOURCE_EXHAUSTED")
    add_flag(parser, "--max-receive-mb", type=float, default=UPLOAD_MB, help="largest request message, in MiB")
    add_flag(parser, "--max-image-pixels", type=int, default=MAX_IMAGE_PIXELS,
             help="largest image, in pixels (width x height), checked before decoding")
    add_flag(parser, "--image-cache-mb", type=float, default=512, help="memory for decoded images, in MiB")
    add_flag(parser, "--preprocess-workers", type=int, default=2,
             help="threads that decode uploaded photos and inpaint (a mask on a cached photo is made at once: on the CPU "
                  "by the model's worker just before the run)")
    add_flag(parser, "--intra-op-threads", type=int, default=0,
             help="onnxruntime threads for a batch that runs alone (0: all usable cores, a container's CPU limit "
                  "included); batches that overlap share them out")
    add_flag(parser, "--tls-cert-file", type=Path, default=None,
             help="PEM certificate chain: serve gRPC over TLS (with --tls-key-file)")
    add_flag(parser, "--tls-key-file", type=Path, default=None, help="PEM private key for --tls-cert-file")
    add_flag(parser, "--auth-token", default="", secret=True,
             help="if set, every call but health checks needs metadata 'authorization: Bearer TOKEN'")
    add_flag(parser, "--allow-unauthenticated", type=bool, default=False,
             help="serve a --host other than loopback with no --auth-token (anyone who reaches the port can use "
                  "the service; a warning is logged): without it such a server refuses to start")
    add_flag(parser, "--metrics-port", type=int, default=0,
             help="serve Prometheus metrics over HTTP on this port, at --host (0: no metrics endpoint)")
    add_flag(parser, "--precision", default="fp32", choices=PRECISIONS,
             help="fp16: run models in half precision (GPU only; inputs and outputs stay float32)")
    add_flag(parser, "--tensorrt", type=bool, default=False,
             help="run models with onnxruntime's TensorRT provider (GPU with TensorRT's libraries only)")
    add_flag(parser, "--tensorrt-cache-dir", type=Path, default=None,
             help="where built TensorRT engines are kept between restarts (default ~/.cache/maskscope/tensorrt)")
    add_flag(parser, "--pin-workers", type=bool, default=True,
             help="on the CPU, when each overlapping batch gets exactly one core of cores that are the "
                  "process's own (no CPU quota) and --intra-op-threads is 0: keep each model worker thread on its "
                  "own core")
    add_flag(parser, "--cudnn-max-workspace", type=bool, default=True,
             help="on a GPU, let cuDNN use its largest workspace for convolutions (onnxruntime's default)")
    add_flag(parser, "--ort-spinning", type=bool, default=True,
             help="let onnxruntime's threads spin-wait briefly between parallel steps (a batch alone runs faster; "
                  "they sleep when the server is idle)")
    add_flag(parser, "--grace-period-s", type=float, default=10.0,
             help="on SIGTERM, seconds to let in-flight requests finish")
    add_flag(parser, "--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR")
    parser.add_argument("--print-env", action="store_true",
                        help="print every setting these flags and the environment give, as an env file, and exit "
                             "(deploy/k8s/base/inference.env, the pods' ConfigMap, is made so: make deploy-config)")
    return parser


PRINT_ENV_SKIP = frozenset({"--print-env"})  # not a setting


def print_env(parser: argparse.ArgumentParser, args: argparse.Namespace, argv: list[str]) -> None:
    flags = " ".join(a for a in argv if a != "--print-env")
    print(env_file(parser, args, skip=PRINT_ENV_SKIP,
                   header=f"Made by `python -m inference_service --print-env {flags}` (make deploy-config):\n"
                          "every flag of the inference service as its env twin. Do not edit: change the\n"
                          "flags in the Makefile's DEPLOY_FLAGS and run make deploy-config."), end="")


def limits_from_args(args: argparse.Namespace) -> Limits:
    return Limits(concurrent_explains=args.concurrent_explains, max_image_pixels=args.max_image_pixels,
                  search_classifications=args.search_classifications,
                  max_search_classifications=args.max_search_classifications,
                  image_cache_bytes=int(args.image_cache_mb * MB), preprocess_workers=args.preprocess_workers)


def batch_limits_from_args(args: argparse.Namespace) -> BatchLimits:
    return BatchLimits(max_batch_size=args.max_batch_size, max_delay_s=args.max_delay_ms / 1e3,
                       max_queue_size=args.max_queue_size, bulk_batch_size=args.bulk_batch_size)


def runtime_options_from_args(args: argparse.Namespace) -> RuntimeOptions:
    return RuntimeOptions(device=args.device, intra_op_threads=args.intra_op_threads, spin=args.ort_spinning,
                          concurrent_batches=args.concurrent_batches, pin_workers=args.pin_workers,
                          precision=args.precision, tensorrt=args.tensorrt, tensorrt_cache_dir=args.tensorrt_cache_dir,
                          cudnn_max_workspace=args.cudnn_max_workspace)
