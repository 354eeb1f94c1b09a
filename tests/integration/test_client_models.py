"""The client's answer models and the server's OpenAPI schemas name the same fields."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from signoff.client import models


@pytest.fixture
def components(client: TestClient) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    return response.json()["components"]["schemas"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("model", models.SCHEMAS, ids=lambda m: m.__name__)
def test_client_model_has_the_fields_and_required_fields_of_the_servers_schema(
    model: type[models.Model], components: dict[str, Any]
) -> None:
    schema = components[model.__name__]
    fields = model.model_fields
    assert set(fields) == set(schema["properties"]), model.__name__
    required = {name for name, info in fields.items() if info.is_required()}
    assert required == set(schema.get("required", [])), model.__name__


def test_every_item_and_task_schema_of_the_server_has_a_client_model(
    components: dict[str, Any],
) -> None:
    served = {name for name in components if name.startswith(("Item", "Task", "Workflow"))}
    served -= {"ItemCreate", "ItemBatchCreate", "ItemCancel", "WorkflowVersionList"}
    served -= {"WorkflowVersionPublic"}
    # Request bodies, and the compliance record (read over HTTP; no client call yet).
    served -= {"TaskAssign", "WorkflowPause", "ItemRecord"}
    assert served <= {m.__name__ for m in models.SCHEMAS}


def test_a_model_reads_like_the_json_it_came_from() -> None:
    body = {
        "id": 7,
        "item_id": 3,
        "status": "decided",
        "assignee_id": None,
        "due_at": None,
        "outcome": "approved",
        "comment": None,
        "decided_at": "2025-01-01T00:00:00",
        "added_by_a_newer_server": {"x": 1},
    }
    task = models.TaskPublic.model_validate(body)
    assert task["outcome"] == task.outcome == "approved"
    assert task.get("added_by_a_newer_server") == {"x": 1}
    assert task.get("missing", "default") == "default"
    assert "outcome" in task and "missing" not in task
    with pytest.raises(KeyError):
        task["missing"]
    assert task.model_dump(mode="json") == {
        **body,
        "group": None,
        "hold_expires_at": None,
        "kind": None,
        "item": None,
    }
