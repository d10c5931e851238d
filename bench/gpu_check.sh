#!/bin/bash
# The GPU benchmark as run on a lent GPU machine with no package index (see docs/benchmarks.md).
# Beforehand, here: onnxruntime-gpu's cp312 wheel unpacked and tarred (xz) with the models folder
# and the wheels of grpcio, protobuf, grpcio-health-checking, grpcio-reflection and
# efficientnet-lite-pytorch, then `split -n 4` into parts copied to /tmp/parts/ on the machine
# (one part per call, the machine kept warm). Results go to $OUT.
cd "$(dirname "$0")/.."
set -x
cat /tmp/parts/part.0* > /tmp/payload.tar && mkdir -p /tmp/p && tar xf /tmp/payload.tar -C /tmp/p || exit 1
mkdir -p /tmp/site && tar xJf /tmp/p/ort.tar.xz -C /tmp/site || exit 1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site /tmp/p/whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
SP=$(python3 -c "import torch, os; print(os.path.dirname(os.path.dirname(torch.__file__)))")
export LD_LIBRARY_PATH=$(ls -d $SP/nvidia/*/lib 2>/dev/null | tr '\n' ':')$LD_LIBRARY_PATH
mkdir -p models && cp -r /tmp/p/models/* models/
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
python3 - <<'PY'
import onnxruntime as ort, grpc, google.protobuf
print("ort", ort.__version__, ort.get_available_providers(), "grpc", grpc.__version__, "protobuf", google.protobuf.__version__)
s = ort.InferenceSession("models/efficientnet-lite0/model.onnx", providers=["CUDAExecutionProvider", "CPUExecutionProvider"])
print("lite0 runs on", s.get_providers())
PY
B="python3 -m bench --clients 1,16,64,256 --naive-clients 16 --seconds 3 --load-processes 4"
S="--preprocess-workers 8 --max-batch-size 64"
timeout 250 $B --models efficientnet-lite0,resnet50 --server-args "$S" --out $OUT/gpu-fp32.json 2>&1 | tee $OUT/bench-fp32.log
timeout 100 $B --models resnet50 --naive-clients "" --clients 16,256 --precision fp16 --server-args "$S" --out $OUT/gpu-fp16.json 2>&1 | tee $OUT/bench-fp16.log
cp build/bench/logs/*.log $OUT/ 2>/dev/null; ls $OUT
