"""schemathesis over the served OpenAPI document: no 500, and every response fits its documented schema."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from tests.integration.api_support import Api, api, api_env, worker  # noqa: F401 - fixtures

pytestmark = [pytest.mark.integration("postgres"), pytest.mark.integration("redis"),
              pytest.mark.integration("rabbitmq")]


# schemathesis' pytest plugin does not run under this pytest's version; the operations
# are driven with hypothesis directly instead, each with a bounded number of examples.
def test_the_api_keeps_its_documented_contract(api: Api) -> None:
    schema = schemathesis.openapi.from_url(f"{api.base_url}/api/v1/openapi.json")
    headers = api.auth(api.token())
    checks = [not_a_server_error, response_schema_conformance, content_type_conformance]
    tested = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=10, deadline=None, phases=[Phase.explicit, Phase.generate],
                  suppress_health_check=list(HealthCheck))
        def call(case: schemathesis.Case) -> None:
            case.call_and_validate(headers=headers, checks=checks)

        call()
        tested.append(operation.label)
    assert len(tested) == 19
