"""No key, password or secret of a whole session ever reaches a log, even at DEBUG.

An operator configures `signoff serve` (a real process on SQLite, `SIGNOFF_LOG_LEVEL=DEBUG`)
with a secret key, a webhook secret and a provider credential, and uses the CLI to
add a reviewer, create API keys and apply a workflow whose `openai` provider calls a
real fake LLM server on 127.0.0.1 and whose decisions go to a real webhook receiver.
An application submits items with its key; a reviewer decides through the API with a
personal key and signs in to the web UI; a bad key and a wrong password are tried too,
the operator makes a few mistakes at the CLI, one LLM call is refused (401) and one
webhook delivery fails once and is retried. Then every line the server and the CLI wrote is searched for every secret of the
session, as sent and URL-encoded. The one line `signoff keys create` prints the new
key on, by design, is the only line left out.
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import httpx
import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from signoff.testing.fake_chat import FakeChatServer
from tests import live_server, webhook_server

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

PATIENCE = 120.0  # fail when what we wait for has not happened after this long
ITEMS = 4
REVIEWER = "reviewer@example.com"
CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Receiver:
    """A webhook endpoint that keeps every payload whose signature verifies, and counts the rest."""

    secret: str
    url: str = ""
    failures: int = 1  # answer 500 this many times first, so a delivery is retried
    verified: list[dict[str, Any]] = field(default_factory=list)
    unverified: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, body: bytes, headers: dict[str, str]) -> int:
        try:
            payload = Webhook(self.secret).verify(body, headers)
        except WebhookVerificationError:
            with self.lock:
                self.unverified += 1
            return 401
        with self.lock:
            self.verified.append(payload)
            if self.failures > 0:
                self.failures -= 1
                return 500
        return 200


@pytest.fixture
def receiver(webhook_secret: str) -> Iterator[Receiver]:
    state = Receiver(secret=webhook_secret)
    with webhook_server.serving(state.handle) as url:
        state.url = url
        yield state


@pytest.fixture
def webhook_secret() -> str:
    # Standard Webhooks form: base64 with `+`, `/` and `=`, so URL-encoding changes it.
    return "whsec_" + base64.b64encode(b"\xfb\xff" + secrets.token_bytes(30)).decode()


@pytest.fixture
def fake_llm() -> Iterator[FakeChatServer]:
    with FakeChatServer() as fake:
        fake.answer("invoice", label_prob=0.99)  # the first item is decided by the AI
        fake.server_error(401)  # one call is refused with the credential in flight
        fake.answer("invoice", label_prob=0.5, always=True)  # the others go to the reviewer
        yield fake


@dataclass
class Session:
    """The operator's environment, every secret it used and every log it produced."""

    workdir: Path
    env: dict[str, str]
    secrets: dict[str, str] = field(default_factory=dict)
    logs: dict[str, str] = field(default_factory=dict)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def keep(self, what: str, value: str) -> str:
        assert value, f"{what} is empty"
        self.secrets[what] = value
        return value

    def cli(
        self,
        *args: str,
        stdin: str | None = None,
        token: bool = False,
        expect: int = 0,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run `signoff ARGS` to completion and keep its output as a log; fail on another exit code.

        With `token`, the command prints a new API key on a line of its own by design:
        that one line is kept out of the log, and the key among the secrets.
        """
        result = subprocess.run(
            [_signoff(), *args],
            env={**self.env, **(env or {})},
            cwd=self.workdir,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=PATIENCE,
        )
        assert result.returncode == expect, (
            f"signoff {' '.join(args)} exited {result.returncode}\n"
            f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        )
        stdout = result.stdout
        if token:
            printed = _token_line(stdout)
            self.keep(f"API key of signoff {' '.join(args)}", printed)
            stdout = stdout.replace(printed + "\n", "", 1)
        run = f"signoff {' '.join(args)} (run {len(self.logs) // 2 + 1})"
        self.logs[f"{run} stdout"] = stdout
        self.logs[f"{run} stderr"] = result.stderr
        return result

    def create_key(self, name: str, *args: str) -> str:
        """`signoff keys create NAME ARGS`: the new key."""
        return _token_line(self.cli("keys", "create", name, *args, token=True).stdout)

    def start_server(self, port: int) -> tuple[subprocess.Popen[bytes], Path, Path]:
        stdout, stderr = self.workdir / "serve.out", self.workdir / "serve.err"
        with stdout.open("wb") as out, stderr.open("wb") as err:
            process = subprocess.Popen(
                [_signoff(), "serve", "--port", str(port)],
                env=self.env,
                cwd=self.workdir,
                stdout=out,
                stderr=err,
            )
        self.processes.append(process)
        return process, stdout, stderr

    def close(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def _token_line(stdout: str) -> str:
    """The one line of `signoff keys create` output that is the new key."""
    printed = [line for line in stdout.splitlines() if line.startswith("sk_")]
    assert len(printed) == 1, stdout
    return printed[0]


def _signoff() -> str:
    return str(Path(sys.executable).parent / "signoff")


@pytest.fixture
def session(tmp_path: Path, webhook_secret: str) -> Iterator[Session]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIGNOFF_")}
    ops = Session(tmp_path, env)
    env.update(
        {
            "SIGNOFF_DATABASE_URL": f"sqlite:///{tmp_path / 'signoff.db'}",
            "SIGNOFF_ENVIRONMENT": "production",
            "SIGNOFF_LOG_LEVEL": "DEBUG",
            "SIGNOFF_SECRET_KEY": ops.keep("secret key", secrets.token_urlsafe(48)),
            "SIGNOFF_DELIVERY__WEBHOOK_SECRET": ops.keep("webhook secret", webhook_secret),
            "SIGNOFF_DELIVERY__BASE_BACKOFF_SECONDS": "0.2",
            "SIGNOFF_OUTBOUND__ALLOW": "127.0.0.1",
            "SIGNOFF_CREDENTIAL_MODEL_TOKEN": ops.keep(
                "provider credential", "sk-" + secrets.token_urlsafe(32)
            ),
            "SIGNOFF_WORKER__POLL_SECONDS": "0.1",
            "COLUMNS": "200",
        }
    )
    try:
        yield ops
    finally:
        ops.close()


def _wait_until(predicate: Callable[[], Any], what: str, server: subprocess.Popen[bytes]) -> Any:
    deadline = time.monotonic() + PATIENCE
    while time.monotonic() < deadline:
        assert server.poll() is None, f"signoff serve exited {server.returncode} waiting for {what}"
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"no sign of {what} after {PATIENCE:.0f}s")


def _session_cookie_secrets(cookie: str) -> dict[str, str]:
    """The server-side session token and CSRF token carried inside the signed session cookie."""
    data = cookie.split(".", 1)[0]
    content = json.loads(base64.b64decode(data + "=" * (-len(data) % 4)))
    return {"session token": content["sid"], "CSRF token": content["csrf"]}


def _forms_of(value: str) -> set[str]:
    """The secret as sent and in the forms a URL or a form body would carry it."""
    return {value, quote(value, safe=""), quote_plus(value)}


def test_no_key_password_or_secret_of_a_whole_session_appears_in_any_log(
    session: Session, fake_llm: FakeChatServer, receiver: Receiver
) -> None:
    ops = session
    password = ops.keep("reviewer password", "Pw+" + secrets.token_urlsafe(18) + "/=&")
    wrong_password = ops.keep("wrong password", "Wrong+" + secrets.token_urlsafe(18))
    bad_key = ops.keep("bad API key", "sk_" + secrets.token_urlsafe(32))

    # The operator sets up with the CLI.
    ops.cli("db", "upgrade")
    ops.cli("users", "add", REVIEWER, "--role", "reviewer", "--password-stdin", stdin=password)
    app_key = ops.create_key("app")
    reviewer_key = ops.create_key("reviewer-key", "--user", REVIEWER)
    workflow = f"""
name: invoices
labels: [invoice, contract, other]
ai:
  provider: openai
  retries: 0
  options:
    model: test-model
    base_url: "{fake_llm.base_url}"
    api_key_env: SIGNOFF_CREDENTIAL_MODEL_TOKEN
    confidence: logprobs
routing: {{threshold: 0.85}}
review: {{outcomes: [approved, rejected]}}
delivery: {{webhook_url: "{receiver.url}"}}
"""
    (ops.workdir / "invoices.yaml").write_text(workflow)
    assert "version 1" in ops.cli("workflows", "apply", "invoices.yaml").stdout
    ops.cli("keys", "list")
    # Operator mistakes end in a message, and the message holds no secret either.
    short = ops.keep("refused password", "x+" + secrets.token_urlsafe(6))
    refused_user = ops.cli(
        "users", "add", "new@example.com", "--password-stdin", stdin=short, expect=1
    )
    assert "at least 12 characters" in refused_user.stderr, refused_user.stderr
    (ops.workdir / "nosy.yaml").write_text(
        workflow.replace("name: invoices", "name: nosy").replace(
            "SIGNOFF_CREDENTIAL_MODEL_TOKEN", "SIGNOFF_SECRET_KEY"
        )
    )
    nosy = ops.cli("workflows", "apply", "nosy.yaml", expect=1)
    assert "ai.options.api_key_env" in nosy.stderr, nosy.stderr
    bad_setting = ops.cli("keys", "list", expect=2, env={"SIGNOFF_WORKER__CONCURRENCY": "lots"})
    assert "SIGNOFF_WORKER__CONCURRENCY" in bad_setting.stderr, bad_setting.stderr

    port = live_server.free_port()
    server, server_out, server_err = ops.start_server(port)
    base = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        try:
            return httpx.get(f"{base}/readyz", timeout=5).status_code == 200
        except httpx.TransportError:
            return False

    _wait_until(ready, "a ready server", server)

    with (
        httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {app_key}"}, timeout=60
        ) as app,
        httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {reviewer_key}"}, timeout=60
        ) as reviewer,
        httpx.Client(base_url=base, timeout=60) as browser,
    ):
        # A bad key is refused, and so is the query string form some clients use.
        refused = httpx.get(
            f"{base}/api/v1/items", headers={"Authorization": f"Bearer {bad_key}"}, timeout=30
        )
        assert refused.status_code == 401, refused.text
        assert httpx.get(f"{base}/api/v1/items", params={"api_key": bad_key}).status_code == 401

        # The application submits, lists and waits.
        submitted = []
        for n in range(ITEMS):
            response = app.post(
                "/api/v1/workflows/invoices/items",
                json={"content": {"text": f"invoice number {n}"}, "external_id": f"inv-{n}"},
            )
            assert response.status_code == 201, response.text
            submitted.append(response.json()["id"])
        listed = app.get("/api/v1/items", params={"workflow": "invoices"})
        assert listed.status_code == 200, listed.text
        assert {i["id"] for i in listed.json()["items"]} == set(submitted)

        # The reviewer decides every task through the API with a personal key.
        decided: set[int] = set()

        def review_one() -> bool:
            claim = reviewer.post("/api/v1/reviews/claim")
            if claim.status_code == 204:
                states = [app.get(f"/api/v1/items/{i}").json()["state"] for i in submitted]
                return all(s in ("approved", "rejected") for s in states)
            assert claim.status_code == 200, claim.text
            task = claim.json()
            decision = reviewer.post(
                f"/api/v1/tasks/{task['id']}/decision",
                json={"outcome": "approved", "label": "invoice", "comment": "checked"},
            )
            assert decision.status_code == 200, decision.text
            decided.add(task["item_id"])
            return False

        _wait_until(review_one, "every item decided", server)
        assert len(decided) == ITEMS - 1, decided
        for item_id in submitted:
            waited = app.get(f"/api/v1/items/{item_id}/wait", params={"timeout": 10})
            assert waited.status_code == 200, waited.text
            assert waited.json()["state"] == "approved", waited.json()

        # The reviewer signs in to the web UI: a wrong password first, then the right one.
        page = browser.get("/ui/login")
        assert page.status_code == 200, page.text
        [csrf] = CSRF_INPUT.findall(page.text)
        wrong = browser.post(
            "/ui/login", data={"email": REVIEWER, "password": wrong_password, "csrf_token": csrf}
        )
        assert wrong.status_code == 401, wrong.text
        signed_in = browser.post(
            "/ui/login", data={"email": REVIEWER, "password": password, "csrf_token": csrf}
        )
        assert signed_in.status_code == 303, signed_in.text
        cookie = ops.keep("session cookie", browser.cookies["signoff_session"])
        for what, value in _session_cookie_secrets(cookie).items():
            ops.keep(what, value)
        queue = browser.get("/ui/queue")
        assert queue.status_code == 200, queue.text
        item_page = browser.get(f"/ui/items/{submitted[0]}")
        assert item_page.status_code == 200, item_page.text
        assert "invoice number" in item_page.text
        [csrf_now] = set(CSRF_INPUT.findall(item_page.text))
        signed_out = browser.post("/ui/logout", data={"csrf_token": csrf_now})
        assert signed_out.status_code == 303, signed_out.text
        assert browser.get("/ui/queue").status_code == 303  # back to the sign-in page

        # Every decision reached the receiver, signed with the webhook secret.
        def delivered() -> bool:
            with receiver.lock:
                return {p["data"]["item_id"] for p in receiver.verified} >= set(submitted)

        _wait_until(delivered, "signed webhooks for every item", server)
        assert receiver.unverified == 0
    assert receiver.failures == 0, "no delivery was retried"

    # The provider credential was really sent to the LLM server.
    credential = ops.secrets["provider credential"]
    assert fake_llm.requests, "the LLM server was never called"
    assert all(r.headers.get("authorization") == f"Bearer {credential}" for r in fake_llm.requests)

    ops.cli("audit", "verify")
    ops.close()
    ops.logs["signoff serve stdout"] = server_out.read_text(errors="replace")
    ops.logs["signoff serve stderr"] = server_err.read_text(errors="replace")
    assert " DEBUG " in ops.logs["signoff serve stderr"], "the server logged no DEBUG line"

    lines = [(name, line) for name, text in ops.logs.items() for line in text.splitlines()]
    leaks = [
        f"{what} in {name}: {line}"
        for what, value in ops.secrets.items()
        for form in _forms_of(value)
        for name, line in lines
        if form in line
    ]
    assert not leaks, f"{len(leaks)} secret(s) in {len(lines)} log lines:\n" + "\n".join(leaks)
    print(f"{len(lines)} log lines scanned for {len(ops.secrets)} secrets: none found")
