"""Compliance rules: content hashes, the purge marker, pause modes, CSV cells — pure, no I/O."""

from __future__ import annotations

import hashlib
import json
from enum import StrEnum, unique
from typing import Any

#: Canonical JSON of an item's content: sorted keys, no spaces, UTF-8 as is.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)

#: Cells a spreadsheet would read as a formula (OWASP "CSV injection").
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@unique
class PauseMode(StrEnum):
    """What a paused workflow does with new items."""

    REFUSE = "refuse"  # intake answers 503 workflow_paused
    ALL_TO_PEOPLE = "all_to_people"  # items are accepted; every one goes to review (`paused`)


#: The longest pause reason kept (it is shown in banners and stored in the audit trail).
MAX_REASON = 1000


def content_hash(content: Any) -> str:
    """sha256 (hex) of the canonical JSON of an item's content."""
    return hashlib.sha256(_CANONICAL.encode(content).encode("utf-8")).hexdigest()


def purged_marker(digest: str, purged_at: str) -> dict[str, Any]:
    """What an item's content becomes once retention purged it: a marker and the hash."""
    return {"_purged": True, "content_sha256": digest, "purged_at": purged_at}


def csv_cell(value: Any) -> str:
    """A value as a CSV cell a spreadsheet shows as text: formula starts get a `'` first."""
    if value is None:
        return ""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, (dict, list)):
        text = _CANONICAL.encode(value)
    else:
        text = str(value)
    if text.startswith(_FORMULA_STARTS):
        return "'" + text
    return text
