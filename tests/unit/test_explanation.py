"""The built-in model's explanation: the terms that pushed a document towards its label."""

from __future__ import annotations

from signoff.ai import explanation, learner
from signoff.ui import highlight
from tests.unit.test_learner import NOISE, TOPICS, corpus


def _terms(model: learner.TrainedModel, text: str, label: str) -> list[str]:
    explainer = explanation.explainer_for(model)
    assert explainer is not None
    row = model.featurizer.transform([text])[0]
    found = explainer.explain(row, label)
    assert found["method"] == "linear_terms" and found["label"] == label
    weights = [t["weight"] for t in found["terms"]]
    assert weights == sorted(weights, reverse=True) and all(w > 0 for w in weights)
    return [t["term"] for t in found["terms"]]


def test_top_terms_of_a_three_label_model_are_the_label_topic_words_in_the_text() -> None:
    model = learner.train(*corpus(300))
    text = "please reset the password of my locked account thanks"
    terms = _terms(model, text, "security")
    assert terms, "a document full of topic words has contributing terms"
    words = set(" ".join(terms).split())
    assert words <= set(text.split())
    # The label's own topic words lead; filler words never outrank them.
    assert terms[0].split()[0] in TOPICS["security"].split() or terms[0] in TOPICS["security"]
    assert not set(terms[:2]) & set(NOISE)


def test_binary_model_explains_each_label_with_its_own_words() -> None:
    model = learner.train(*corpus(200, labels=("billing", "meeting")))
    text = "refund the invoice before the agenda meeting"
    billing = set(" ".join(_terms(model, text, "billing")).split())
    meeting = set(" ".join(_terms(model, text, "meeting")).split())
    assert {"refund", "invoice"} & billing and not {"refund", "invoice"} & meeting - billing
    assert "agenda" in meeting and "agenda" not in billing


def test_a_document_with_no_known_words_has_no_terms() -> None:
    model = learner.train(*corpus(200))
    assert _terms(model, "zzzz qqqq", "billing") == []


def test_terms_are_highlighted_outside_entities_with_phrases_before_words() -> None:
    text = "Refund due: EUR 12.00, refund the Invoice Payment now"
    segments = highlight.segments(
        text,
        [{"type": "amount", "text": "EUR 12.00"}],
        ["amount"],
        ["refund", "invoice payment", "eur"],
    )
    assert "".join(s.text for s in segments) == text
    marked = [(s.text, s.term) for s in segments if s.term]
    assert marked == [
        ("Refund", "refund"),
        ("refund", "refund"),
        ("Invoice Payment", "invoice payment"),
    ]
    # "EUR" sits inside the amount entity, which keeps its own highlight.
    assert [s.text for s in segments if s.entity] == ["EUR 12.00"]
