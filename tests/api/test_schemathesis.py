"""schemathesis against the server's own OpenAPI document: every documented operation,
authenticated, a bounded number of generated requests each. No answer may be a 5xx
(except the documented 503 of /healthz), outside the documented status codes and
content types, or outside the documented envelope."""

from __future__ import annotations

import base64
import os
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.testclient import TestClient

from tests.conftest import ADMIN, ADMIN_PW

#: generated requests per operation (OSDEPOT_SCHEMATHESIS_EXAMPLES for more: the long form)
EXAMPLES = int(os.environ.get("OSDEPOT_SCHEMATHESIS_EXAMPLES", "15"))
AUTH = {"Authorization": "Basic " + base64.b64encode(f"{ADMIN}:{ADMIN_PW}".encode()).decode()}


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def test_every_documented_operation(app_client: TestClient) -> None:
    api = schemathesis.openapi.from_asgi("/openapi.json", app_client.app)
    operations = [result.ok() for result in api.get_all_operations()]  # type: ignore[union-attr]
    documented = {
        f"{method.upper()} {path}"
        for path, item in app_client.get("/openapi.json").json()["paths"].items()
        for method in item if method != "parameters"
    }  # fmt: skip
    # schemathesis leaves out the document's own path
    assert {op.label for op in operations} == documented - {"GET /openapi.json"}
    tried = 0
    for op in operations:

        @given(case=op.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def run(case: Any) -> None:
            nonlocal tried
            tried += 1
            case.call_and_validate(headers=AUTH, checks=CHECKS)

        run()
    print(f"schemathesis: {len(operations)} operations, {tried} requests")
    assert tried >= len(operations)
