"""The image build, replayed where no container runtime can run.

This machine has a docker client but no daemon and can pull no base image, so
`docker build` cannot run here. The test does what the Dockerfile does, step by step,
outside a container: it lays out a build context holding exactly what the build
stage's COPY instructions copy, runs the build stage's RUN (deploy/docker/install.sh)
in a fresh virtualenv, then runs the final image's commands from that virtualenv with
the final stage's environment (its /data volume a temporary directory): `signoff
--help`, `signoff db upgrade`, the default command `signoff serve`, and the HEALTHCHECK.
What it cannot show: that the slim base image has what the install needs (it runs on
this machine's Python 3.11) and the user and file permissions inside the image.
"""

from __future__ import annotations

import os
import shlex
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests import live_server
from tests.acceptance import container_support

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

ROOT = container_support.ROOT


@dataclass
class Image:
    """The replayed image: its virtualenv and the environment its commands run with."""

    venv: Path
    data: Path
    env: dict[str, str]

    def run(self, *command: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            command, cwd=self.data, env=self.env, capture_output=True, text=True, timeout=timeout
        )


def _inside(path: str, replacements: dict[str, Path]) -> str:
    """An image path (`/opt/signoff/bin`) as the replay's own directory."""
    for image_path, local in replacements.items():
        if path == image_path or path.startswith(f"{image_path}/"):
            return str(local) + path[len(image_path) :]
    return path


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Image:
    build, final = container_support.stages()
    root = tmp_path_factory.mktemp("image")
    context, venv, data = root / "build", root / "opt-signoff", root / "data"
    (workdir,) = build.values("WORKDIR")
    paths = {workdir: context, "/opt/signoff": venv, "/data": data}
    context.mkdir()
    data.mkdir()
    # The build stage's COPY lines, from the checkout into the build context.
    for origin, sources, destination in build.copies():
        assert origin is None
        for source in sources:
            target = context / destination
            if destination.endswith("/") or len(sources) > 1:
                target = target / Path(source).name
            if (ROOT / source).is_dir():
                shutil.copytree(ROOT / source, target, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / source, target)
    # The build stage's RUN lines, with its ENV, in a clean environment: no SIGNOFF_*, no
    # project virtualenv on the PATH (only the interpreter the venv module is run with).
    base_env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SIGNOFF_", "VIRTUAL_ENV", "PYTHON"))
    }
    python_dir = root / "python-bin"
    python_dir.mkdir()
    (python_dir / "python").symlink_to(Path(sys.executable).resolve())
    base_env["PATH"] = f"{python_dir}{os.pathsep}/usr/bin:/bin"
    build_env = {**base_env, **build.env()}
    # Docker's pip downloads every wheel afresh; the replay may use this machine's cache.
    build_env.pop("PIP_NO_CACHE_DIR", None)
    for command in build.values("RUN"):
        words = [_inside(word, paths) for word in shlex.split(command)]
        result = subprocess.run(
            words, cwd=context, env=build_env, capture_output=True, text=True, timeout=1000
        )
        assert result.returncode == 0, f"RUN {command}\n{result.stdout}\n{result.stderr}"
    # The final stage's own COPY lines (from the build stage or the checkout).
    for origin, sources, destination in final.copies():
        if origin == build.name:
            assert [_inside(s, paths) for s in sources] == [str(venv)]
            assert _inside(destination, paths) == str(venv)
        else:
            for source in sources:
                shutil.copy2(ROOT / source, _inside(destination, paths))
    env = dict(base_env)
    for key, value in final.env().items():
        value = value.replace("$PATH", env["PATH"])
        env[key] = os.pathsep.join(_inside(part, paths) for part in value.split(os.pathsep))
    env["SIGNOFF_DATABASE_URL"] = f"sqlite:///{data}/signoff.db"
    return Image(venv, data, env)


def test_the_built_virtualenv_has_signoff_and_no_build_tools(image: Image) -> None:
    result = image.run("signoff", "--help")
    assert result.returncode == 0, result.stderr
    assert "serve" in result.stdout and "worker" in result.stdout
    assert shutil.which("signoff", path=image.env["PATH"]) == str(image.venv / "bin" / "signoff")
    for tool in ("pip", "pip3", "wheel"):
        assert not (image.venv / "bin" / tool).exists(), f"{tool} stayed in the image"
    # A regular install: the code lives in the virtualenv, not in a link to the source.
    located = image.run("python", "-c", "import signoff; print(signoff.__file__)")
    assert located.stdout.strip().startswith(str(image.venv)), located.stdout


def test_db_upgrade_then_the_default_command_serves_healthz_and_passes_the_healthcheck(
    image: Image,
) -> None:
    upgrade = image.run("signoff", "db", "upgrade")
    assert upgrade.returncode == 0, upgrade.stdout + upgrade.stderr
    _, final = container_support.stages()
    port = live_server.free_port()
    env = {**image.env, "SIGNOFF_PORT": str(port)}
    with _running(final.exec_form("CMD"), image, env) as (server, log):
        base = f"http://127.0.0.1:{port}"
        live_server.wait_until_healthy(base, server, log)
        assert httpx.get(f"{base}/healthz", timeout=5).json()["status"] == "ok"
        healthcheck = [
            _inside(word, {"/opt/signoff": image.venv}) for word in final.exec_form("HEALTHCHECK")
        ]
        result = subprocess.run(healthcheck, env=env, capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, result.stderr
    # Production mode with no SIGNOFF_SECRET_KEY: the key made on first start, kept private.
    key = image.data / "secret_key"
    assert key.is_file() and stat.S_IMODE(key.stat().st_mode) & 0o077 == 0
    # With the server gone, the same healthcheck reports the container unhealthy.
    down = subprocess.run(healthcheck, env=env, capture_output=True, text=True, timeout=30)
    assert down.returncode == 1


@contextmanager
def _running(
    command: list[str], image: Image, env: dict[str, str]
) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """Run `command` in the background until the block ends; yields (process, log path)."""
    log = image.data / "serve.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, cwd=image.data, env=env, stdout=output, stderr=subprocess.STDOUT
        )
    try:
        yield process, log
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
