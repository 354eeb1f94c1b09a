"""Each benchmark replaces only its own sections of docs/benchmarks.md."""

from __future__ import annotations

from pathlib import Path

from bench import sections

PAGE = """# Benchmarks

Written by `make bench` on 2026-01-01.

## Engine

| measure | value |
| --- | --- |
| auto path | 1,000 items/s |

## Read paths at scale

Written by `make bench-scale`.

```sh
## not a heading: inside fenced code
```

## Claims

old claims
"""


def test_a_section_is_replaced_in_place_and_the_others_are_kept() -> None:
    got = sections.replace_sections(PAGE, "## Claims\n\nnew claims\n")
    assert "new claims" in got and "old claims" not in got
    assert "## Read paths at scale\n\nWritten by `make bench-scale`." in got
    assert "## not a heading: inside fenced code" in got
    assert got.index("## Engine") < got.index("## Read paths") < got.index("## Claims")
    assert got.startswith("# Benchmarks\n\nWritten by `make bench` on 2026-01-01.")


def test_a_full_render_replaces_its_preamble_and_sections_but_not_another_benchs() -> None:
    update = "# Benchmarks\n\nWritten on 2026-02-02.\n\n## Engine\n\nfaster\n\n## Claims\n\nnew\n"
    got = sections.replace_sections(PAGE, update)
    assert "2026-02-02" in got and "2026-01-01" not in got
    assert "faster" in got and "1,000 items/s" not in got
    assert "Written by `make bench-scale`." in got  # the section run.py does not write


def test_a_new_section_is_appended_and_a_rerun_changes_nothing() -> None:
    once = sections.replace_sections(PAGE, "## SLA timer sweep\n\nsweeps\n")
    assert once.endswith("## SLA timer sweep\n\nsweeps\n")
    assert sections.replace_sections(once, "## SLA timer sweep\n\nsweeps\n") == once


def test_write_section_updates_a_page_on_disk(tmp_path: Path) -> None:
    page = tmp_path / "benchmarks.md"
    page.write_text(PAGE)
    sections.write_section(page, ["## Engine", "", "rewritten", ""])
    text = page.read_text()
    assert "rewritten" in text and "old claims" in text and "make bench-scale" in text
    fresh = tmp_path / "new.md"
    sections.write_section(fresh, ["## Engine", "", "first"])
    assert fresh.read_text() == "# Benchmarks\n\n## Engine\n\nfirst\n"
