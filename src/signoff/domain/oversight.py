"""Oversight that measures itself: blind review, gold items, Wilson intervals. Pure."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from statistics import NormalDist

#: Confidence level of every interval the oversight figures report.
LEVEL = 0.95
#: Prediction keys an audit event may carry that reveal what the AI said.
SUGGESTION_KEYS = frozenset(
    {
        "label",
        "labels",
        "ai_label",
        "confidence",
        "scores",
        "reasons",
        "threshold",
        "model",
        "model_version",
        "explanation",
        "override",
        "entities",
        "error",
    }
)
#: Event kinds whose `label` and `entities` are the AI's, not a person's.
AI_EVENTS = frozenset({"routed_to_review", "auto_decided"})


@dataclass(frozen=True)
class Interval:
    """A proportion k/n with its two-sided Wilson score interval."""

    k: int
    n: int
    rate: float | None
    lower: float | None
    upper: float | None
    level: float = LEVEL

    def public(self) -> dict[str, float | int | None]:
        return {
            "n": self.n,
            "k": self.k,
            "rate": None if self.rate is None else round(self.rate, 4),
            "lower": None if self.lower is None else round(self.lower, 4),
            "upper": None if self.upper is None else round(self.upper, 4),
            "level": self.level,
        }


def wilson(k: int, n: int, level: float = LEVEL) -> Interval:
    """The Wilson score interval of k successes in n trials (None bounds when n is 0)."""
    if n < 0 or k < 0 or k > n:
        raise ValueError("need 0 <= k <= n")
    if not 0 < level < 1:
        raise ValueError("level must be between 0 and 1")
    if n == 0:
        return Interval(0, 0, None, None, None, level)
    z = NormalDist().inv_cdf(0.5 + level / 2)
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # At k = 0 or k = n the bound is exactly 0 or 1; the formula leaves floating-point dust.
    lower = 0.0 if k == 0 else max(0.0, centre - half)
    upper = 1.0 if k == n else min(1.0, centre + half)
    return Interval(k, n, p, lower, upper, level)


def draw(item_id: int, purpose: str) -> float:
    """A number in [0, 1) fixed by the item id and the purpose: reproducible, auditable."""
    digest = hashlib.sha256(f"signoff:{purpose}:{item_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def is_blind(item_id: int, blind_rate: float) -> bool:
    """Whether a human-routed item is reviewed without the AI's suggestion."""
    return blind_rate > 0 and draw(item_id, "blind") < blind_rate


def gold_to_release(real_tasks: int, gold_released: int, gold_rate: float) -> int:
    """How many more gold items to put in the queue so gold is `gold_rate` of all tasks.

    With r the rate and R real tasks, gold G makes G / (G + R) = r at G = R r / (1 - r).
    """
    if gold_rate <= 0 or real_tasks <= 0:
        return 0
    if gold_rate >= 1:
        raise ValueError("gold_rate must be below 1")
    wanted = math.floor(real_tasks * gold_rate / (1 - gold_rate) + 1e-9)
    return max(0, wanted - gold_released)


def below_floor(accuracy: Interval, floor: float | None) -> bool:
    """Whether a reviewer's gold accuracy is surely under the floor (its upper bound is)."""
    return floor is not None and accuracy.upper is not None and accuracy.upper < floor


def redact_event(kind: str, data: dict[str, object]) -> dict[str, object]:
    """An audit event's data without what the AI suggested (for a blind item's reviewer)."""
    if kind in AI_EVENTS:
        return {k: v for k, v in data.items() if k not in SUGGESTION_KEYS}
    # A person's own label and entities stay; what the AI said and whether they differ go.
    hidden = SUGGESTION_KEYS - {"label", "labels", "entities", "error"}
    return {k: v for k, v in data.items() if k not in hidden}
