"""The layering rules of docs/architecture.md, checked on every module's imports."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "signoff"

# For each layer, the signoff packages it must not import (dependencies point down only).
FORBIDDEN = {
    "domain": {
        "storage",
        "services",
        "api",
        "ui",
        "workers",
        "ai",
        "notify",
        "cli",
        "web",
        "app",
        "client",
        "settings",
    },
    "storage": {"services", "api", "ui", "workers", "cli", "web", "app", "ai", "notify"},
    # The outbound guard sits beside domain: ai/, notify/ and services use it.
    "outbound": {
        "storage",
        "services",
        "api",
        "ui",
        "workers",
        "cli",
        "web",
        "app",
        "ai",
        "notify",
        "settings",
    },
    "ai": {"storage", "services", "api", "ui", "workers", "cli", "web", "app"},
    "notify": {"storage", "services", "api", "ui", "workers", "cli", "web", "app"},
    "services": {"api", "ui", "workers", "cli", "web", "app"},
    # Edges reach the database through services only (no SQL, no storage rows).
    "workers": {"api", "ui", "cli", "app", "web", "storage"},
    # The two web edges share only `signoff.web`, never each other.
    "ui": {"api", "cli", "workers", "storage"},
    "api": {"ui", "cli", "workers", "storage"},
    # What a user's own tests would use (services, ai, domain), never the edges or SQL.
    "testing": {"storage", "api", "ui", "workers", "cli", "web"},
    # Orchestrator integrations reach signoff only through its HTTP client.
    "integrations": {
        "domain",
        "storage",
        "services",
        "api",
        "ui",
        "workers",
        "ai",
        "notify",
        "cli",
        "web",
        "app",
        "settings",
        "testing",
    },
    "client": {
        "domain",
        "storage",
        "services",
        "api",
        "ui",
        "workers",
        "ai",
        "notify",
        "cli",
        "web",
        "app",
        "settings",
    },
}


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("signoff."):
            found.add(node.module.split(".")[1])
            if node.module == "signoff":
                found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module == "signoff":
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("signoff."):
                    found.add(alias.name.split(".")[1])
    return found


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_only_what_lies_below_it(layer: str) -> None:
    offenders = []
    for path in sorted((SRC / layer).rglob("*.py")):
        bad = _imports(path) & FORBIDDEN[layer]
        if bad:
            offenders.append(f"{path.relative_to(SRC)} imports {sorted(bad)}")
    assert not offenders, "\n".join(offenders)


# Modules outside testing/ that may import it: explicit opt-ins only (none today; the
# `fake` provider registers through the package's entry point).
TESTING_OPT_IN: set[str] = set()


def test_nothing_in_the_package_imports_the_testing_fakes() -> None:
    offenders = [
        str(path.relative_to(SRC))
        for path in sorted(SRC.rglob("*.py"))
        if path.relative_to(SRC).parts[0] != "testing"
        and str(path.relative_to(SRC)) not in TESTING_OPT_IN
        and ("testing" in _imports(path) or "signoff.testing" in path.read_text())
    ]
    assert not offenders, f"signoff.testing imported by package code: {offenders}"


def test_only_storage_writes_sql() -> None:
    offenders = [
        str(path.relative_to(SRC))
        for layer in ("services", "api", "ui", "workers")
        for path in sorted((SRC / layer).rglob("*.py"))
        if "storage import tables" in path.read_text() or "storage.tables" in path.read_text()
    ]
    assert not offenders, f"SQL tables used outside storage/: {offenders}"
