"""`signoff … --help` of every command names values, not types, and describes every option."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from signoff import cli

TYPE_TAG = re.compile(r"<(bool|str|int|float|path|datetime)>")


def _commands(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from _commands(sub, (*path, name))


COMMANDS = list(_commands(typer.main.get_command(cli.app)))


def test_every_command_is_covered() -> None:
    names = {" ".join(path) for path, _ in COMMANDS}
    assert {"serve", "worker", "demo", "workflows apply", "users add", "eval"} <= names


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS], ids=lambda p: " ".join(p) or "signoff")
def test_help_shows_no_type_tags_and_describes_every_option(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli.app, [*path, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert not TYPE_TAG.findall(result.output), result.output
    command = dict(COMMANDS)[path]
    undescribed = [
        param.name
        for param in command.params
        if param.param_type_name == "option" and not (param.help or "").strip()
    ]
    assert not undescribed, f"signoff {' '.join(path)}: options without help: {undescribed}"
    for param in command.params:
        if param.param_type_name == "option" and param.help:
            assert " ".join(param.help.split())[:30] in " ".join(result.output.split())


def test_serve_and_demo_show_where_host_and_port_default_from() -> None:
    for name in ("serve", "demo"):
        # Wrapping undone, the table's borders too: what is said, not how it is laid out.
        text = CliRunner().invoke(cli.app, [name, "--help"]).output.replace("│", " ")
        output = " ".join(text.split())
        assert "--host" in output and "--port" in output
        assert "SIGNOFF_HOST, else 127.0.0.1" in output
        assert "SIGNOFF_PORT, else 8000" in output
