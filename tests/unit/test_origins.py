"""web_client/origins.py: which sites' pages may use the server from a visitor's browser."""

import pytest

from web_client import create_app
from web_client.limits import Limits
from web_client.origins import allowed, default_hosts, host_allowed, parse_allowed, parse_hosts

LAB = frozenset({"https://lab.example.org"})


@pytest.mark.parametrize("origin, host, ok", [
    (None, "maskscope.example", True),  # no browser page: a script, the notebook client, curl
    ("https://maskscope.example", "maskscope.example", True),
    ("http://127.0.0.1:8000", "127.0.0.1:8000", True),
    ("HTTP://LocalHost:8000", "localhost:8000", True),
    ("http://127.0.0.1:8001", "127.0.0.1:8000", False),  # another port is another site
    ("https://evil.example", "maskscope.example", False),
    ("null", "maskscope.example", False),  # a sandboxed frame, a file: page
    ("https://lab.example.org", "maskscope.example", True),  # named by --allowed-origins
    ("https://lab.example.org.evil.example", "maskscope.example", False),
])
def test_only_the_pages_own_origin_and_the_named_ones(origin, host, ok):
    assert allowed(origin, host, LAB) is ok


@pytest.mark.parametrize("host, ok", [("127.0.0.1:8000", True), ("localhost", True), ("[::1]:8000", True),
                                      ("LOCALHOST:80", True), ("evil.example:8000", False), ("127.0.0.2", False),
                                      ("maskscope.lab.example", True)])
def test_a_server_answers_to_its_names_only(host, ok):
    """A page of evil.example whose name points at 127.0.0.1 (DNS rebinding) sends Host: evil.example."""
    assert host_allowed(host, default_hosts("127.0.0.1") | parse_hosts("Maskscope.Lab.Example")) is ok
    assert host_allowed(host, default_hosts("0.0.0.0"))  # any name: behind an Ingress, the site's own


def test_allowed_origins_are_origins():
    assert parse_allowed(" https://Lab.example.org , http://10.0.0.5:8080/") == frozenset(
        {"https://lab.example.org", "http://10.0.0.5:8080"})
    assert parse_allowed("") == frozenset()
    for wrong in ("lab.example.org", "ftp://lab.example.org", "https://lab.example.org/page"):
        with pytest.raises(ValueError, match="is not an origin"):
            parse_allowed(wrong)


def test_cross_site_posts_and_handshakes_are_refused_and_named_sites_let_through(tmp_path):
    client = create_app({"TESTING": True, "LIMITS": Limits(), "ALLOWED_ORIGINS": LAB,
                         "DATABASE_URL": f"sqlite:///{tmp_path / 's.db'}"}).test_client()
    upgrade = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
               "Sec-WebSocket-Version": "13"}
    refused = client.post("/api/classify", data={"image_id": "x"}, headers={"Origin": "https://evil.example"})
    assert refused.status_code == 403 and "another site (https://evil.example)" in refused.get_json()["error"]
    assert client.get("/api/stream", headers={**upgrade, "Origin": "https://evil.example"}).status_code == 403
    # The test client has no socket to hand over: past the origin check, the handshake fails on that.
    assert client.get("/api/stream", headers={**upgrade, "Origin": "https://lab.example.org"}).status_code == 400
    assert client.post("/api/classify", data={"image_id": ""}, headers={"Origin": "http://localhost"}).status_code == 400
    assert client.get("/api/samples", headers={"Origin": "https://evil.example"}).status_code == 200  # reads are open


def test_a_request_to_another_name_is_refused(tmp_path):
    client = create_app({"TESTING": True, "LIMITS": Limits(), "ALLOWED_HOSTS": default_hosts("127.0.0.1"),
                         "DATABASE_URL": f"sqlite:///{tmp_path / 's.db'}"}).test_client()
    refused = client.get("/api/samples", headers={"Host": "evil.example:8000"})
    assert refused.status_code == 400 and "not to evil.example:8000" in refused.get_json()["error"]
    assert client.get("/api/samples", headers={"Host": "127.0.0.1:8000"}).status_code == 200
