"""A trivial `provider: python` classifier, so benchmarks measure the engine, not a model."""

from __future__ import annotations

from typing import Any


def classify(item: Any) -> dict[str, Any]:
    return {"label": "invoice", "confidence": 0.99}
