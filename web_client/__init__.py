"""Maskscope's web page: a thin Flask app that talks to the inference service over gRPC."""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask

from maskscope.flags import env_secret
from web_client import bodies, inference, limits, origins, study

# Filled by `python -m web_client.samples` (make samples; the web image's build stage).
SAMPLES_DIR = Path(__file__).resolve().parent / "static" / "samples"

# Same-origin everything; the page draws user images from blob: and data: URLs.
CONTENT_SECURITY_POLICY = ("default-src 'self'; img-src 'self' blob: data:; connect-src 'self'; "
                           "style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; "
                           "frame-ancestors 'none'; form-action 'self'")


# Each setting's default when create_app is not given it (`flask run`, the tests): its env twin.
_ENVIRONMENT = {
    "INFERENCE_ADDR": lambda: os.environ.get("MASKSCOPE_INFERENCE_ADDR", "127.0.0.1:50051"),
    "LIMITS": limits.from_environment,  # web_client/limits.py: every bound, from the flags' env twins
    "ALLOWED_ORIGINS": lambda: origins.parse_allowed(os.environ.get("MASKSCOPE_ALLOWED_ORIGINS", "")),
    "ALLOWED_HOSTS": lambda: origins.parse_hosts(os.environ.get("MASKSCOPE_ALLOWED_HOSTS", "")) or None,
    "SAMPLES_DIR": lambda: Path(os.environ.get("MASKSCOPE_SAMPLES_DIR", SAMPLES_DIR)),
    "INFERENCE_TLS_CA_FILE": lambda: os.environ.get("MASKSCOPE_INFERENCE_TLS_CA_FILE", ""),
    "INFERENCE_TLS_SERVER_NAME": lambda: os.environ.get("MASKSCOPE_INFERENCE_TLS_SERVER_NAME", ""),
    "INFERENCE_AUTH_TOKEN": lambda: env_secret("MASKSCOPE_INFERENCE_AUTH_TOKEN") or "",
    "INFERENCE_CHANNELS": lambda: int(os.environ.get("MASKSCOPE_INFERENCE_CHANNELS", "8")),
    "DATABASE_URL": lambda: env_secret("MASKSCOPE_DATABASE_URL")
    or study.default_database_url(os.environ.get("MASKSCOPE_DATA_DIR", "data")),
    "ADMIN_TOKEN": lambda: env_secret("MASKSCOPE_ADMIN_TOKEN") or "",
    # Sessions are not used yet; the key still comes from the environment, never from the code.
    # Secrets may come from files instead (MASKSCOPE_..._FILE: a Kubernetes Secret's volume).
    "SECRET_KEY": lambda: env_secret("MASKSCOPE_SECRET_KEY") or os.urandom(32),
    "TRUSTED_PROXIES": lambda: int(os.environ.get("MASKSCOPE_TRUSTED_PROXIES", "0")),
}


def create_app(test_config: dict | None = None) -> Flask:
    app = Flask(__name__)
    given = test_config or {}
    # From the environment only what the caller did not give: `python -m web_client` passes its
    # flags (secret files read once, before gunicorn starts), so a worker reads nothing again.
    app.config.from_mapping({key: read() for key, read in _ENVIRONMENT.items() if key not in given})
    app.config.update(given)
    app.config["SAMPLES_DIR"] = Path(app.config["SAMPLES_DIR"])
    hops = app.config["TRUSTED_PROXIES"]
    if not isinstance(hops, int) or hops < 0:
        raise ValueError(f"TRUSTED_PROXIES is a count of proxies, 0 or more; got {hops!r}")
    if hops:
        # Behind an Ingress the client's address is the proxy's: take it from X-Forwarded-For as
        # that many proxies set it (the study's join limit is by address). Never by default: a
        # client reaching the app directly could then claim any address.
        from werkzeug.middleware.proxy_fix import ProxyFix
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops)

    # Imported here, not at the top: under gunicorn, prometheus_client must first be imported after
    # __main__ has set up its multiprocess folder (web_client/metrics.py).
    from web_client import metrics
    web_metrics = metrics.init_app(app)
    origins.init_app(app, app.config["ALLOWED_ORIGINS"], app.config["ALLOWED_HOSTS"])  # first: it costs least
    limits.init_app(app, app.config["LIMITS"])
    bodies.init_app(app)
    inference.init_app(app, observe=web_metrics.observe_call)
    from web_client.views import bp
    app.register_blueprint(bp)
    study.init_app(app)

    @app.after_request
    def security_headers(response):
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        return response

    return app
