# Maskscope inference service for clusters without GPUs: plain onnxruntime, no torch.
#   docker build -f deploy/docker/inference-cpu.Dockerfile -t maskscope-inference-cpu .
# Models: exported in the `models` stage, or mounted at /models (build with --target runtime).

FROM python:3.11-slim AS models
WORKDIR /src
COPY requirements/ requirements/
RUN pip install --no-cache-dir -r requirements/serve-cpu.txt -r requirements/export.txt
COPY maskscope/ maskscope/
COPY inference_service/ inference_service/
ARG EXPORT="efficientnet-lite0"
RUN for model in $EXPORT; do python -m inference_service.export "$model" --out /models; done

FROM python:3.11-slim AS runtime
COPY requirements/ /tmp/requirements/
RUN pip install --no-cache-dir -r /tmp/requirements/serve-cpu.txt && rm -rf /tmp/requirements
RUN useradd --uid 10001 --no-create-home --shell /usr/sbin/nologin maskscope
WORKDIR /app
COPY maskscope/ maskscope/
COPY inference_service/ inference_service/
ENV PYTHONUNBUFFERED=1 MASKSCOPE_HOST=0.0.0.0 MASKSCOPE_PORT=50051 MASKSCOPE_METRICS_PORT=9090 \
    MASKSCOPE_MODEL_DIR=/models
USER 10001
EXPOSE 50051 9090
# For plain Docker and Compose (Kubernetes probes gRPC health itself and ignores this); it calls
# 127.0.0.1:50051, or MASKSCOPE_ADDR where MASKSCOPE_PORT is changed.
HEALTHCHECK --interval=30s --timeout=10s --start-period=120s \
    CMD ["python", "-m", "inference_service.client", "health", "--timeout-s", "5"]
ENTRYPOINT ["python", "-m", "inference_service"]

FROM runtime AS with-models
COPY --from=models /models /models
