"""A workflow whose provider cannot be built is refused when applied, by the CLI and the API alike."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from signoff.domain import errors
from signoff.services import workflows as workflow_service
from signoff.services.context import Context
from tests.conftest import Keys
from tests.integration import test_cli

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

UNIMPORTABLE = """
name: custom
labels: [a, b]
ai: {provider: python, options: {function: "no_such_module_here:classify"}}
routing: {threshold: 0.9}
"""

BAD_OPTIONS = """
name: llm
labels: [a, b]
ai: {provider: openai, options: {model: gpt-4o-mini, samples: 1}}
routing: {threshold: 0.9}
"""


def test_cli_refuses_a_python_function_it_cannot_import_and_keeps_the_current_version(
    db_url: str, ctx: Context
) -> None:
    example = EXAMPLES / "keyword-review.yaml"
    refused = test_cli.run(db_url, "workflows", "apply", str(example), PYTHONPATH="")
    assert refused.returncode == 1
    message = test_cli.output(refused)
    assert "cannot import 'keyword_classifier:classify'" in message
    assert "PYTHONPATH" in message
    assert "Traceback" not in message
    assert workflow_service.list_workflows(ctx) == []

    applied = test_cli.run(db_url, "workflows", "apply", str(example), PYTHONPATH=str(EXAMPLES))
    assert applied.returncode == 0, applied.stderr
    assert "workflow keyword-review is now at version 1" in test_cli.output(applied)


def test_api_refuses_an_unbuildable_provider_with_a_json_error(
    client: TestClient, keys: Keys
) -> None:
    for name, body, fragment in (
        ("custom", UNIMPORTABLE, "cannot import 'no_such_module_here:classify'"),
        ("llm", BAD_OPTIONS, "ai.options.samples"),
    ):
        response = client.put(
            f"/api/v1/workflows/{name}", content=body, headers=keys.auth(keys.admin)
        )
        assert response.status_code == 422, response.text
        error = response.json()
        assert error["error"] == "invalid_workflow"
        assert fragment in error["detail"]
        missing = client.get(f"/api/v1/workflows/{name}", headers=keys.auth(keys.admin))
        assert missing.status_code == 404


@pytest.mark.parametrize("name", ["Docs", "doc review", "-docs", "a" * 65])
def test_applying_under_a_name_outside_the_workflow_name_rule_is_refused(
    ctx: Context, name: str
) -> None:
    with pytest.raises(errors.InvalidWorkflow, match="is not a workflow name") as refused:
        workflow_service.apply_workflow(ctx, "labels: [a, b]\n", "test", name=name)
    assert refused.value.context["field"] == "name"
    assert "lowercase letters, digits" in refused.value.detail
    assert workflow_service.list_workflows(ctx) == []
