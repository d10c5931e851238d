"""`python -m web_client --port 8000 --inference-addr 127.0.0.1:50051`: serve the page with gunicorn.

gunicorn runs the Flask app (Flask's own server is for development only) in `--processes` worker
processes. Each is a gevent worker by default: every connection, an open live page's WebSocket
included, is a greenlet (kilobytes of memory), not a thread, and the gRPC calls to the inference
service wait as greenlets too (gRPC's gevent mode), so one process holds thousands of open pages
and a health check still answers at once. `--worker-class gthread` serves with `--threads`
threads instead, a connection each (kept to measure against: docs/benchmarks.md). Each worker
makes its own gRPC channels, after gunicorn has started it.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import resource
import shutil
import tempfile

from gunicorn.app.base import BaseApplication

from maskscope.flags import add_flag, env_secret
from web_client import limits, origins, study

WORKER_CLASSES = ("gevent", "gthread")
# gRPC's gevent mode waits for each channel's events on one of gevent's native threads: enough
# for every channel of a worker, the health check's and the DNS resolver's, with room to spare.
GRPC_NATIVE_THREADS = 64


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m web_client", description="Maskscope's web page.")
    add_flag(parser, "--host", default="127.0.0.1", help="address to bind; 0.0.0.0 to serve other machines")
    add_flag(parser, "--port", type=int, default=8000, help="HTTP port (0: pick a free one and print it)")
    add_flag(parser, "--metrics-port", type=int, default=0,
             help="serve Prometheus metrics over HTTP on this port, at --host, summed over the worker processes "
                  "(0: no metrics endpoint)")
    add_flag(parser, "--inference-addr", default="127.0.0.1:50051", help="the inference service, host:port")
    add_flag(parser, "--inference-tls-ca-file", default="", help="CA certificate (PEM): reach the service over TLS")
    add_flag(parser, "--inference-tls-server-name", default="", help="name to check the service's certificate against")
    add_flag(parser, "--inference-auth-token", default="", secret=True, help="the inference service's shared token, if any")
    add_flag(parser, "--inference-channels", type=int, default=8,
             help="connections to the inference service; each photo's calls keep to one, so a service of several "
                  "processes or pods shares the photos out")
    add_flag(parser, "--trusted-proxies", type=int, default=0,
             help="proxies in front of the app whose X-Forwarded-For to believe: 1 behind an Ingress; 0: the "
                  "connection's own address (anyone could claim another)")
    add_flag(parser, "--allowed-origins", default="",
             help="other sites' origins (https://host[:port], comma-separated) whose pages may use this server from "
                  "a visitor's browser; its own pages always may")
    add_flag(parser, "--allowed-hosts", default="",
             help="names and addresses this server answers to, comma-separated (a request's Host); default: on "
                  "loopback, loopback's names (against DNS rebinding), elsewhere any")
    add_flag(parser, "--processes", type=int, default=1, help="gunicorn worker processes")
    add_flag(parser, "--worker-class", default="gevent", choices=WORKER_CLASSES,
             help="gevent: a greenlet per connection (an open page costs memory, not a thread); gthread: a thread "
                  "per connection, --threads of them")
    add_flag(parser, "--threads", type=int, default=64,
             help="with --worker-class gthread: threads per worker process, each holding a connection "
                  "(a live page's WebSocket for as long as it is open)")
    add_flag(parser, "--cpu-threads", type=int, default=2,
             help="with gevent workers: native threads per worker for seconds-long image work (session reports, "
                  "masks of huge photos, study summaries), so that it never stalls the other pages")
    add_flag(parser, "--grace-period-s", type=float, default=10.0,
             help="on SIGTERM, seconds for requests in progress to finish before the workers are stopped")
    limits.add_flags(parser)
    study.add_database_flags(parser)
    add_flag(parser, "--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR")
    return parser


def open_files_for(connections: int) -> int:
    """Raises this process's open-file limit (its workers inherit it) toward what `connections`
    sockets need, as far as the hard limit allows; returns the soft limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = connections * 2 + 256  # each connection, a gRPC stream's share, files, the service's channels
    if soft < wanted:
        soft = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    if soft < connections + 256:
        logging.getLogger("web_client").warning(
            "the open-file limit is %d: fewer than --max-connections %d can be open at once", soft, connections)
    return soft


class WebServer(BaseApplication):
    """gunicorn with its configuration from our flags, the app made in each worker."""

    def __init__(self, args: argparse.Namespace):
        self.args = args
        super().__init__()

    def load_config(self):
        args = self.args
        host = f"[{args.host}]" if ":" in args.host and not args.host.startswith("[") else args.host
        for key, value in {"bind": f"{host}:{args.port}", "workers": args.processes, "threads": args.threads,
                           "worker_class": args.worker_class, "worker_connections": args.limits.max_connections,
                           "graceful_timeout": max(1, round(args.grace_period_s)),
                           # A WebSocket lives as long as its page: no request timeout, only the
                           # worker's own heartbeat (gunicorn's default 30 s).
                           "keepalive": 5, "loglevel": args.log_level.lower(), "accesslog": None,
                           "control_socket_disable": True,  # gunicorn's admin socket: nothing here uses it
                           "when_ready": self._ready, "child_exit": self._worker_exited}.items():
            self.cfg.set(key, value)

    def _ready(self, server) -> None:
        host, port = server.LISTENERS[0].sock.getsockname()[:2]
        host = f"[{host}]" if ":" in host else host
        if self.args.metrics_port:
            from web_client import metrics
            metrics.serve_multiprocess(self.args.host, self.args.metrics_port)
            print(f"Metrics on http://{host}:{self.args.metrics_port}/metrics", flush=True)
        workers = (f"{self.args.processes} x gevent, {self.args.limits.max_connections} connections each"
                   if self.args.worker_class == "gevent" else f"{self.args.processes} x {self.args.threads} threads")
        print(f"Maskscope web page on http://{host}:{port}/ (inference service {self.args.inference_addr}; "
              f"gunicorn, {workers})", flush=True)

    def _worker_exited(self, server, worker) -> None:
        if self.args.metrics_port:
            from web_client import metrics
            metrics.worker_exited(worker.pid)

    def load(self):
        args = self.args
        if args.worker_class == "gevent":  # in the worker, patched by gunicorn, before any channel is made
            import gevent
            from grpc.experimental import gevent as grpc_gevent

            from web_client import cpu
            grpc_gevent.init_gevent()
            gevent.get_hub().threadpool.maxsize = GRPC_NATIVE_THREADS
            cpu.start(args.cpu_threads)
        from web_client import create_app
        app = create_app({"INFERENCE_ADDR": args.inference_addr,
                           "INFERENCE_TLS_CA_FILE": args.inference_tls_ca_file,
                           "INFERENCE_TLS_SERVER_NAME": args.inference_tls_server_name,
                           "INFERENCE_AUTH_TOKEN": args.inference_auth_token,
                           "INFERENCE_CHANNELS": args.inference_channels,
                           "DATABASE_URL": study.database_url(args), "STUDY_MIGRATE": False,
                           "ADMIN_TOKEN": args.admin_token, "SECRET_KEY": args.secret_key,
                           "TRUSTED_PROXIES": args.trusted_proxies, "LIMITS": args.limits,
                           "ALLOWED_ORIGINS": args.allowed_origins, "ALLOWED_HOSTS": args.allowed_hosts})
        # What is loaded now lives as long as the worker: out of the collector's sight, so that a
        # full collection while a class connects walks the pages' objects, not every module's.
        gc.freeze()
        return app


def main(argv=None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    # Read here, not in each worker: a secret file that is missing stops the server with a message
    # (the workers would fail to boot one after another). From the environment only, or a file.
    try:
        args.admin_token = env_secret("MASKSCOPE_ADMIN_TOKEN") or ""
        args.secret_key = env_secret("MASKSCOPE_SECRET_KEY") or os.urandom(32)
    except ValueError as exc:
        parser.error(str(exc))
    if args.trusted_proxies < 0:
        parser.error(f"--trusted-proxies is a count of proxies, 0 or more; got {args.trusted_proxies}")
    try:
        args.limits = limits.from_args(args)
        args.allowed_origins = origins.parse_allowed(args.allowed_origins)
        args.allowed_hosts = origins.parse_hosts(args.allowed_hosts) or origins.default_hosts(args.host)
    except ValueError as exc:
        parser.error(str(exc))
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    open_files_for(args.limits.max_connections)
    # The study database's schema, once, before gunicorn starts its worker processes. (The admin
    # token is read from MASKSCOPE_ADMIN_TOKEN only: a flag would show it in process listings.)
    from web_client.study.store import engine_for, migrate
    migrate(engine_for(study.database_url(args)))
    if not args.metrics_port:
        return WebServer(args).run()
    # Each worker writes its samples here and the master sums them (web_client/metrics.py). Set
    # before prometheus_client is first imported, so every worker forked after this writes files.
    folder = os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="maskscope-web-metrics-")
    try:
        WebServer(args).run()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
