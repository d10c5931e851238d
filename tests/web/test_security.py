"""The web app's own defences: headers everywhere, size and type limits, no debug, secrets from env."""

import io

import pytest

from web_client import create_app
from web_client.limits import Limits


@pytest.fixture
def client(server):
    return create_app({"TESTING": True, "INFERENCE_ADDR": server.address, "LIMITS": Limits(upload_mb=1)}).test_client()


@pytest.mark.parametrize("method, path", [("get", "/"), ("get", "/api/models"), ("get", "/api/health"),
                                          ("post", "/api/classify"), ("get", "/no-such-page")])
def test_security_headers_on_every_response(client, method, path):
    response = getattr(client, method)(path)
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"


def test_urls_are_never_fetched_for_the_user(client):
    response = client.post("/api/classify", data={"image_url": "http://169.254.169.254/latest/meta-data"})
    assert response.status_code == 400 and "no image" in response.get_json()["error"]


@pytest.mark.parametrize("payload, name", [(b"<svg xmlns='http://www.w3.org/2000/svg'/>", "x.svg"),
                                           (b"<html><script>alert(1)</script></html>", "x.png"),
                                           (b"MZ\x90\x00 an executable", "photo.jpg")])
def test_only_images_are_accepted_whatever_the_file_is_called(client, payload, name):
    response = client.post("/api/classify", data={"image": (io.BytesIO(payload), name)})
    assert response.status_code == 400 and "not an image" in response.get_json()["error"]


def test_never_in_debug_mode_and_the_secret_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("MASKSCOPE_SECRET_KEY", "from-the-environment")
    app = create_app()
    assert app.debug is False and app.testing is False
    assert app.secret_key == "from-the-environment"
    monkeypatch.delenv("MASKSCOPE_SECRET_KEY")
    assert create_app().secret_key != create_app().secret_key  # random per process, never a constant
