#!/bin/bash
# What bench/gpu_check.sh needs on a GPU machine that has no package index (docs/benchmarks.md,
# "The GPU check"): onnxruntime-gpu's Python package for the machine's Python 3.12 (without the
# TensorRT provider, which has no libraries there), the small wheels its image lacks in our
# versions, the exported EfficientNet-Lite0 and the sample photos, xz-compressed and cut into
# parts that each fit one call's carry (64 MiB with the working tree). Writes build/gpu/part.*.
set -euo pipefail
cd "$(dirname "$0")/.."
ORT_VERSION=$(.venv/bin/python -c "import onnxruntime; print(onnxruntime.__version__)")
OUT=build/gpu
STAGE=$OUT/stage
rm -rf "$OUT" && mkdir -p "$STAGE/site" "$STAGE/whl" "$STAGE/models" "$STAGE/samples"
.venv/bin/pip download --quiet --only-binary=:all: --no-deps --python-version 3.12 \
    --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
    -d "$OUT/download" "onnxruntime-gpu==$ORT_VERSION" grpcio==1.85.1 protobuf==7.35.1 \
    grpcio-health-checking==1.85.1 grpcio-reflection==1.85.1
(cd "$STAGE/site" && unzip -q ../../download/onnxruntime_gpu-*.whl \
    && rm onnxruntime/capi/libonnxruntime_providers_tensorrt.so)
cp "$OUT"/download/grpc*.whl "$OUT"/download/protobuf-*.whl "$STAGE/whl/"
cp -r models/efficientnet-lite0 "$STAGE/models/"
.venv/bin/python -c "from pathlib import Path; from bench.workload import load_workload; load_workload(Path('build/bench/samples'))"
cp build/bench/samples/*.jpg "$STAGE/samples/"
tar -C "$STAGE" -cf - . | xz -T0 -6 > "$OUT/payload.tar.xz"
split -b 60M -d "$OUT/payload.tar.xz" "$OUT/part."
rm -rf "$STAGE" "$OUT/download" "$OUT/payload.tar.xz"
ls -la "$OUT"
