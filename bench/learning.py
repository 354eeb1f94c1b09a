"""Built-in model benchmarks: training time, prediction throughput alone and through
the engine, and the eval replay's wall time."""

from __future__ import annotations

import gzip
import json
import time
from pathlib import Path
from typing import Any

from signoff.ai import learner
from signoff.services import intake, training
from signoff.services import workflows as workflow_service
from signoff.services.context import Context, create_context
from signoff.settings import Settings
from signoff.storage import items
from signoff.workers.runner import WorkerPool

DATASET = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "spamassassin.jsonl.gz"

WORKFLOW = """
name: spam-bench
labels: [spam, ham]
ai: {provider: builtin}
routing: {threshold: 0.0}
training: {retrain_every: 1000000, min_labels: 20}
"""


def load() -> list[tuple[str, str]]:
    with gzip.open(DATASET, "rt", encoding="utf-8") as handle:
        return [(r["text"], r["label"]) for r in map(json.loads, handle)]


def training_time(rows: list[tuple[str, str]], n: int = 5000) -> dict[str, Any]:
    texts, labels = zip(*rows[:n], strict=True)
    started = time.perf_counter()
    model = learner.train(list(texts), list(labels))
    return {
        "documents": n,
        "seconds": time.perf_counter() - started,
        "accuracy": model.accuracy,
        "ece": model.ece,
        "method": model.method,
    }


def prediction_throughput(
    url: str, rows: list[tuple[str, str]], model_process: bool
) -> dict[str, Any]:
    """Docs/s of the model alone vs the same documents submitted in batches of 250 and run
    to a decision by a worker pool (2 threads), as `signoff serve` would."""
    settings = Settings(
        database_url=url,
        worker={
            "concurrency": 2,
            "batch_size": 250,
            "poll_seconds": 0.01,
            "model_process": model_process,
        },
    )
    ctx = create_context(settings)
    workflow_service.apply_workflow(ctx, WORKFLOW, "bench")
    train_rows, test_rows = rows[:3000], rows[3000:]
    training.import_labels(ctx, "spam-bench", train_rows)
    training.train_workflow(ctx, "spam-bench", actor="bench")
    stored = training.ModelStore(ctx).load_active_model("spam-bench")
    assert stored is not None
    model = learner.TrainedModel.from_bytes(stored[1])
    texts = [t for t, _ in test_rows]
    started = time.perf_counter()
    for start in range(0, len(texts), 500):
        model.predict_proba(texts[start : start + 500])
    alone = len(texts) / (time.perf_counter() - started)
    pool = WorkerPool(ctx, sender=False)
    pool.start()
    # Warm up: the first batch builds the provider (and starts the scoring process).
    warm = intake.submit_item(ctx, "spam-bench", intake.NewItem(content={"text": "hello"}), "b")
    _wait_decided(ctx, [warm.item_id])
    started = time.perf_counter()
    ids: list[int] = []
    for start in range(0, len(texts), 250):
        batch = [intake.NewItem(content={"text": t}) for t in texts[start : start + 250]]
        ids += [s.item_id for s in intake.submit_items(ctx, "spam-bench", batch, "bench")]
    _wait_decided(ctx, ids)
    engine = len(texts) / (time.perf_counter() - started)
    pool.stop()
    ctx.close()
    return {
        "documents": len(texts),
        "model_docs_per_second": alone,
        "engine_docs_per_second": engine,
        "engine_overhead": alone / engine - 1,
    }


def _wait_decided(ctx: Context, ids: list[int]) -> None:
    while True:
        with ctx.sessions() as session:
            rows = items.list_outcomes(session, ids)
        if sum(1 for r in rows if r.route is not None) == len(ids):
            return
        time.sleep(0.02)
