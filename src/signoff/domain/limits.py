"""Bounds on user-supplied structures: depth, node count, finite numbers, valid Unicode.

Everything signoff stores must also be readable, serialisable as JSON and cheap
to walk. These checks run before anything is stored, and name the path at fault.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from signoff.domain import errors


@dataclass(frozen=True)
class StructureLimits:
    """How deep and how large a JSON-like structure may be."""

    max_depth: int = 32
    max_nodes: int = 10_000
    max_string_chars: int = 1_000_000


def _path(parent: str, key: object) -> str:
    # Dotted like pydantic's error locations (`entities.0.patterns`), so both read alike.
    return f"{parent}.{key}" if parent else str(key)


def check_text(value: str, field: str) -> None:
    """Refuse text that cannot be stored on every database: lone surrogates, NUL characters."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise errors.ValidationFailed(
            f"{field}: the text is not valid Unicode (lone surrogate at character {exc.start})",
            field=field,
        ) from None
    if "\x00" in value:
        # PostgreSQL's text and JSON types cannot hold U+0000; SQLite can, so refuse it
        # everywhere rather than let the same item fail on one database only.
        raise errors.ValidationFailed(
            f"{field}: NUL characters (\\u0000) cannot be stored", field=field
        )


def check_structure(value: Any, field: str, limits: StructureLimits) -> int:
    """Walk `value` as JSON would expand it; return its node count or raise ValidationFailed.

    Shared references (YAML aliases) are counted every time they appear, so an
    alias bomb is refused as soon as its expansion passes the node limit.
    """
    nodes = 0
    # An explicit stack: a structure too deep for recursion must still get a clear error.
    stack: list[tuple[Any, str, int]] = [(value, field, 0)]
    while stack:
        current, path, depth = stack.pop()
        nodes += 1
        if nodes > limits.max_nodes:
            raise errors.ValidationFailed(
                f"{field or '(root)'}: more than {limits.max_nodes} keys and elements in total",
                field=field,
                limit="max_nodes",
            )
        if depth > limits.max_depth:
            raise errors.ValidationFailed(
                f"{path}: nested deeper than {limits.max_depth} levels",
                field=field,
                limit="max_depth",
            )
        if isinstance(current, str):
            check_text(current, path)
            if len(current) > limits.max_string_chars:
                raise errors.ValidationFailed(
                    f"{path}: a string longer than {limits.max_string_chars} characters",
                    field=path,
                    limit="max_string_chars",
                )
        elif isinstance(current, bool) or current is None or isinstance(current, int):
            continue
        elif isinstance(current, float):
            if not math.isfinite(current):
                raise errors.ValidationFailed(
                    f"{path}: numbers must be finite (no NaN or infinity)", field=path
                )
        elif isinstance(current, dict):
            for key, child in current.items():
                if not isinstance(key, str):
                    raise errors.ValidationFailed(
                        f"{path}: keys must be strings, got {type(key).__name__}", field=path
                    )
                check_text(key, _path(path, "(key)"))
                stack.append((child, _path(path, key), depth + 1))
        elif isinstance(current, list | tuple):
            for index, child in enumerate(current):
                stack.append((child, _path(path, index), depth + 1))
    return nodes
