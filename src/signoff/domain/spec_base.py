"""What every part of a workflow spec is made of: strict models, bounds, durations."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

# Bounds every number, list and string in a workflow must respect: a value past them is
# a mistake (or an attack), and unbounded ones overflowed timers and flooded pages.
MAX_COUNT = 1_000_000
MAX_HOURS = 24 * 366
MAX_LIST = 200
MAX_TEXT = 10_000
Short = Annotated[str, Field(min_length=1, max_length=100)]

_DURATION = re.compile(r"^\s*(\d{1,7})\s*([smhdw])\s*$")
_DURATION_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
#: Bounds of `archive_after` and of `signoff items archive --older-than`.
MIN_ARCHIVE_AGE = timedelta(minutes=1)
MAX_ARCHIVE_AGE = timedelta(days=3650)
#: Names of workflows and of reviewer groups.
NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
NAME_RULE = "1 to 64 lowercase letters, digits, '_' or '-', starting with a letter or digit"
Name = Annotated[str, Field(pattern=NAME_PATTERN, max_length=64)]


class Strict(BaseModel):
    """A spec section: unknown fields refused, immutable, finite numbers only."""

    # NaN and infinity are refused everywhere: `sla_hours: .inf` used to overflow timers.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def parse_duration(text: str) -> timedelta:
    """`90s`, `15m`, `12h`, `30d`, `2w` as a timedelta; ValueError says what is accepted."""
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(
            f"{text!r} is not a duration: use a whole number and a unit s, m, h, d or w (e.g. 30d)"
        )
    return timedelta(**{_DURATION_UNITS[match.group(2)]: int(match.group(1))})


class MetadataRule(Strict):
    field: str = Field(max_length=100)
    equals: Any = None
    one_of: list[Any] | None = Field(default=None, max_length=MAX_LIST)

    def matches(self, metadata: dict[str, Any]) -> bool:
        if self.field not in metadata:
            return False
        value = metadata[self.field]
        if self.one_of is not None:
            return value in self.one_of
        return bool(value == self.equals)
