"""The demo's past: a model trained two weeks ago and a fortnight of reviewed documents.

The history runs through the real engine on a clock that starts 14 days ago and
moves with each batch, so the dashboard's per-day figures move too. The simulated
reviewer answers with each document's true label: where the model got an
(ambiguous) document wrong, the reviewer overrides it, and those corrections are
what the model retrains on and what the error budget counts.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from signoff import templates
from signoff.clock import FrozenClock
from signoff.demo import documents
from signoff.services import evaluation, intake, training
from signoff.services.context import Context, create_context
from signoff.settings import Settings
from signoff.templates import generate

SEED_LABELS = 120
HISTORY = 300
FRESH = 40
DAYS = 14
BATCH = 12
# More look-alike documents than the fresh ones, a third of them truly the other kind:
# the model errs on some, and the reviewer's corrections are what it learns from.
AMBIGUOUS_SHARE = 0.25
DISPUTED_SHARE = 0.35


def needs_seeding(ctx: Context, workflow_id: int) -> bool:
    """True until the demo workflow has labels (a rerun keeps the data it has)."""
    return training.count_labels(ctx, workflow_id) == 0


def _template_samples(
    template: templates.Template,
) -> tuple[list[tuple[str, str]], list[generate.Example], list[generate.Example]]:
    """Seed labels, history and fresh records of a template (its look-alikes a quarter)."""
    seed_labels = [(e.text, e.label) for e in template.examples(SEED_LABELS, 7)]
    history = template.examples(HISTORY, 11, AMBIGUOUS_SHARE)
    fresh = template.examples(FRESH, 13, AMBIGUOUS_SHARE)
    return seed_labels, history, fresh


def _document_samples() -> tuple[
    list[tuple[str, str]], list[generate.Example], list[generate.Example]
]:
    seed_labels = list(documents.generate(SEED_LABELS, seed=7, disputed_share=DISPUTED_SHARE))
    history = documents.generate(
        HISTORY, seed=11, ambiguous_share=AMBIGUOUS_SHARE, disputed_share=DISPUTED_SHARE
    )
    fresh = documents.generate(FRESH, seed=13, ambiguous_share=AMBIGUOUS_SHARE)
    return (
        seed_labels,
        [generate.Example(t, label) for t, label in history],
        [generate.Example(t, label) for t, label in fresh],
    )


def seed(
    settings: Settings,
    workflow: str,
    now: datetime | None = None,
    template: templates.Template | None = None,
) -> None:
    """Train from seed labels 14 days back, replay the history up to `now`, then queue fresh items.

    The records are the demo's documents, or `template`'s sample records.
    """
    seed_labels, history, fresh = (
        _template_samples(template)
        if template is not None and template.name != "document-review"
        else _document_samples()
    )
    now = now or datetime.now(UTC)
    start = now - timedelta(days=DAYS)
    clock = FrozenClock(start)
    past = create_context(settings, clock=clock)
    past.sync_training = True
    past.rng.seed(7)
    try:
        training.import_labels(past, workflow, seed_labels)
        training.train_workflow(past, workflow, actor="demo")
        jitter = random.Random(3)
        # Leave the last hours for the fresh items, so the history ends before them.
        step = (timedelta(days=DAYS) - timedelta(hours=6)) / (HISTORY / BATCH)

        def next_batch(_count: int) -> None:
            clock.advance(seconds=step.total_seconds() * jitter.uniform(0.5, 1.5))
            if clock.now() > now:
                clock.advance(seconds=(now - clock.now()).total_seconds())

        evaluation.replay(
            past,
            workflow,
            [(e.text, e.label) for e in history],
            batch_size=BATCH,
            progress=next_batch,
            metadata=[e.metadata for e in history],
        )
    finally:
        past.close()
    present = create_context(settings)
    try:
        new = [intake.NewItem(content={"text": e.text}, metadata=e.metadata or None) for e in fresh]
        intake.submit_items(present, workflow, new, "demo")
    finally:
        present.close()
