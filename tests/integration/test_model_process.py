"""Scoring in a separate process gives exactly the predictions of scoring in process."""

from __future__ import annotations

import os
import signal

import pytest

from signoff.ai import base as ai
from signoff.ai import model_process
from signoff.demo import documents
from signoff.services import training
from signoff.services import workflows as workflow_service
from signoff.services.context import Context

WORKFLOW = {
    "name": "docs-ml",
    "labels": ["invoice", "contract", "receipt", "other"],
    "ai": {"provider": "builtin"},
    "routing": {"threshold": 0.6},
}


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_scoring_process_predicts_what_the_model_predicts_in_process(ctx: Context) -> None:
    view, _ = workflow_service.apply_workflow(ctx, WORKFLOW, "test")
    training.import_labels(ctx, "docs-ml", list(documents.generate(150, seed=1)))
    training.train_workflow(ctx, "docs-ml")
    inputs = [
        ai.AiInput(i, text, {"text": text})
        for i, (text, _) in enumerate(documents.generate(20, seed=5))
    ]
    store = training.ModelStore(ctx)
    in_process = ai.create_provider(view.spec, ai.ProviderContext(ctx.secret, store, ctx.settings))
    scoring = ctx.settings.model_copy(
        update={"worker": ctx.settings.worker.model_copy(update={"model_process": True})}
    )
    separate = ai.create_provider(view.spec, ai.ProviderContext(ctx.secret, store, scoring))
    assert isinstance(getattr(separate, "_scorer", None), model_process.ModelProcess)
    try:
        expected = in_process.predict_batch(inputs)  # type: ignore[attr-defined]
        got = separate.predict_batch(inputs)  # type: ignore[attr-defined]
        # After a retrain the new version is sent along once and used from then on.
        training.train_workflow(ctx, "docs-ml")
        separate._checked_at = None  # type: ignore[attr-defined]
        again = separate.predict_batch(inputs)  # type: ignore[attr-defined]
    finally:
        separate._scorer.close()  # type: ignore[attr-defined]
    assert [p.label for p in got] == [p.label for p in expected]
    assert [p.confidence for p in got] == pytest.approx([p.confidence for p in expected])
    assert {p.model_version for p in again} != {p.model_version for p in got}


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_killed_scoring_process_is_replaced_and_gets_the_model_again(ctx: Context) -> None:
    view, _ = workflow_service.apply_workflow(ctx, WORKFLOW, "test")
    training.import_labels(ctx, "docs-ml", list(documents.generate(150, seed=1)))
    training.train_workflow(ctx, "docs-ml")
    stored = training.ModelStore(ctx).load_active_model("docs-ml")
    assert stored is not None
    version, artifact = stored
    texts = [text for text, _ in documents.generate(10, seed=5)]
    scorer = model_process.ModelProcess()
    try:
        first = scorer.predict_matrix(version, artifact, texts)
        victim = scorer._process
        assert victim is not None and victim.pid is not None
        os.kill(victim.pid, signal.SIGKILL)
        victim.join(timeout=10)
        again = scorer.predict_matrix(version, artifact, texts)
        assert scorer._process is not victim
    finally:
        scorer.close()
    assert again == pytest.approx(first)
