"""What the AI step returns and what the routing policy makes of it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from signoff.domain.states import RouteKind


@dataclass(frozen=True)
class Entity:
    type: str
    text: str
    start: int | None = None
    end: int | None = None
    confidence: float | None = None


@dataclass(frozen=True)
class Prediction:
    """The AI step's answer for one item; `confidence` is None when the model abstains."""

    label: str | None
    confidence: float | None
    model: str
    model_version: str | None = None
    entities: tuple[Entity, ...] = ()
    scores: dict[str, float] = field(default_factory=dict)
    confidence_method: str | None = None
    raw: Any = None
    error: str | None = None
    # Why the model said so: the built-in model's top terms, an LLM's rationale.
    # Shown to reviewers; never an input to the confidence or the route.
    explanation: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        # Written by hand: dataclasses.asdict deep-copies and is slow on the hot path.
        return {
            "label": self.label,
            "confidence": self.confidence,
            "model": self.model,
            "model_version": self.model_version,
            "entities": [
                {
                    "type": e.type,
                    "text": e.text,
                    "start": e.start,
                    "end": e.end,
                    "confidence": e.confidence,
                }
                for e in self.entities
            ],
            "scores": dict(self.scores),
            "confidence_method": self.confidence_method,
            "raw": self.raw,
            "error": self.error,
            "explanation": self.explanation,
        }

    @classmethod
    def failed(cls, model: str, error: str) -> Prediction:
        return cls(label=None, confidence=None, model=model, error=error)


@dataclass(frozen=True)
class Route:
    kind: RouteKind
    reasons: tuple[str, ...]
    threshold: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "route": self.kind.value,
            "reasons": list(self.reasons),
            "threshold": self.threshold,
        }
