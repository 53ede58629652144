"""The HTTP app over stand-in handles (no Ray): the contract, fast."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.api.app import make_test_app


@pytest.fixture
def app_parts(tmp_path):
    return make_test_app(tmp_path)


@pytest.fixture
def client(app_parts):
    with TestClient(app_parts.app, base_url="http://127.0.0.1", raise_server_exceptions=False) as c:
        yield c
