"""Every shell and Python example in README.md and docs/ (subfolders too) runs, as a new user would.

The test does what the README tells a newcomer: it sets up the demo in an empty
directory (`signoff demo --no-serve`, the setup half of `make demo`), serves it with
`signoff serve` as a real process, puts `.venv/bin` first on the PATH, exports KEY
and SERVER, and runs each block in order with bash or Python, keeping what a block
exports for the blocks after it as one terminal would. A block that cannot
run here says so in the markdown, with `<!-- not-run: reason -->` on the line before
it; the test reports those as skipped with their reason. Every other block must exit 0.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import live_server

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
LANGUAGES = {"sh": "bash", "bash": "bash", "python": "python"}
FENCE = re.compile(r"^```(\w*)\s*$")
NOT_RUN = re.compile(r"^<!--\s*not-run:\s*(.*?)\s*-->$")
BLOCK_TIMEOUT = 180.0


@dataclass(frozen=True)
class Block:
    path: str
    line: int
    language: str
    code: str
    not_run: str | None

    @property
    def id(self) -> str:
        return f"{self.path}:{self.line}"


def doc_blocks(root: Path = ROOT) -> list[Block]:
    """The ```sh / ```bash / ```python blocks of README.md and docs/**/*.md, in reading order.

    The generated reference pages (docs/reference/) are read too: they hold no examples
    today, and one added there is held to the same rule.
    """
    blocks: list[Block] = []
    for path in [root / "README.md", *sorted((root / "docs").rglob("*.md"))]:
        lines = path.read_text().splitlines()
        index = 0
        while index < len(lines):
            opening = FENCE.match(lines[index])
            if opening is None:
                index += 1
                continue
            end = index + 1
            while end < len(lines) and not lines[end].startswith("```"):
                end += 1
            language = opening.group(1)
            if language in LANGUAGES:
                before = next((ln for ln in reversed(lines[:index]) if ln.strip()), "")
                marker = NOT_RUN.match(before.strip())
                blocks.append(
                    Block(
                        str(path.relative_to(root)),
                        index + 1,
                        language,
                        "\n".join(lines[index + 1 : end]) + "\n",
                        marker.group(1) if marker else None,
                    )
                )
            index = end + 1
    return blocks


BLOCKS = doc_blocks()


@dataclass
class Sandbox:
    workdir: Path
    env: dict[str, str]
    log: Path


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """An empty directory with the examples, the demo set up in it and `signoff serve` running."""
    workdir = tmp_path_factory.mktemp("newcomer")
    shutil.copytree(ROOT / "examples", workdir / "examples")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIGNOFF_")}
    env.pop("PYTHONPATH", None)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["COLUMNS"] = "200"
    signoff = str(Path(sys.executable).parent / "signoff")
    setup = subprocess.run(
        [signoff, "demo", "--no-serve"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert setup.returncode == 0, setup.stdout + setup.stderr
    port = live_server.free_port()
    log = workdir / "serve.log"
    # The README exports PYTHONPATH=examples before applying keyword-review; the server
    # runs that workflow's function too, so it starts the way the README says to.
    server_env = {**env, "PYTHONPATH": "examples"}
    with log.open("wb") as output:
        server = subprocess.Popen(
            [signoff, "serve", "--port", str(port)],
            cwd=workdir,
            env=server_env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        live_server.wait_until_healthy(base, server, log)
        key = (workdir / "signoff.db.demo-key").read_text().strip()
        assert key in setup.stdout.replace("\n", "").replace("│", "").replace(" ", ""), (
            "the demo did not print the key it stored"
        )
        yield Sandbox(workdir, {**env, "KEY": key, "SERVER": base}, log)
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)


def test_the_docs_have_runnable_examples_and_say_why_others_do_not_run() -> None:
    runnable = [b for b in BLOCKS if b.not_run is None]
    assert len(runnable) >= 5, [b.id for b in BLOCKS]
    unexplained = [b.id for b in BLOCKS if b.not_run is not None and not b.not_run]
    assert not unexplained, f"not-run blocks need a reason: {unexplained}"


@pytest.mark.parametrize("block", BLOCKS, ids=[b.id for b in BLOCKS])
def test_example_runs(block: Block, sandbox: Sandbox) -> None:
    if block.not_run is not None:
        pytest.skip(f"not-run: {block.not_run}")
    exported = sandbox.workdir / "exported.env"
    if LANGUAGES[block.language] == "bash":
        # What the block exports stays for the next blocks, as in one terminal.
        code = f'{block.code}\nenv -0 > "{exported}"\n'
        command = ["bash", "-e", "-o", "pipefail", "-c", code]
    else:
        script = sandbox.workdir / f"example_{block.line}.py"
        script.write_text(block.code)
        command = [sys.executable, str(script)]
    exported.unlink(missing_ok=True)
    result = subprocess.run(
        command,
        cwd=sandbox.workdir,
        env=sandbox.env,
        capture_output=True,
        text=True,
        timeout=BLOCK_TIMEOUT,
    )
    assert result.returncode == 0, (
        f"{block.id} exited {result.returncode}\n--- code\n{block.code}"
        f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
        f"\n--- server log\n{sandbox.log.read_text()[-4000:]}"
    )
    if exported.is_file():
        pairs = (entry.partition("=") for entry in exported.read_text().split("\0") if entry)
        sandbox.env = {name: value for name, _, value in pairs if not name.startswith("BASH_")}
