"""Route reasons in words: the one mapping from the codes the policy records to what people read.

The policy (`domain.routing`) records short, stable reasons (`qa_sample`,
`ai_error`, `confidence 0.71 < 0.85`); the API returns them as they are so
programs can match on them. Pages show `describe(reason)` instead.
"""

from __future__ import annotations

import re

from signoff.domain.routing import RouteReason

#: Reasons recorded verbatim, and their words.
FIXED: dict[RouteReason, str] = {
    RouteReason.QA_SAMPLE: "random quality check of a confident answer",
    RouteReason.AI_ERROR: "the AI step failed, so a person decides",
    RouteReason.LABEL_OUTSIDE_WORKFLOW: "the AI answered a label this workflow does not have",
    RouteReason.NO_CONFIDENCE_YET: "the model is still learning and gave no confidence yet",
    RouteReason.TOO_FEW_REVIEWED: (
        "too few reviewed items yet to learn a threshold, so every item is reviewed"
    ),
    RouteReason.NO_THRESHOLD: "this workflow sends every item to a person",
    RouteReason.PAUSED: "an admin paused this workflow, so every item goes to a person",
}

#: Reasons with values in them: (pattern, words with the pattern's groups).
PATTERNS = [
    (re.compile(r"confidence (\S+) < (\S+)"), "confidence {0} is below the threshold {1}"),
    (
        re.compile(r"confidence (\S+) >= (\S+)"),
        "confidence {0} is at or above the threshold {1}",
    ),
    (re.compile(r"label (.+) is always reviewed"), "label “{0}” is always reviewed by a person"),
    (
        re.compile(r"entity (.+) present"),
        "an entity of type “{0}” was found, which a person must check",
    ),
    (re.compile(r"metadata (.+) matches"), "metadata field “{0}” matches a review rule"),
]


def describe(reason: str) -> str:
    """The reason as a sentence fragment a reviewer understands (unknown ones unchanged)."""
    try:
        return FIXED[RouteReason(reason)]
    except ValueError:
        pass  # not a fixed reason: one with values in it, or unknown
    for pattern, words in PATTERNS:
        match = pattern.fullmatch(reason)
        if match:
            return words.format(*match.groups())
    return reason


def describe_all(reasons: list[str] | tuple[str, ...] | None) -> list[str]:
    return [describe(r) for r in reasons or []]
