"""`python -m signoff.docs_site [--check] [DOCS_DIR]`: write or check the generated pages."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from signoff.docs_site import error_budget_figure, rest_reference, workflow_reference

#: Each generated file, relative to the docs directory, and what renders it.
PAGES: dict[str, Callable[[], str]] = {
    "reference/workflow.md": workflow_reference.render,
    "reference/rest.md": rest_reference.render,
    "assets/error-budget.svg": error_budget_figure.render,
}


def stale(docs: Path) -> list[str]:
    """The generated files under `docs` that differ from what the code renders now."""
    return [
        name
        for name, render in PAGES.items()
        if not (docs / name).is_file() or (docs / name).read_text() != render()
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m signoff.docs_site", description=__doc__)
    parser.add_argument("docs", nargs="?", default="docs", type=Path, help="docs directory")
    parser.add_argument("--check", action="store_true", help="fail when a page is stale")
    args = parser.parse_args(argv)
    if args.check:
        outdated = stale(args.docs)
        for name in outdated:
            print(f"{args.docs / name} is stale: run python -m signoff.docs_site", file=sys.stderr)
        return 1 if outdated else 0
    for name, render in PAGES.items():
        target = args.docs / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(render())
        print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
