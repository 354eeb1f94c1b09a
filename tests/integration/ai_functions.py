"""Functions that `provider: python` workflows in the worker tests point at."""

from __future__ import annotations

from typing import Any

from signoff.ai.base import AiInput


def answer_or_misbehave(item: AiInput) -> dict[str, Any]:
    """Answer what the content asks for: a confident label, or one of many ways to fail."""
    how = item.content.get("misbehave")
    if how == "system_exit":
        raise SystemExit(3)
    if how == "keyboard_interrupt":
        raise KeyboardInterrupt
    if how == "generator_exit":
        raise GeneratorExit
    answer: dict[str, Any] = {"label": "invoice", "confidence": 0.99}
    if how == "unrecordable":
        # A mapping the engine accepts but cannot store: writing it fails mid-transaction.
        answer["confidence_method"] = {"not", "json"}
    return answer
