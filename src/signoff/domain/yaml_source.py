"""Load workflow YAML/JSON text within fixed bounds: size, depth, aliases, expanded size.

YAML anchors and aliases are allowed (they keep a workflow file short), but at
most `max_aliases` alias uses per document, and the document as aliases expand
it must stay within the node limit: a few hundred bytes cannot become megabytes.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import yaml

from signoff.domain import errors, limits


@dataclass(frozen=True)
class SourceLimits:
    """The bounds on a workflow's source text and on what it parses into."""

    max_bytes: int = 256 * 1024
    max_aliases: int = 32
    structure: limits.StructureLimits = limits.StructureLimits(
        max_depth=16, max_nodes=20_000, max_string_chars=64 * 1024
    )


DEFAULT_LIMITS = SourceLimits()


class _TooComplex(yaml.YAMLError):
    pass


class _BoundedLoader(yaml.SafeLoader):
    """A SafeLoader that counts alias uses and nesting depth while composing nodes."""

    def __init__(self, stream: str, bounds: SourceLimits) -> None:
        super().__init__(stream)
        self._bounds = bounds
        self._aliases = 0
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > self._bounds.max_aliases:
                raise _TooComplex(
                    f"more than {self._bounds.max_aliases} YAML aliases (*name) in one document"
                )
            return super().compose_node(parent, index)
        self._depth += 1
        try:
            if self._depth > self._bounds.structure.max_depth + 1:
                raise _TooComplex(f"nested deeper than {self._bounds.structure.max_depth} levels")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


# YAML 1.2 booleans: only true and false. Under YAML 1.1 rules `on:` (a notify rule's
# events) was the boolean True and `no`/`off` were False, which no workflow author means.
_BoundedLoader.yaml_implicit_resolvers = {
    first: [r for r in resolvers if r[0] != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_BoundedLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def load_source(text: str, bounds: SourceLimits = DEFAULT_LIMITS) -> Any:
    """Parse YAML or JSON text into plain data, or raise InvalidWorkflow naming the bound."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > bounds.max_bytes:
        raise errors.InvalidWorkflow(
            f"the workflow source is {size} bytes; the limit is {bounds.max_bytes}",
            field="(source)",
            limit="max_bytes",
        )
    data = _load_json(text)
    if data is _NOT_JSON:
        data = _load_yaml(text, bounds)
    check_data(data, bounds)
    try:
        # A `\ud800`-style escape decodes to a lone surrogate, which no UTF-8 answer carries.
        json.dumps(data, ensure_ascii=False, default=str).encode("utf-8")
    except UnicodeEncodeError:
        raise errors.InvalidWorkflow(
            "the workflow holds a lone UTF-16 surrogate (\\ud800-\\udfff); "
            "send the character itself",
            field="(source)",
        ) from None
    return data


_NOT_JSON = object()


def _load_json(text: str) -> Any:
    """JSON is read as JSON: YAML reads its `\\u` surrogate-pair escapes differently."""
    if not text.lstrip().startswith("{"):
        return _NOT_JSON
    try:
        return json.loads(text)
    except ValueError:  # YAML flow mappings look like JSON too
        return _NOT_JSON
    except RecursionError:
        raise errors.InvalidWorkflow(
            "the workflow is too complex: nested too deep", field="(source)"
        ) from None


def _load_yaml(text: str, bounds: SourceLimits) -> Any:
    try:
        loader = _BoundedLoader(text, bounds)
    except yaml.YAMLError as exc:  # the reader refuses control characters up front
        raise errors.InvalidWorkflow(
            f"the workflow is not valid YAML/JSON: {exc}", field="(source)"
        ) from None
    try:
        return loader.get_single_data()
    except _TooComplex as exc:
        raise errors.InvalidWorkflow(
            f"the workflow is too complex: {exc}", field="(source)"
        ) from None
    except yaml.YAMLError as exc:
        raise errors.InvalidWorkflow(
            f"the workflow is not valid YAML/JSON: {exc}", field="(source)"
        ) from None
    except (ValueError, TypeError, AttributeError, OverflowError) as exc:
        # PyYAML's constructors raise these on values they cannot build: an integer
        # of thousands of digits, a date like 2001-13-45, a malformed !!timestamp.
        raise errors.InvalidWorkflow(
            f"the workflow is not valid YAML/JSON: a value cannot be read ({exc})",
            field="(source)",
        ) from None
    finally:
        loader.dispose()


def check_data(data: Any, bounds: SourceLimits = DEFAULT_LIMITS) -> None:
    """Refuse a parsed workflow whose expanded structure breaks the bounds."""
    try:
        limits.check_structure(data, "", bounds.structure)
    except errors.ValidationFailed as exc:
        field = exc.context.get("field") or "(root)"
        raise errors.InvalidWorkflow(
            f"invalid workflow: {exc.detail}",
            field=field,
            problems=[{"field": field, "message": exc.detail}],
        ) from None
