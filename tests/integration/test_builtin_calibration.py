"""The built-in learner on real e-mail (SpamAssassin): accuracy, calibration, speed."""

from __future__ import annotations

import gzip
import json
import time
from pathlib import Path

import numpy as np
import pytest

from signoff.ai import learner
from signoff.domain import error_budget

pytestmark = pytest.mark.dataset

DATASET = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "spamassassin.jsonl.gz"
N_TRAIN = 4000


@pytest.fixture(scope="module")
def emails() -> tuple[list[str], list[str]]:
    if not DATASET.exists():
        pytest.skip(f"dataset not found: {DATASET}")
    with gzip.open(DATASET, "rt", encoding="utf-8") as lines:
        rows = [json.loads(line) for line in lines]
    return [r["text"] for r in rows], [r["label"] for r in rows]


@pytest.fixture(scope="module")
def trained(emails: tuple[list[str], list[str]]) -> learner.TrainedModel:
    texts, labels = emails
    return learner.train(texts[:N_TRAIN], labels[:N_TRAIN])


@pytest.fixture(scope="module")
def held_out(
    emails: tuple[list[str], list[str]], trained: learner.TrainedModel
) -> tuple[np.ndarray, np.ndarray, float]:
    texts, labels = emails
    started = time.perf_counter()
    proba = trained.predict_matrix(texts[N_TRAIN:])
    seconds = time.perf_counter() - started
    predicted = np.asarray(trained.labels)[proba.argmax(axis=1)]
    correct = predicted == np.asarray(labels[N_TRAIN:])
    return proba.max(axis=1), correct, seconds


def test_held_out_emails_are_classified_accurately_with_calibrated_confidence(
    trained: learner.TrainedModel, held_out: tuple[np.ndarray, np.ndarray, float]
) -> None:
    confidence, correct, seconds = held_out
    accuracy = float(correct.mean())
    ece = learner.expected_calibration_error(confidence, correct, bins=15)
    print(
        f"\nheld-out n={correct.size} accuracy={accuracy:.4f} ece={ece:.4f} "
        f"| training figures: {trained.evaluated_by} accuracy={trained.accuracy:.4f} "
        f"ece={trained.ece:.4f} method={trained.method} train_s={trained.training_seconds} "
        f"| predict {correct.size / seconds:.0f} docs/s"
    )
    assert accuracy >= 0.95
    assert ece <= 0.05
    # The figures stored on the model tell the same story as the untouched rows.
    assert trained.accuracy is not None and trained.accuracy >= 0.95
    assert trained.ece is not None and trained.ece <= 0.05


def test_error_budget_threshold_learned_on_half_holds_on_the_other_half(
    held_out: tuple[np.ndarray, np.ndarray, float],
) -> None:
    confidence, correct, _ = held_out
    half = confidence.size // 2
    observations = [
        error_budget.ReviewedObservation(float(c), bool(ok))
        for c, ok in zip(confidence[:half], correct[:half], strict=True)
    ]
    choice = error_budget.choose_threshold(
        observations, error_budget=0.02, confidence_level=0.95, min_reviewed=100
    )
    assert choice.threshold is not None
    auto = confidence[half:] >= choice.threshold
    realised = 1.0 - float(correct[half:][auto].mean())
    print(
        f"\nthreshold={choice.threshold:.4f} bound={choice.upper_bound:.4f} "
        f"coverage={auto.mean():.3f} realised auto error={realised:.4f}"
    )
    assert auto.mean() >= 0.5  # a good model earns most of the traffic
    assert realised <= 0.02


def test_training_on_five_thousand_emails_is_quick(
    emails: tuple[list[str], list[str]],
) -> None:
    texts, labels = emails
    started = time.perf_counter()
    model = learner.train(texts[:5000], labels[:5000])
    seconds = time.perf_counter() - started
    started = time.perf_counter()
    model.predict_matrix(texts[:5000])
    rate = 5000 / (time.perf_counter() - started)
    print(f"\ntrain 5000 docs: {seconds:.2f} s; predict {rate:.0f} docs/s; {model.metrics}")
    assert seconds < 20
    assert rate > 1000
