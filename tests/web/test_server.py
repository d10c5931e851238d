"""`python -m web_client` for real: gunicorn's gevent workers (and threaded ones), the upload cap, a graceful stop."""

import json
import signal
import threading
import urllib.error
import urllib.request
import uuid

import pytest

from tests.conftest import WebServer


def post_multipart(url: str, fields: dict, files: dict, timeout: float = 120):
    boundary = uuid.uuid4().hex
    body = b""
    for name, value in fields.items():
        body += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
    for name, data in files.items():
        body += (f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{name}.png"\r\n'
                 "Content-Type: image/png\r\n\r\n").encode() + data + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    request = urllib.request.Request(url, body, {"Content-Type": f"multipart/form-data; boundary={boundary}"})
    return urllib.request.urlopen(request, timeout=timeout)


@pytest.mark.parametrize("flags, worker, described", [
    ((), "gevent", "1 x gevent, 4096 connections each"),
    (("--worker-class", "gthread", "--threads", "8"), "gthread", "1 x 8 threads")])
def test_the_page_is_served_by_gunicorns_workers(server, flags, worker, described):
    web = WebServer(server.address, *flags)
    try:
        assert urllib.request.urlopen(web.url, timeout=10).status == 200
        health = json.loads(urllib.request.urlopen(web.url + "api/health", timeout=10).read())
        assert health == {"inference": "SERVING"}
        assert f"Using worker: {worker}" in web.log() and described in web.log()
    finally:
        web.stop()


def test_an_upload_over_the_cap_is_refused_with_413(server):
    web = WebServer(server.address, "--max-upload-mb", "1")
    try:
        try:
            post_multipart(web.url + "api/classify", {}, {"image": b"\x89PNG" + bytes(2 << 20)})
            raise AssertionError("a 2 MB upload passed a 1 MB cap")
        except urllib.error.HTTPError as error:
            assert error.code == 413
            assert "the limit here is 1 MB" in json.loads(error.read())["error"]
    finally:
        web.stop()


def test_sigterm_lets_a_request_in_progress_finish(server, photo_png):
    web = WebServer(server.address, "--grace-period-s", "30")
    answers = []

    def explain():  # an occlusion map: a second or more of work
        with post_multipart(web.url + "api/explain", {"patch_size": "14", "stride": "7"},
                            {"image": photo_png["coffee"]}) as response:
            answers.append([json.loads(line) for line in response.read().decode().splitlines()])

    thread = threading.Thread(target=explain)
    thread.start()
    try:
        thread.join(0.5)  # under way
        assert thread.is_alive(), "the map was done before the stop: the test shows nothing"
        web.process.send_signal(signal.SIGTERM)
        thread.join(60)
        assert answers and "map" in answers[0][-1], "the map in progress was delivered"
        assert web.process.wait(30) == 0
    finally:
        web.stop()


def test_secrets_come_from_files_and_a_missing_one_stops_the_server_with_its_name(server, tmp_path):
    """As in Kubernetes: the Secret's files, named by *_FILE twins, and nothing in the environment."""
    import subprocess
    import sys
    (tmp_path / "admin-token").write_text("from-a-file\n")
    web = WebServer(server.address, env={"MASKSCOPE_ADMIN_TOKEN_FILE": str(tmp_path / "admin-token")})
    try:
        def studies(token):
            request = urllib.request.Request(web.url + "api/admin/studies", headers={"Authorization": f"Bearer {token}"})
            try:
                return urllib.request.urlopen(request, timeout=10).status
            except urllib.error.HTTPError as error:
                return error.code
        assert studies("from-a-file") == 200 and studies("guess") == 401
    finally:
        web.stop()
    result = subprocess.run([sys.executable, "-m", "web_client", "--port", "0", "--inference-addr", server.address],
                            env={"PATH": "/usr/bin:/bin", "MASKSCOPE_ADMIN_TOKEN_FILE": str(tmp_path / "nowhere")},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and f"MASKSCOPE_ADMIN_TOKEN_FILE='{tmp_path / 'nowhere'}'" in result.stderr
