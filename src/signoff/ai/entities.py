"""Built-in entity extraction from the regular expressions a workflow declares."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from signoff.domain import patterns
from signoff.domain.prediction import Entity
from signoff.domain.workflow import EntityType

# A pathological pattern on a long document could otherwise flood the prediction
# (and the review page) with thousands of spans.
MAX_ENTITIES = 500
# A pattern may name the part it extracts, e.g. r"invoice no\.? (?P<value>\d+)".
VALUE_GROUP = "value"


@functools.lru_cache(maxsize=1024)
def compiled(pattern: str) -> Any:
    """The pattern compiled for RE2 (linear time in the text), cached across items."""
    return patterns.compile_pattern(pattern)


def _spans(text: str, patterns: Sequence[str]) -> list[tuple[int, int]]:
    spans: set[tuple[int, int]] = set()
    for pattern in patterns:
        regex = compiled(pattern)
        group: int = regex.groupindex.get(VALUE_GROUP, 0)
        for match in regex.finditer(text):
            start, end = match.span(group)
            if end > start:  # empty matches (and an unmatched value group) carry nothing
                spans.add((start, end))
    return sorted(spans, key=lambda span: (span[0], -span[1]))


def _without_overlaps(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    # Two patterns of one type often match the same thing a little differently
    # (with and without a prefix): keep the earliest, and of those the longest.
    kept: list[tuple[int, int]] = []
    for start, end in spans:
        if kept and start < kept[-1][1]:
            continue
        kept.append((start, end))
    return kept


def extract_entities(
    text: str, entity_types: Sequence[EntityType], *, limit: int = MAX_ENTITIES
) -> tuple[Entity, ...]:
    """Every non-overlapping match of each entity type's patterns, in text order.

    Spans of one type never overlap; spans of different types may (an e-mail
    address can contain a domain).
    """
    found: list[Entity] = []
    for entity_type in entity_types:
        if not entity_type.patterns:
            continue
        for start, end in _without_overlaps(_spans(text, entity_type.patterns)):
            found.append(Entity(type=entity_type.type, text=text[start:end], start=start, end=end))
    found.sort(key=lambda e: (e.start or 0, e.end or 0, e.type))
    return tuple(found[:limit])
