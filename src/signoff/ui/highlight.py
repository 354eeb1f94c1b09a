"""Split a document into plain and entity segments for highlighting (the template escapes them)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

TONES = 6


@dataclass(frozen=True)
class Segment:
    """A run of document text; `entity` names its entity type, if it is one."""

    text: str
    entity: str | None = None
    tone: int = 0


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
    text: str, entities: Sequence[dict[str, Any]], types: Sequence[str] = ()
) -> list[Segment]:
    """Non-overlapping segments covering `text`; entities without a findable span are skipped."""
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
            out.append(Segment(text[cursor:start]))
        out.append(Segment(text[start:end], kind, tone_of(kind, types)))
        cursor = end
    if cursor < len(text):
        out.append(Segment(text[cursor:]))
    return out


def tone_of(kind: str, types: Sequence[str]) -> int:
    """The colour index the legend and the highlights share for an entity type."""
    order = {name: i for i, name in enumerate(types)}
    return order.get(kind, len(order) + sum(map(ord, kind))) % TONES
