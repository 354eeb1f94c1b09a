"""An example `provider: python` classifier: keywords in, label and confidence out."""

from __future__ import annotations

from typing import Any

KEYWORDS = {
    "invoice": ("invoice", "amount due", "payment due", "vat"),
    "contract": ("agreement", "contract", "party", "terminate"),
    "receipt": ("receipt", "total paid", "thank you for your visit"),
}


def classify(item: Any) -> dict[str, Any]:
    """Score each label by keyword hits; the share of hits is the confidence."""
    text = item.text.lower()
    hits = {label: sum(word in text for word in words) for label, words in KEYWORDS.items()}
    total = sum(hits.values())
    if total == 0:
        return {"label": "other", "confidence": 0.6}
    label = max(hits, key=lambda k: hits[k])
    return {"label": label, "confidence": round(hits[label] / total, 3)}
