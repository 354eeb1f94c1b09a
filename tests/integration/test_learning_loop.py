"""The built-in model learns from reviewers; error-budget routing follows the evidence."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from signoff.clock import FrozenClock
from signoff.demo import documents
from signoff.domain.states import Role
from signoff.services import intake, processing, review, training
from signoff.services import workflows as workflow_service
from signoff.services.context import Context, create_context
from signoff.services.users import Principal
from signoff.storage import engine, learning
from signoff.storage import tables as t
from signoff.workers import runner
from tests.conftest import Keys, make_settings

BUILTIN = {
    "name": "docs-ml",
    "labels": ["invoice", "contract", "receipt", "other"],
    "entities": [{"type": "amount", "patterns": [r"(?:EUR|USD|GBP) [0-9][0-9,]*\.[0-9]{2}"]}],
    "ai": {"provider": "builtin"},
    "routing": {"threshold": 0.6},
    "training": {"retrain_every": 5, "min_labels": 20},
}


def _cli(args: list[str], url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SIGNOFF_DATABASE_URL": url}
    return subprocess.run(
        [sys.executable, "-c", "from signoff.cli import main; main()", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def test_imported_labels_train_a_model_whose_predictions_carry_its_version(
    ctx: Context, tmp_path: Path
) -> None:
    workflow_service.apply_workflow(ctx, BUILTIN, "test")
    seed = tmp_path / "seed.jsonl"
    seed.write_text(
        "".join(
            json.dumps({"text": t, "label": label}) + "\n"
            for t, label in documents.generate(200, seed=1)
        )
    )
    url = ctx.settings.database_url
    imported = _cli(["import-labels", "docs-ml", str(seed)], url)
    assert imported.returncode == 0, imported.stderr
    assert "imported 200 labels" in imported.stdout
    trained = _cli(["train", "docs-ml"], url)
    assert trained.returncode == 0, trained.stderr
    assert "model version 1 from 200 labels" in trained.stdout

    texts = [t for t, _ in documents.generate(30, seed=99)]
    intake.submit_items(ctx, "docs-ml", [intake.NewItem(content={"text": t}) for t in texts], "t")
    processing.process_batch(ctx, "w", processing.ProviderCache(ctx), 100)
    with ctx.sessions() as session:
        rows = session.execute(sa.select(t.items.c.prediction, t.items.c.route)).all()
    predictions = [r.prediction for r in rows]
    assert all(p["model_version"] for p in predictions)
    assert all(0.0 <= p["confidence"] <= 1.0 for p in predictions)
    assert len(rows) == 30
    assert any(e["type"] == "amount" for p in predictions for e in p["entities"])


def test_a_bad_label_in_an_import_file_is_named_and_nothing_is_imported(
    ctx: Context, tmp_path: Path
) -> None:
    workflow_service.apply_workflow(ctx, BUILTIN, "test")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "a", "label": "invoice"}\n{"text": "b", "label": "spam"}\n')
    result = _cli(["import-labels", "docs-ml", str(bad)], ctx.settings.database_url)
    assert result.returncode == 1
    assert "line 2" in result.stderr and "spam" in result.stderr
    assert "Traceback" not in result.stderr
    assert training.count_labels(ctx, workflow_service.get_workflow(ctx, "docs-ml").id) == 0


def test_text_no_database_can_store_refuses_an_import_naming_the_line(
    ctx: Context, tmp_path: Path
) -> None:
    workflow_service.apply_workflow(ctx, BUILTIN, "test")
    bad = tmp_path / "nul.jsonl"
    bad.write_text(
        json.dumps({"text": "a fine invoice", "label": "invoice"})
        + "\n"
        + json.dumps({"text": "an email with a \x00 byte", "label": "other"})
        + "\n"
    )
    result = _cli(["import-labels", "docs-ml", str(bad)], ctx.settings.database_url)
    assert result.returncode == 1
    assert "line 2" in result.stderr and "NUL" in result.stderr
    assert "Traceback" not in result.stderr
    assert training.count_labels(ctx, workflow_service.get_workflow(ctx, "docs-ml").id) == 0


def test_eval_sets_aside_an_example_the_intake_would_refuse_and_replays_the_rest(
    tmp_path: Path,
) -> None:
    rows = [{"text": t, "label": label} for t, label in documents.generate(60, seed=5)]
    rows[7]["text"] += " \x00 trailing NUL"
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in rows))
    spec = tmp_path / "workflow.yaml"
    spec.write_text(json.dumps(BUILTIN))
    output = tmp_path / "figures.json"
    result = _cli(
        ["eval", str(data), "--workflow", str(spec), "--output", str(output)], "sqlite://"
    )
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())
    assert "skipped 1 example(s) that cannot be stored" in text
    assert "line 8" in text
    assert json.loads(output.read_text())["items"] == 59


def _review_cold_start(ctx: Context, n: int) -> None:
    """Submit n documents to docs-ml, route them, and have a reviewer label every one."""
    from signoff.services import users

    user_id = users.add_user(ctx, "r@example.com", Role.REVIEWER)
    reviewer = Principal(user_id, "r@example.com", Role.REVIEWER)
    corpus = list(documents.generate(n, seed=3))
    # Cold start: no model, every item goes to a person, nothing is an error.
    intake.submit_items(
        ctx, "docs-ml", [intake.NewItem(content={"text": t}) for t, _ in corpus], "t"
    )
    processing.process_batch(ctx, "w", processing.ProviderCache(ctx), 100)
    truth = dict(enumerate((label for _, label in corpus), start=1))
    decided = 0
    while (task := review.claim_next_task(ctx, reviewer, "docs-ml")) is not None:
        item = task.item_id
        review.decide(ctx, reviewer, task.id, review.DecisionInput("approved", label=truth[item]))
        decided += 1
    assert decided == n


def test_reviewer_decisions_do_not_train_but_the_worker_retrain_loop_does(ctx: Context) -> None:
    view, _ = workflow_service.apply_workflow(ctx, BUILTIN, "test")
    _review_cold_start(ctx, 40)
    assert training.active_model_info(ctx, view.id) is None, "a request thread trained"

    worker_ctx = create_context(
        make_settings(ctx.settings.database_url, worker={"retrain_poll_seconds": 0.2})
    )
    pool = runner.WorkerPool(worker_ctx, concurrency=1, sender=False)
    pool.start()
    try:
        deadline = time.monotonic() + 60
        while training.active_model_info(ctx, view.id) is None and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        pool.stop()
        worker_ctx.close()
    info = training.active_model_info(ctx, view.id)
    assert info is not None, "the worker trained no model from reviewers' labels"
    assert info.n_labels == 40
    with ctx.sessions() as session:
        state = session.execute(sa.select(t.learning_state)).one()
        assert learning.read_decisions(session, view.id) == 40
    assert state.retrain_owner is None, "the lease was not released after training"


def test_retrain_schedule_waits_for_growth_by_a_fraction_and_the_minimum_interval(
    ctx: Context,
) -> None:
    spec = {
        **BUILTIN,
        "training": {
            "retrain_every": 5,
            "min_labels": 20,
            "retrain_growth": 0.5,
            "retrain_min_interval_seconds": 3600,
        },
    }
    ctx.clock = FrozenClock(datetime.now(UTC))
    view, _ = workflow_service.apply_workflow(ctx, spec, "test")
    training.import_labels(ctx, "docs-ml", list(documents.generate(19, seed=1)))
    assert training.retrain_due_workflows(ctx, "w-1") == 0, "trained below min_labels"
    training.import_labels(ctx, "docs-ml", list(documents.generate(1, seed=2)))
    assert training.retrain_due_workflows(ctx, "w-1") == 1
    # 20 labels in the model: the next one needs max(5, 0.5 * 20) = 10 more, and an hour.
    training.import_labels(ctx, "docs-ml", list(documents.generate(9, seed=3)))
    assert not training.retrain_due(ctx, view.id, view.spec)
    training.import_labels(ctx, "docs-ml", list(documents.generate(1, seed=4)))
    assert not training.retrain_due(ctx, view.id, view.spec), "ignored the minimum interval"
    assert isinstance(ctx.clock, FrozenClock)
    ctx.clock.advance(seconds=3600)
    assert training.retrain_due(ctx, view.id, view.spec)
    assert training.retrain_due_workflows(ctx, "w-1") == 1
    assert [int(v.n_labels) for v in training.list_model_versions(ctx, "docs-ml")] == [30, 20]


def test_two_workers_never_train_the_same_workflow_at_once(ctx: Context) -> None:
    ctx.clock = FrozenClock(datetime.now(UTC))
    view, _ = workflow_service.apply_workflow(ctx, BUILTIN, "test")
    training.import_labels(ctx, "docs-ml", list(documents.generate(30, seed=1)))
    now = ctx.clock.now()
    with engine.transaction(ctx.sessions) as session:
        assert learning.claim_retrain(session, view.id, "w-1", now, now + timedelta(minutes=5))
    # w-2 finds the schedule due but w-1 holds the lease: w-2 trains nothing.
    assert training.retrain_due(ctx, view.id, view.spec)
    assert training.retrain_due_workflows(ctx, "w-2") == 0
    assert training.active_model_info(ctx, view.id) is None
    # A model trained under a lease that w-1 no longer holds is not stored.
    with pytest.raises(training.RetrainLeaseLost):
        training.train_workflow(ctx, "docs-ml", lease_owner="w-2")
    assert training.active_model_info(ctx, view.id) is None
    # Once w-1's lease expires (a crashed worker), w-2 takes over.
    assert isinstance(ctx.clock, FrozenClock)
    ctx.clock.advance(minutes=5)
    assert training.retrain_due_workflows(ctx, "w-2") == 1
    assert training.active_model_info(ctx, view.id) is not None


def test_calibration_endpoint_learns_a_threshold_as_decisions_arrive(
    client: TestClient, ctx: Context, keys: Keys
) -> None:
    spec = {
        "name": "budget",
        "labels": ["ok", "bad"],
        "ai": {"provider": "fake"},
        "routing": {"error_budget": 0.1, "confidence_level": 0.9, "min_reviewed": 30},
    }
    assert (
        client.put("/api/v1/workflows/budget", json=spec, headers=keys.auth(keys.admin)).status_code
        == 201
    )
    before = client.get(
        "/api/v1/workflows/budget/calibration", headers=keys.auth(keys.admin)
    ).json()
    assert before["threshold"] is None and before["reviewed"] == 0

    # 80 items: confident ones are right, unsure ones are wrong half the time.
    items = []
    for i in range(80):
        confidence = 0.95 if i % 2 == 0 else 0.55
        items.append({"content": {"text": f"doc {i}", "label": "ok", "confidence": confidence}})
    client.post(
        "/api/v1/workflows/budget/items/batch",
        json={"items": items},
        headers=keys.auth(keys.service),
    )
    processing.process_batch(ctx, "w", processing.ProviderCache(ctx), 100)
    reviewer = keys.auth(keys.reviewer)
    while (claimed := client.post("/api/v1/reviews/claim", headers=reviewer)).status_code == 200:
        task = claimed.json()
        confidence = task["item"]["prediction"]["confidence"]
        wrong = confidence < 0.9 and task["item_id"] % 4 == 0
        body = {"outcome": "approved", "labels": ["bad" if wrong else "ok"]}
        assert (
            client.post(
                f"/api/v1/tasks/{task['id']}/decision", json=body, headers=reviewer
            ).status_code
            == 200
        )
    after = client.get(
        "/api/v1/workflows/budget/calibration", headers=keys.auth(keys.auditor)
    ).json()
    assert after["reviewed"] == 80
    assert after["threshold"] == 0.95
    assert after["auto_error_upper_bound"] <= 0.1
    assert after["errors_above_threshold"] == 0
    # Taking the unsure half too would break the budget: the table shows the trade-off.
    assert any(row["n_above"] == 80 and not row["within_budget"] for row in after["table"])

    # New confident items now go straight through.
    client.post(
        "/api/v1/workflows/budget/items",
        json={"content": {"label": "ok", "confidence": 0.97}},
        headers=keys.auth(keys.service),
    )
    processing.process_batch(ctx, "w", processing.ProviderCache(ctx), 100)
    newest = client.get(
        "/api/v1/items?workflow=budget&limit=1", headers=keys.auth(keys.admin)
    ).json()
    assert newest["items"][0]["state"] == "approved"
    assert newest["items"][0]["decision"]["decided_by"] == "ai"
