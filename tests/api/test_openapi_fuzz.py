"""A schema-driven fuzzer over /openapi.json: no server error, nothing undocumented.

schemathesis generates requests from the schema (valid and invalid) against the real app over
stand-in handles; every response must be a documented status with the documented shape.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from seethink.images import ImageError
from tests.api.app import make_test_app


async def _no_network(url, *a, **kw):  # the fuzzer's URLs must not reach the network
    raise ImageError("fetching is off in the fuzz test", "image_fetch_failed")


# removed when the test process exits (the app and its review store live as long as the module)
_STORE = tempfile.TemporaryDirectory(prefix="seethink-fuzz-")


def _build_app():
    parts = make_test_app(
        Path(_STORE.name),
        auth={"reviewer_keys": ["sk-fuzz-reviewer"]},
        server={"allowed_hosts": "*"},
    )
    parts.app.state.service.fetch = _no_network  # this app only
    return parts.app


schema = schemathesis.openapi.from_asgi("/openapi.json", _build_app())


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_route_answers_only_what_it_documents(case):
    if case.path.startswith("/review"):
        case.headers = {**(case.headers or {}), "Authorization": "Bearer sk-fuzz-reviewer"}
    case.call_and_validate(
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ]
    )
