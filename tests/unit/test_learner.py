"""The built-in learner: training, calibration figures, persistence, refusals."""

from __future__ import annotations

import importlib.util
import json
import random

import numpy as np
import pytest

from signoff.ai import learner
from signoff.domain import errors
from signoff.domain.workflow import WorkflowSpec

TOPICS = {
    "billing": "invoice payment amount due refund charge receipt",
    "security": "password login reset account locked phishing token",
    "meeting": "calendar agenda tomorrow room schedule minutes invite",
}
NOISE = ["the", "a", "please", "thanks", "hello", "regards", "team", "note", "update", "quick"]


def corpus(n: int, labels: tuple[str, ...] = ("billing", "security", "meeting"), seed: int = 0):
    """Short synthetic messages whose topic words give the label away (mostly)."""
    rng = random.Random(seed)
    texts, ys = [], []
    for i in range(n):
        label = labels[i % len(labels)]
        words = rng.sample(TOPICS[label].split(), 3) + rng.sample(NOISE, 4)
        if rng.random() < 0.1:  # some messages mention another topic too
            other = rng.choice([lab for lab in labels if lab != label])
            words += rng.sample(TOPICS[other].split(), 2)
        rng.shuffle(words)
        texts.append(" ".join(words))
        ys.append(label)
    return texts, ys


def test_expected_calibration_error_is_zero_when_confidence_matches_accuracy() -> None:
    confidences = [0.8] * 10
    correct = [True] * 8 + [False] * 2
    assert learner.expected_calibration_error(confidences, correct) == pytest.approx(0.0)


def test_expected_calibration_error_is_the_share_weighted_gap_per_bin() -> None:
    # Bin of 1.0 with half right (gap 0.5) and bin of 0.55 all right (gap 0.45).
    confidences = [1.0, 1.0, 0.55, 0.55]
    correct = [True, False, True, True]
    assert learner.expected_calibration_error(confidences, correct, bins=10) == pytest.approx(
        0.5 * 0.5 + 0.5 * 0.45
    )


def test_training_refuses_a_single_label() -> None:
    with pytest.raises(errors.NotEnoughData):
        learner.train(["a b", "c d", "e f", "g h"], ["x", "x", "x", "x"])


def test_training_refuses_too_few_examples() -> None:
    with pytest.raises(errors.NotEnoughData):
        learner.train(["invoice due", "password reset"], ["billing", "security"])


def test_training_refuses_texts_without_words() -> None:
    with pytest.raises(errors.NotEnoughData, match="no words"):
        learner.train(["", " ", "!", "?"], ["x", "y", "x", "y"])


def test_three_labels_are_learned_with_cross_validated_figures() -> None:
    texts, labels = corpus(150)
    model = learner.train(texts, labels)
    assert model.labels == ("billing", "meeting", "security")
    assert model.method == "sigmoid"
    assert model.calibration_folds == 5
    assert model.n_train == 150
    assert model.label_counts == {"billing": 50, "meeting": 50, "security": 50}
    assert model.evaluated_by == "5-fold cross-validation"
    assert model.n_evaluated == 150
    assert model.accuracy is not None and model.accuracy >= 0.9
    assert model.ece is not None and 0.0 <= model.ece < 0.2
    assert model.training_seconds > 0
    probabilities = model.predict_proba(["refund for the invoice amount", "reset my password"])
    assert max(probabilities[0], key=probabilities[0].get) == "billing"  # type: ignore[arg-type]
    assert max(probabilities[1], key=probabilities[1].get) == "security"  # type: ignore[arg-type]
    assert all(sum(p.values()) == pytest.approx(1.0) for p in probabilities)


def test_two_labels_are_learned() -> None:
    texts, labels = corpus(60, labels=("billing", "meeting"))
    model = learner.train(texts, labels)
    assert model.labels == ("billing", "meeting")
    (p,) = model.predict_proba(["agenda for the meeting room tomorrow"])
    assert p["meeting"] > 0.5


def test_a_label_seen_once_falls_back_to_uncalibrated_probabilities() -> None:
    texts, labels = corpus(30, labels=("billing", "meeting"))
    model = learner.train([*texts, "password reset token"], [*labels, "security"])
    assert model.method == "uncalibrated"
    assert not model.calibrated
    assert set(model.labels) == {"billing", "meeting", "security"}
    assert model.accuracy is not None


def test_a_class_with_few_members_gets_as_many_calibration_folds_as_it_allows() -> None:
    texts, labels = corpus(40, labels=("billing", "meeting"))
    extra, _ = corpus(3, labels=("security",))
    model = learner.train([*texts, *extra], [*labels, "security", "security", "security"])
    assert model.method == "sigmoid"
    assert model.calibration_folds == 3


def test_a_thousand_labels_switch_to_isotonic_calibration_and_a_holdout() -> None:
    texts, labels = corpus(1000)
    model = learner.train(texts, labels)
    assert model.method == "isotonic"
    assert model.evaluated_by == "holdout 20%"
    assert model.n_evaluated == 200
    assert model.accuracy is not None and model.accuracy >= 0.9


def test_a_model_read_back_from_bytes_predicts_the_same() -> None:
    texts, labels = corpus(90)
    model = learner.train(texts, labels)
    again = learner.TrainedModel.from_bytes(model.to_bytes())
    sample = ["invoice payment", "agenda room", "login phishing", "hello"]
    assert np.allclose(model.predict_matrix(sample), again.predict_matrix(sample))
    assert again.version == model.version
    assert again.metrics == model.metrics


def test_bytes_that_are_not_a_model_are_refused() -> None:
    with pytest.raises(errors.ProviderError):
        learner.TrainedModel.from_bytes(b"not a model")
    with pytest.raises(errors.ProviderError):
        learner.TrainedModel.from_bytes(b"signoff-learner/1\n" + b"garbage")


def test_metrics_are_json_ready() -> None:
    texts, labels = corpus(60)
    metrics = learner.train(texts, labels).metrics
    assert json.loads(json.dumps(metrics))["n_train"] == 60
    assert set(metrics) >= {"accuracy", "ece", "method", "label_counts", "training_seconds"}


def test_same_data_and_seed_give_the_same_probabilities() -> None:
    texts, labels = corpus(90)
    a, b = learner.train(texts, labels, seed=3), learner.train(texts, labels, seed=3)
    assert np.allclose(a.predict_matrix(texts[:10]), b.predict_matrix(texts[:10]))


def test_predicting_nothing_returns_nothing() -> None:
    texts, labels = corpus(30)
    model = learner.train(texts, labels)
    assert model.predict_proba([]) == []


def test_embeddings_need_an_existing_local_model_directory(tmp_path) -> None:
    texts, labels = corpus(30)
    with pytest.raises(errors.ConfigError, match="not a local model directory"):
        learner.train(texts, labels, embeddings_model_path=str(tmp_path / "missing"))


@pytest.mark.skipif(
    importlib.util.find_spec("sentence_transformers") is not None,
    reason="sentence-transformers is installed here",
)
def test_embeddings_without_sentence_transformers_say_what_to_install(tmp_path) -> None:
    texts, labels = corpus(30)
    spec = WorkflowSpec(
        name="mail",
        labels=["billing", "security", "meeting"],
        ai={"options": {"embeddings_model_path": str(tmp_path)}},  # type: ignore[arg-type]
    )
    with pytest.raises(errors.ConfigError, match=r"pip install 'signoff\[embeddings\]'"):
        learner.train_for_workflow(spec, texts, labels)
