"""Replace a benchmark's own sections of docs/benchmarks.md, keeping every other one.

A section is a level-2 heading (`## Claims`) and the lines up to the next one; the
preamble is what comes before the first. Headings inside fenced code do not count.
"""

from __future__ import annotations

from pathlib import Path

PREAMBLE = ""


def split(text: str) -> list[tuple[str, str]]:
    """(heading, section text) in order; the preamble's heading is PREAMBLE ("")."""
    sections: list[tuple[str, list[str]]] = [(PREAMBLE, [])]
    fenced = False
    for line in text.splitlines(keepends=True):
        if line.lstrip().startswith("```"):
            fenced = not fenced
        if not fenced and line.startswith("## "):
            sections.append((line.strip(), []))
        sections[-1][1].append(line)
    return [(h, "".join(lines)) for h, lines in sections if h or lines]


def _ending(text: str) -> str:
    """Section text ending in exactly one blank line, so sections stay apart."""
    return text.rstrip("\n") + "\n\n"


def replace_sections(document: str, update: str) -> str:
    """`document` with each section of `update` in place of the one with its heading.

    Sections of `update` that `document` lacks are appended in their order; sections
    of `document` that `update` does not name are kept as they were.
    """
    new = dict(split(update))
    seen: set[str] = set()
    out: list[str] = []
    for heading, text in split(document):
        if heading in new:
            text = new[heading]
            seen.add(heading)
        out.append(text)
    out += [text for heading, text in new.items() if heading not in seen]
    return "".join(_ending(t) for t in out if t.strip()).rstrip("\n") + "\n"


def write_section(path: Path, section: list[str]) -> None:
    """Replace the sections in `section` (lines, from its `## ` heading) of a page, or append."""
    existing = path.read_text() if path.exists() else "# Benchmarks\n"
    path.write_text(replace_sections(existing, "\n".join(section)))
