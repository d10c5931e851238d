#!/bin/bash
# The GPU check, on a lent GPU machine with no package index, in at most 8 minutes (docs/benchmarks.md,
# "The GPU check"): raw onnxruntime against the service (--workers 10) at 1, 16, 64 and 256 clients
# for EfficientNet-Lite0 and ResNet-50, fp32 and fp16, the fairness figure, and cuDNN's workspace A/B.
#
#   PARTS=/tmp/parts bash bench/gpu_check.sh      # the parts of bench/gpu_payload.sh, copied there first
#   DRY_RUN=1 PARTS=build/gpu PYTHON=.venv/bin/python bash bench/gpu_check.sh
#       # here, on the CPU, with this machine's Python (the carried packages are for Python 3.12):
#       # every step, a few seconds each
#
# Results (JSON and logs, at most 8 files) go to $OUT.
cd "$(dirname "$0")/.."
set -x
PARTS=${PARTS:-/tmp/parts}
OUT=${OUT:-/tmp/gpu-check}
WORK=${WORK:-/tmp/maskscope-gpu}
mkdir -p "$OUT" "$WORK/p" "$WORK/site"
started=$(date +%s)
cat "$PARTS"/part.* | xz -d | tar -C "$WORK/p" -xf - || exit 1
PY=${PYTHON:-python3}
SITE=$WORK/site
if [ -z "$DRY_RUN" ]; then  # (a dry run uses this machine's own packages: these are Python 3.12's)
    cp -r "$WORK/p/site/." "$SITE/"
    $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" \
        "$WORK"/p/whl/*.whl || exit 1
else
    SITE=
fi
export PYTHONPATH=$SITE:$PWD PYTHONUNBUFFERED=1 OPENBLAS_NUM_THREADS=1
SP=$($PY -c "import torch, os; print(os.path.dirname(os.path.dirname(torch.__file__)))" 2>/dev/null)
if [ -n "$SP" ]; then  # the CUDA 13 and cuDNN libraries of the machine's PyTorch
    export LD_LIBRARY_PATH=$(find "$SP/nvidia" -maxdepth 3 -type d -name lib 2>/dev/null | tr '\n' ':')$LD_LIBRARY_PATH
fi
mkdir -p models build/bench/samples
cp -r "$WORK"/p/models/* models/ && cp "$WORK"/p/samples/*.jpg build/bench/samples/
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 | tee "$OUT/gpu.txt"
$PY - <<'PY' 2>&1 | tee -a "$OUT/gpu.txt"
import numpy as np, onnxruntime as ort, grpc, google.protobuf
from inference_service.runtimes.models import OnnxModel, RuntimeOptions
print("onnxruntime", ort.__version__, ort.get_available_providers(), "grpc", grpc.__version__,
      "protobuf", google.protobuf.__version__)
model = OnnxModel("models/efficientnet-lite0", RuntimeOptions(), max_batch_size=4)
runner = model.runner
print("lite0 runs on", model.provider, "with", type(runner).__name__,
      "pinned staging" if getattr(runner, "pinned", False) else "pageable staging")
if model.provider == "CUDAExecutionProvider" and not runner.pinned:
    print("WARNING: batches are staged in pageable memory: the pinned allocator did not work here")
x = np.random.default_rng(0).standard_normal((3, 3, 224, 224)).astype(np.float32)
print("max |logits - CPU logits|", float(np.abs(model.run(list(x)) - OnnxModel(
    "models/efficientnet-lite0", RuntimeOptions(device="cpu")).run(x)).max()))
PY
if [ -n "$DRY_RUN" ]; then
    T="--seconds 1 --raw-s 0.2 --rounds 1 --turn-s 1 --raw-way-s 0.3 --latency-turns 1 --latency-turn-s 0.5"
    TOTAL_S=900
else
    T="--seconds 3 --raw-s 1 --rounds 3 --turn-s 3 --raw-way-s 1 --latency-turns 5 --latency-turn-s 1"
    TOTAL_S=470  # of the 8 minutes: the rest is unpacking and the checks above
fi
S="--workers 10 --max-batch-size 64"  # docs/deploy.md, "Sizing a GPU pod": ~500 requests/s a front-end
B="$PY -m bench --clients 1,16,64,256 --naive-clients= --load-processes 4 $T"
left() { echo $(( TOTAL_S - ($(date +%s) - started) )); }
at_most() { local l; l=$(left); echo $(( l < $1 ? l : $1 )); }
timeout "$(at_most 250)" $B --sections painting,fairness \
    --models efficientnet-lite0,resnet50 "--server-args=$S" --out "$OUT/gpu-fp32.json" 2>&1 | tee "$OUT/bench-fp32.log"
timeout "$(at_most 170)" $B --rounds 2 --latency-turns 3 --sections painting --models efficientnet-lite0,resnet50 \
    --precision fp16 "--server-args=$S" --out "$OUT/gpu-fp16.json" 2>&1 | tee "$OUT/bench-fp16.log"
if [ "$(left)" -gt 25 ]; then
    timeout $(( $(left) - 5 )) $PY -m bench --sections painting --models efficientnet-lite0 --clients 64 \
        --naive-clients= $T --rounds 0 --latency-turns 0 "--server-args=$S --no-cudnn-max-workspace" \
        --out "$OUT/gpu-small-workspace.json" 2>&1 | tail -20 > "$OUT/bench-small-workspace.log"
fi
tar -czf "$OUT/server-logs.tar.gz" build/bench/logs 2>/dev/null
echo "gpu check took $(( $(date +%s) - started )) s"; ls -la "$OUT"
