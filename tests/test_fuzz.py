"""Schemathesis against the live service (uvicorn on loopback, PostgreSQL), every built-in check on.

Requests are made as alice on alice's path, so generated data reaches the handlers instead of
bouncing off 403.
"""

import hypothesis
import pytest
import schemathesis
from schemathesis.config import OperationConfig

from conftest import token_for
from handlers.app import SPEC_FILE

FUZZ_USER = "alice_fuzz"
# Loaded from the file, not the lazy fixture loader: that one breaks on pytest 9 (`Function._nodeid`).
schema = schemathesis.openapi.from_path(SPEC_FILE)
schema.config.update(headers={"Authorization": f"Bearer {token_for(FUZZ_USER, exp_in=3600)}"},
                     parameters={"user_id": FUZZ_USER})
schema.config.seed = 20261122
schema.config.operations.operations.append(OperationConfig.from_dict({
    "include-operation-id": "list_tasks",
    # A random `cursor` is schema-valid but no cursor the server issued, so it is rightly a 400.
    "checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", "400"]}},
}))


@schema.parametrize()
@hypothesis.settings(max_examples=40, deadline=None, suppress_health_check=list(hypothesis.HealthCheck))
def test_every_operation_keeps_its_contract(case, live_server):
    case.call_and_validate(base_url=live_server.url)


@pytest.fixture
def workflow(live_server):
    class Workflow(schema.as_state_machine()):
        def before_call(self, case):
            # Links and inference feed ids into every slot; the state machine ignores config parameters.
            if "user_id" in case.path_parameters:
                case.path_parameters["user_id"] = FUZZ_USER

        def get_call_kwargs(self, case):
            return {"base_url": live_server.url}

    return Workflow


def test_create_read_update_toggle_delete_chains_keep_the_contract(workflow):
    workflow.run(settings=hypothesis.settings(
        max_examples=30, stateful_step_count=8, deadline=None, phases=[hypothesis.Phase.generate],
        suppress_health_check=list(hypothesis.HealthCheck)))
