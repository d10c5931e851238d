"""The Flask app, configured against the real inference service (the session's server)."""

import pytest

from web_client import create_app
from web_client.limits import Limits


@pytest.fixture
def app(server):
    return create_app({"TESTING": True, "INFERENCE_ADDR": server.address, "LIMITS": Limits(upload_mb=2)})


@pytest.fixture
def client(app):
    return app.test_client()
