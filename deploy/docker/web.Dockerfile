# Maskscope web page: Flask + the static page under gunicorn (`python -m web_client` starts it with
# its gevent workers), talking to the inference service over gRPC.
#   docker build -f deploy/docker/web.Dockerfile -t maskscope-web .

FROM python:3.11-slim AS samples
WORKDIR /src
COPY requirements/ requirements/
RUN pip install --no-cache-dir -r requirements/samples.txt pillow
COPY web_client/samples.py web_client/samples.py
RUN python web_client/samples.py --out /samples

FROM python:3.11-slim AS runtime
COPY requirements/ /tmp/requirements/
RUN pip install --no-cache-dir -r /tmp/requirements/web.txt && rm -rf /tmp/requirements
RUN useradd --uid 10001 --no-create-home --shell /usr/sbin/nologin maskscope
WORKDIR /app
COPY maskscope/ maskscope/
COPY web_client/ web_client/
COPY --from=samples /samples /app/web_client/static/samples
# Study mode's SQLite database when no MASKSCOPE_DATABASE_URL is given (mount a volume at /data).
RUN mkdir /data && chown 10001 /data
VOLUME /data
ENV PYTHONUNBUFFERED=1 MASKSCOPE_HOST=0.0.0.0 MASKSCOPE_PORT=8000 MASKSCOPE_METRICS_PORT=9090 \
    MASKSCOPE_INFERENCE_ADDR=dns:///maskscope-inference:50051 MASKSCOPE_DATA_DIR=/data
USER 10001
EXPOSE 8000 9090
# For plain Docker and Compose (Kubernetes has its own probes and ignores this): the page answers.
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/' % os.environ['MASKSCOPE_PORT'], timeout=5)"]
ENTRYPOINT ["python", "-m", "web_client"]
