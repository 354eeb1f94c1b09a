"""API key scopes and which workflows a caller may see: pure rules, no I/O."""

from __future__ import annotations

from enum import StrEnum


class Scope(StrEnum):
    """What a service key (one without a user) may do; personal keys act with the user's role."""

    ITEMS = "items"  # submit, read, list, wait for, cancel items and read their audit trail
    WORKFLOWS = "workflows"  # create, change and read workflows and their calibration
    ADMIN = "admin"  # everything, reviews and metrics included

    @property
    def description(self) -> str:
        return _DESCRIPTIONS[self]


_DESCRIPTIONS = {
    Scope.ITEMS: "submit, read, wait for and cancel items; read their audit trail",
    Scope.WORKFLOWS: "create, change and read workflows and their calibration",
    Scope.ADMIN: "everything a human admin may do through the API",
}

DEFAULT_SCOPES: frozenset[Scope] = frozenset({Scope.ITEMS})
# Keys created before scopes existed were all-powerful; they keep that so no deployment breaks.
LEGACY_SCOPES: frozenset[Scope] = frozenset({Scope.ADMIN})


def parse_scopes(values: list[str] | None) -> frozenset[Scope]:
    """Scopes from their names; ValueError naming the unknown one."""
    out = set()
    for value in values or []:
        try:
            out.add(Scope(value.strip().lower()))
        except ValueError:
            known = ", ".join(s.value for s in Scope)
            raise ValueError(f"unknown scope {value!r}; choose from {known}") from None
    return frozenset(out)


def grants(scopes: frozenset[Scope], needed: Scope) -> bool:
    """Whether a key with `scopes` may do what needs `needed` (admin covers everything)."""
    return Scope.ADMIN in scopes or needed in scopes


def narrow_workflows(first: list[str] | None, second: list[str] | None) -> list[str] | None:
    """The workflows both restrictions allow (None means every workflow)."""
    if first is None:
        return None if second is None else list(second)
    if second is None:
        return list(first)
    return [w for w in first if w in second]
