"""TLS and the shared token on the real server, from gRPC, the CLI client and the web app."""

import datetime
import ipaddress
import subprocess
import sys

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from inference_service.settings import build_parser
from maskscope.channel import token_metadata
from maskscope.v1 import classifier_pb2 as pb
from maskscope.v1 import classifier_pb2_grpc as pb_grpc
from tests.conftest import ROOT, ServerProcess

TOKEN = "s3cret-token"


def self_signed(tmp_path):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / "server.crt", tmp_path / "server.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


@pytest.fixture(scope="module")
def secure_server(model_dir, tmp_path_factory):
    cert, key = self_signed(tmp_path_factory.mktemp("tls"))
    server = ServerProcess(model_dir, "--tls-cert-file", str(cert), "--tls-key-file", str(key),
                           env={"MASKSCOPE_AUTH_TOKEN": TOKEN}, tls_ca=cert)
    yield server
    server.stop()


def classify(channel, image, token=None):
    return pb_grpc.ClassifierStub(channel).Classify(pb.ClassifyRequest(image=image), timeout=30,
                                                    metadata=token_metadata(token))


def test_tls_with_the_token_works(secure_server, photo_png):
    with secure_server.channel() as channel:
        assert classify(channel, photo_png["coffee"], TOKEN).predictions


@pytest.mark.parametrize("token", [None, "wrong-token", TOKEN + "x"])
def test_every_rpc_without_the_right_token_is_unauthenticated(secure_server, photo_png, token):
    with secure_server.channel() as channel:
        stub = pb_grpc.ClassifierStub(channel)
        metadata = token_metadata(token)
        calls = [
            lambda: stub.Classify(pb.ClassifyRequest(image=photo_png["coffee"]), timeout=10, metadata=metadata),
            lambda: stub.ListModels(pb.ListModelsRequest(), timeout=10, metadata=metadata),
            lambda: list(stub.ClassifyStream(iter([pb.ClassifyRequest(image=photo_png["coffee"])]), timeout=10,
                                             metadata=metadata)),
        ]
        for call in calls:
            with pytest.raises(grpc.RpcError) as error:
                call()
            assert error.value.code() == grpc.StatusCode.UNAUTHENTICATED
            assert "Bearer" in error.value.details()


def test_health_needs_no_token_so_probes_work(secure_server):
    with secure_server.channel() as channel:
        status = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10).status
    assert status == health_pb2.HealthCheckResponse.SERVING


def test_plaintext_clients_cannot_talk_to_a_tls_server(secure_server, photo_png):
    with grpc.insecure_channel(secure_server.address) as channel:
        with pytest.raises(grpc.RpcError) as error:
            classify(channel, photo_png["coffee"], TOKEN)
    assert error.value.code() == grpc.StatusCode.UNAVAILABLE


def test_cli_client_with_tls_and_token(secure_server, tmp_path, photo_png):
    image = tmp_path / "coffee.png"
    image.write_bytes(photo_png["coffee"])
    base = [sys.executable, "-m", "inference_service.client", str(image), "--addr", secure_server.address,
            "--tls-ca-file", str(secure_server.tls_ca), "--tls-server-name", "localhost"]
    ok = subprocess.run(base + ["--auth-token", TOKEN], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0 and "espresso" in ok.stdout, ok.stderr
    refused = subprocess.run(base, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1 and "UNAUTHENTICATED" in refused.stderr


def test_web_app_reaches_a_tls_server_with_its_token(secure_server, photo_png):
    import io

    from web_client import create_app

    config = {"TESTING": True, "INFERENCE_ADDR": secure_server.address,
              "INFERENCE_TLS_CA_FILE": str(secure_server.tls_ca), "INFERENCE_TLS_SERVER_NAME": "localhost"}
    good = create_app({**config, "INFERENCE_AUTH_TOKEN": TOKEN}).test_client()
    response = good.post("/api/classify", data={"image": (io.BytesIO(photo_png["coffee"]), "c.png")})
    assert response.status_code == 200 and response.get_json()["predictions"]
    assert good.get("/api/models").status_code == 200
    tokenless = create_app(config).test_client()
    response = tokenless.post("/api/classify", data={"image": (io.BytesIO(photo_png["coffee"]), "c.png")})
    assert response.status_code == 502 and "token" in response.get_json()["error"]


def test_servers_bind_to_loopback_unless_told_otherwise():
    from web_client.__main__ import build_parser as web_parser
    assert build_parser().parse_args([]).host == "127.0.0.1"
    assert web_parser().parse_args([]).host == "127.0.0.1"


@pytest.mark.parametrize("host, token, open_", [("127.0.0.1", "", False), ("::1", "", False), ("[::1]", "", False),
                                                ("localhost", "", False), ("0.0.0.0", "", True), ("::", "", True),
                                                ("10.1.2.3", "", True), ("maskscope.internal", "", True),
                                                ("0.0.0.0", TOKEN, False)])
def test_which_binds_are_open_to_other_machines_with_no_token(host, token, open_):
    from inference_service.frontdoor.security import open_to_others
    assert open_to_others(host, token) is open_


def test_a_server_for_other_machines_needs_a_token_or_says_so_explicitly(model_dir):
    """As the container images start it (--host 0.0.0.0): with no token it refuses to start and
    says how; --allow-unauthenticated starts it, with a warning in its log."""
    refused = subprocess.run([sys.executable, "-m", "inference_service", "--host", "0.0.0.0", "--port", "0",
                              "--model-dir", str(model_dir)], cwd=ROOT, capture_output=True, text=True, timeout=60,
                             env={"PATH": "/usr/bin:/bin"})
    assert refused.returncode == 2 and "--auth-token" in refused.stderr and "--allow-unauthenticated" in refused.stderr
    server = ServerProcess(model_dir, "--allow-unauthenticated", host="0.0.0.0")
    try:
        assert "with no token (--allow-unauthenticated)" in server.log()
    finally:
        server.stop()
