"""A hypothesis state machine of the item lifecycle through the public HTTP API.

Submit (with and without repeated Idempotency-Keys), run the AI step, claim as one of
two reviewers, decide (as the holder, or as the other reviewer), cancel, archive and
view, in any order; after every step the invariant checker reads the database and the
recorded traffic. Each example starts from a fresh SQLite database.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)

from signoff.app import create_app
from signoff.services import processing
from signoff.services.context import create_context
from tests.conftest import FAKE_WORKFLOW, Keys, make_settings
from tests.faults import invariants
from tests.faults import traffic as wire

pytestmark = pytest.mark.timeout(600)

OPEN = ("received", "processing", "in_review")
DECIDED = ("approved", "rejected")


class Lifecycle(RuleBasedStateMachine):
    """Items driven through the API; the model tracks which reviewer holds which task."""

    template: Path
    workdir: Path
    items = Bundle("items")

    def __init__(self) -> None:
        super().__init__()
        path = self.workdir / f"{uuid.uuid4().hex}.db"
        shutil.copy(self.template, path)
        self.url = f"sqlite:///{path}"
        self.ctx = create_context(make_settings(self.url))
        self.keys = Keys(self.ctx)
        self.traffic = wire.Traffic()
        self.client = TestClient(create_app(ctx=self.ctx))
        self.client.__enter__()
        self.client.event_hooks = self.traffic.hook("api")
        applied = self.client.put(
            "/api/v1/workflows/docs", content=FAKE_WORKFLOW, headers=self._auth("admin")
        )
        assert applied.status_code == 201, applied.text
        self.providers = processing.ProviderCache(self.ctx)
        self.by_key: dict[str, int] = {}
        self.held: dict[str, tuple[int, int]] = {}  # reviewer -> (task id, item id)

    def _auth(self, who: str) -> dict[str, str]:
        return Keys.auth(getattr(self.keys, who))

    def _state(self, item_id: int) -> str:
        response = self.client.get(f"/api/v1/items/{item_id}", headers=self._auth("admin"))
        assert response.status_code == 200, response.text
        return str(response.json()["state"])

    @rule(
        target=items,
        label=st.sampled_from(["invoice", "contract", "other"]),
        confidence=st.sampled_from([0.5, 0.95]),
        key=st.sampled_from([None, "k1", "k2"]),
    )
    def submit(self, label: str, confidence: float, key: str | None) -> int:
        body: dict[str, Any] = {"content": {"text": "a document", "label": label}}
        body["content"]["confidence"] = confidence
        headers = self._auth("service")
        if key is not None:
            headers["Idempotency-Key"] = key
        response = self.client.post("/api/v1/workflows/docs/items", json=body, headers=headers)
        if key is not None and key in self.by_key:
            # The same key: the first item, or 422 when the body differs.
            assert response.status_code in (200, 422), response.text
            if response.status_code == 200:
                assert response.json()["id"] == self.by_key[key]
            return self.by_key[key]
        assert response.status_code == 201, response.text
        item_id = int(response.json()["id"])
        if key is not None:
            self.by_key[key] = item_id
        return item_id

    @rule()
    def work(self) -> None:
        processing.process_batch(self.ctx, "machine-worker", self.providers, 10)

    @rule(who=st.sampled_from(["reviewer", "reviewer2"]))
    def claim(self, who: str) -> None:
        response = self.client.post("/api/v1/reviews/claim", headers=self._auth(who))
        assert response.status_code in (200, 204), response.text
        if response.status_code == 204:
            return
        task = response.json()
        other = "reviewer2" if who == "reviewer" else "reviewer"
        assert self.held.get(other, (None,))[0] != task["id"], "one task handed to both"
        if who in self.held:
            assert self.held[who][0] == task["id"], "a reviewer holding a task got another"
        self.held[who] = (int(task["id"]), int(task["item_id"]))

    @rule(who=st.sampled_from(["reviewer", "reviewer2"]), outcome=st.sampled_from(DECIDED))
    def decide(self, who: str, outcome: str) -> None:
        other = "reviewer2" if who == "reviewer" else "reviewer"
        mine = self.held.get(who)
        target = mine or self.held.get(other)
        if target is None:
            return
        response = self.client.post(
            f"/api/v1/tasks/{target[0]}/decision",
            json={"outcome": outcome, "comment": "checked"},
            headers=self._auth(who),
        )
        if mine is None:
            assert response.status_code == 409, response.text  # someone else's task
            return
        assert response.status_code == 200, response.text
        del self.held[who]

    @rule(item_id=items)
    def cancel(self, item_id: int) -> None:
        before = self._state(item_id)
        response = self.client.post(
            f"/api/v1/items/{item_id}/cancel",
            json={"reason": "withdrawn"},
            headers=self._auth("service"),
        )
        if before in OPEN:
            # processing: cancelled, or 409 only if the AI step won the race (not here)
            assert response.status_code == 200, response.text
            self.held = {w: h for w, h in self.held.items() if h[1] != item_id}
        else:
            assert response.status_code == 409, response.text

    @rule(item_id=items)
    def archive(self, item_id: int) -> None:
        before = self._state(item_id)
        response = self.client.post(f"/api/v1/items/{item_id}/archive", headers=self._auth("admin"))
        assert response.status_code == (200 if before in DECIDED else 409), response.text

    @rule(item_id=items)
    def view(self, item_id: int) -> None:
        events = self.client.get(f"/api/v1/items/{item_id}/events", headers=self._auth("auditor"))
        assert events.status_code == 200, events.text
        assert events.json()["verified"] is True, events.json()["problems"]

    @invariant()
    def invariants_hold(self) -> None:
        invariants.assert_holds(
            self.url,
            self.traffic,
            expect=invariants.Expect(settled=False, delivered=False),
            ctx=self.ctx,
        )

    def teardown(self) -> None:
        self.client.__exit__(None, None, None)
        self.ctx.close()


def test_item_lifecycle_through_the_api_keeps_every_invariant(
    sqlite_template: Path, tmp_path: Path
) -> None:
    machine = type(
        "LifecycleOnSqlite", (Lifecycle,), {"template": sqlite_template, "workdir": tmp_path}
    )
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=25,
            stateful_step_count=15,
            deadline=None,
            database=None,  # no .hypothesis directory in the checkout
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
