"""Split a document into plain, entity and model-term segments (the template escapes them)."""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

TONES = 6
# The built-in model's tokens (scikit-learn's default token pattern, lower-cased):
# a term it names is found again in the text by the same rule.
_TOKEN = re.compile(r"(?u)\b\w\w+\b")


@dataclass(frozen=True)
class Segment:
    """A run of document text; `entity` names its entity type, if it is one."""

    text: str
    entity: str | None = None
    tone: int = 0
    term: str | None = None


def _span(text: str, entity: dict[str, Any]) -> tuple[int, int] | None:
    start, end, value = entity.get("start"), entity.get("end"), entity.get("text")
    if (
        isinstance(start, int)
        and isinstance(end, int)
        and 0 <= start < end <= len(text)
        and (not isinstance(value, str) or text[start:end] == value)
    ):
        return start, end
    if isinstance(value, str) and value:
        found = text.find(value)
        if found >= 0:
            return found, found + len(value)
    return None


def segments(
    text: str,
    entities: Sequence[dict[str, Any]],
    types: Sequence[str] = (),
    terms: Collection[str] = (),
) -> list[Segment]:
    """Non-overlapping segments covering `text`; entities without a findable span are skipped.

    Outside entities, occurrences of the model's `terms` (words or two-word phrases)
    become term segments.
    """
    spans: list[tuple[int, int, str]] = []
    for entity in entities:
        if not isinstance(entity, dict):
            continue
        found = _span(text, entity)
        if found is not None:
            spans.append((found[0], found[1], str(entity.get("type") or "entity")))
    spans.sort(key=lambda s: (s[0], -(s[1] - s[0])))
    out: list[Segment] = []
    cursor = 0
    for start, end, kind in spans:
        if start < cursor:
            continue  # overlaps an earlier, longer span
        if start > cursor:
            out.extend(_plain(text[cursor:start], terms))
        out.append(Segment(text[start:end], kind, tone_of(kind, types)))
        cursor = end
    if cursor < len(text):
        out.extend(_plain(text[cursor:], terms))
    return out


def term_spans(text: str, terms: Collection[str]) -> list[tuple[int, int, str]]:
    """Where the model's unigram and bigram terms occur in `text`, as (start, end, term)."""
    wanted = {t.lower() for t in terms}
    if not wanted:
        return []
    tokens = [(m.start(), m.end(), m.group().lower()) for m in _TOKEN.finditer(text)]
    spans: list[tuple[int, int, str]] = []
    cursor = 0
    for i, (start, end, word) in enumerate(tokens):
        if start < cursor:
            continue
        if i + 1 < len(tokens) and f"{word} {tokens[i + 1][2]}" in wanted:
            # A phrase wins over its first word: it is the more specific evidence.
            spans.append((start, tokens[i + 1][1], f"{word} {tokens[i + 1][2]}"))
            cursor = tokens[i + 1][1]
        elif word in wanted:
            spans.append((start, end, word))
            cursor = end
    return spans


def _plain(text: str, terms: Collection[str]) -> list[Segment]:
    out: list[Segment] = []
    cursor = 0
    for start, end, term in term_spans(text, terms):
        if start > cursor:
            out.append(Segment(text[cursor:start]))
        out.append(Segment(text[start:end], term=term))
        cursor = end
    if cursor < len(text) or not out:
        out.append(Segment(text[cursor:]))
    return out


def tone_of(kind: str, types: Sequence[str]) -> int:
    """The colour index the legend and the highlights share for an entity type."""
    order = {name: i for i, name in enumerate(types)}
    return order.get(kind, len(order) + sum(map(ord, kind))) % TONES
