"""The Flask app, configured against the real inference service (the session's server)."""

import pytest

from web_client import create_app


@pytest.fixture
def app(server):
    return create_app({"TESTING": True, "INFERENCE_ADDR": server.address, "MAX_CONTENT_LENGTH": 2 << 20})


@pytest.fixture
def client(app):
    return app.test_client()
