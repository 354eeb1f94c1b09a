"""No dead code in the layers below the edges: every storage and service function is used.

A function of `storage/` or `services/` that nothing in the package (or its benchmarks)
names is dead weight a reader has to understand for nothing. Edges (routes, pages, CLI
commands) are registered by decorators and are not checked here.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "signoff"

# Used on purpose outside the package only, each with its reason.
USED_OUTSIDE = {
    # The one-call check of every chain the test suites run after a scenario.
    "services/audit.py:verify_all",
}


def _corpus() -> str:
    sources = [p for p in SRC.rglob("*.py") if "migrations" not in p.parts]
    sources += sorted((ROOT / "bench").rglob("*.py"))
    texts = [p.read_text() for p in sources]
    texts += [p.read_text() for p in SRC.rglob("*.html")]
    texts.append((ROOT / "pyproject.toml").read_text())
    return "\n".join(texts)


def test_every_storage_and_service_function_is_used_by_the_package() -> None:
    corpus = _corpus()
    unused = []
    for layer in ("storage", "services"):
        for path in sorted((SRC / layer).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            for node in ast.parse(path.read_text()).body:
                if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                    continue
                where = f"{path.relative_to(SRC)}:{node.name}"
                mentions = len(re.findall(rf"\b{re.escape(node.name)}\b", corpus))
                if mentions <= 1 and where not in USED_OUTSIDE:
                    unused.append(where)
    assert not unused, f"defined but never used: {unused}"
