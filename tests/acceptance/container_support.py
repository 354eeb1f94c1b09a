"""The repository's Dockerfile read stage by stage, for tests that cannot run a container.

This machine has a docker client but no daemon and can pull no base image, so the
container tests check what can be checked without one: they read the Dockerfile with
`dockerfile-parse` (the instructions as Docker splits them) and replay its steps.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from dockerfile_parse import DockerfileParser

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"


@dataclass
class Stage:
    """One FROM … stage: its name and its instructions, in order."""

    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def values(self, instruction: str) -> list[str]:
        return [value for name, value in self.instructions if name == instruction]

    def env(self) -> dict[str, str]:
        """The stage's ENV, `KEY=value` pairs as Docker reads them (later ones win)."""
        names: dict[str, str] = {}
        for value in self.values("ENV"):
            for pair in shlex.split(value):
                key, _, setting = pair.partition("=")
                names[key] = setting
        return names

    def copies(self) -> list[tuple[str | None, list[str], str]]:
        """(--from stage or None, sources, destination) of each COPY."""
        result = []
        for value in self.values("COPY"):
            words = shlex.split(value)
            origin = None
            while words and words[0].startswith("--"):
                flag, _, argument = words.pop(0).partition("=")
                if flag == "--from":
                    origin = argument
            result.append((origin, words[:-1], words[-1]))
        return result

    def exec_form(self, instruction: str) -> list[str]:
        """The JSON (exec) form of the stage's last CMD, or of HEALTHCHECK's CMD."""
        value = self.values(instruction)[-1]
        if instruction == "HEALTHCHECK":
            value = value.split("CMD", 1)[1]
        return list(json.loads(value))


def stages(path: Path = DOCKERFILE) -> list[Stage]:
    """The Dockerfile's stages in order."""
    parser = DockerfileParser(str(path))
    result: list[Stage] = []
    for entry in parser.structure:
        instruction, value = entry["instruction"], entry["value"]
        if instruction == "COMMENT":
            continue
        if instruction == "FROM":
            words = value.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            result.append(Stage(words[0], name))
            continue
        result[-1].instructions.append((instruction, value))
    return result
