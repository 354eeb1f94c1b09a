"""`signoff eval --order`: with the same review effort, a queue ordered by uncertainty
teaches the built-in model more than due order does (SpamAssassin)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import DATASETS

ROOT = Path(__file__).resolve().parents[2]
DATASET = DATASETS / "spamassassin.jsonl.gz"
LIMIT = 3000
REVIEWS_PER_BATCH = 20

pytestmark = [pytest.mark.dataset, pytest.mark.slow]


def _eval(order: str, tmp_path: Path) -> dict[str, Any]:
    output = tmp_path / f"{order}.json"
    completed = subprocess.run(
        [
            sys.executable,
            "-c",
            "from signoff.cli import main; main()",
            "eval",
            str(DATASET),
            "--workflow",
            str(ROOT / "examples" / "spam-filter.yaml"),
            "--order",
            order,
            "--reviews-per-batch",
            str(REVIEWS_PER_BATCH),
            "--limit",
            str(LIMIT),
            "--output",
            str(output),
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(output.read_text())  # type: ignore[no-any-return]


def _accuracy_after(result: dict[str, Any], first: int) -> float:
    windows = [w for w in result["learning_curve"] if w["items_from"] > first]
    sizes = [w["items_to"] - w["items_from"] + 1 for w in windows]
    hits = sum(w["model_accuracy"] * n for w, n in zip(windows, sizes, strict=True))
    return hits / sum(sizes)


@pytest.mark.skipif(not DATASET.exists(), reason="../shared/datasets is not present")
def test_uncertainty_order_learns_more_per_review_than_due_order(tmp_path: Path) -> None:
    due = _eval("due", tmp_path)
    uncertain = _eval("uncertainty", tmp_path)
    assert (due["order"], uncertain["order"]) == ("due", "uncertainty")
    assert due["reviews_per_batch"] == uncertain["reviews_per_batch"] == REVIEWS_PER_BATCH
    # The same cold start (the first window is identical), then the curves part.
    assert due["learning_curve"][0] == uncertain["learning_curve"][0]
    after_due, after_uncertain = _accuracy_after(due, 1000), _accuracy_after(uncertain, 1000)
    print(
        f"model accuracy on items 1001-{LIMIT}: due {after_due:.4f}, "
        f"uncertainty {after_uncertain:.4f}"
    )
    assert after_uncertain > after_due
