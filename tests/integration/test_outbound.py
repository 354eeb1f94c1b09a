"""What a workflow author can make signoff call and send, against real listeners on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient

from signoff.ai import base
from signoff.domain import errors
from signoff.domain.workflow import parse_workflow
from signoff.outbound import client as outbound_client
from signoff.outbound import guard
from signoff.services import delivery, intake, processing
from signoff.services import workflows as workflow_service
from signoff.services.context import Context, create_context
from signoff.settings import Settings
from signoff.storage import outbox
from signoff.testing.fake_chat import FakeChatServer
from signoff.testing.fake_endpoint import FakeModelEndpoint
from tests.conftest import Keys, make_settings


class Listener:
    """An HTTP server on 127.0.0.1 that records every request and answers as scripted."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.redirect_to: str | None = None
        lock = threading.Lock()
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                with lock:
                    listener.requests.append(
                        {"path": self.path, "headers": dict(self.headers.items()), "body": body}
                    )
                if listener.redirect_to and self.path != listener.redirect_to:
                    self.send_response(307)
                    self.send_header("location", listener.redirect_to)
                else:
                    self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def everything_received(self) -> str:
        return json.dumps(
            [{**r, "body": r["body"].decode(errors="replace")} for r in self.requests]
        )


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    yield server
    server.close()


@pytest.fixture
def settings(db_url: str) -> Settings:
    """signoff as shipped: nothing but public addresses is reachable."""
    return make_settings(db_url, outbound={"allow": ""})


def _put(client: TestClient, keys: Keys, name: str, text: str) -> Any:
    return client.put(f"/api/v1/workflows/{name}", content=text, headers=keys.auth(keys.admin))


def _http_workflow(name: str, url: str, **options: str) -> str:
    extra = "".join(f", {k}: {v}" for k, v in options.items())
    return f"""
name: {name}
labels: [ok, fraud]
ai: {{provider: http, options: {{url: "{url}"{extra}}}}}
"""


@pytest.mark.parametrize(
    ("workflow", "field"),
    [
        (
            _http_workflow("w", "https://model.example/x", headers_env="SIGNOFF_SECRET_KEY"),
            "ai.options.headers_env",
        ),
        (
            "name: w\nlabels: [ok]\nai: {provider: openai, options: {model: m, "
            'base_url: "https://llm.example/v1", api_key_env: SIGNOFF_DELIVERY__WEBHOOK_SECRET}}',
            "ai.options.api_key_env",
        ),
        (
            'name: w\nlabels: [ok]\nai: {provider: fake}\ndelivery: {webhook_url: "https://x.example/h", '
            "secret_env: SIGNOFF_SECRET_KEY}",
            "delivery.secret_env",
        ),
        (
            _http_workflow("w", "https://model.example/x", headers_env="HOME"),
            "ai.options.headers_env",
        ),
    ],
)
def test_a_workflow_naming_a_server_secret_is_refused_naming_the_field(
    client: TestClient, keys: Keys, workflow: str, field: str
) -> None:
    response = _put(client, keys, "w", workflow)
    assert response.status_code == 422, response.text
    body = response.json()
    assert (body["error"], body["field"]) == ("outbound_refused", field)
    assert body["detail"].startswith(field)
    assert client.get("/api/v1/workflows/w", headers=keys.auth(keys.admin)).status_code == 404


@pytest.mark.parametrize(
    ("ai", "field"),
    [
        ("{provider: openai, options: {model: m, api_key: sk-live-0123}}", "ai.options.api_key"),
        (
            '{provider: http, options: {url: "https://m.example", headers: {Authorization: "Bearer t"}}}',
            "ai.options.headers",
        ),
        ("{provider: python, options: {function: 'json:dumps', token: abc}}", "ai.options.token"),
    ],
)
def test_a_credential_written_into_a_workflow_is_refused_and_not_stored(
    client: TestClient, keys: Keys, ai: str, field: str
) -> None:
    response = _put(client, keys, "w", f"name: w\nlabels: [ok]\nai: {ai}\n")
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field
    assert "sk-live" not in response.text and "Bearer t" not in response.text
    assert (
        client.get("/api/v1/workflows/w/versions", headers=keys.auth(keys.admin)).status_code == 404
    )


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1:{port}/hook", "loopback"),
        ("http://localhost:{port}/hook", "loopback"),
        ("http://[::1]:{port}/hook", "loopback"),
        ("http://10.0.0.7/hook", "private"),
        ("http://169.254.169.254/latest/meta-data/", "metadata"),
        ("http://[fd00:ec2::254]/latest/", "metadata"),
        ("http://224.0.0.1/hook", "multicast"),
        ("http://0.0.0.0:{port}/hook", "unspecified"),
        ("http://user:pw@127.0.0.1:{port}/hook", "credentials in the URL"),
        ("http://127.0.0.1:{port}/hook\r\nX-Evil: 1", "control characters"),
        ("gopher://127.0.0.1:{port}/_x", "http"),
    ],
)
def test_a_webhook_url_signoff_must_not_call_is_refused_at_apply(
    client: TestClient, keys: Keys, listener: Listener, url: str, reason: str
) -> None:
    target = url.format(port=listener.port)
    text = f"name: w\nlabels: [ok]\nai: {{provider: fake}}\ndelivery: {{webhook_url: {json.dumps(target)}}}\n"
    response = _put(client, keys, "w", text)
    assert response.status_code in (422,), response.text
    body = response.json()
    # The spec's own URL check (scheme) reports its field in `problems`.
    assert body.get("field", body["problems"][0]["field"]) == "delivery.webhook_url", body
    assert reason in body["detail"]
    assert listener.requests == []


def test_a_provider_url_on_a_private_address_is_refused_at_apply(
    client: TestClient, keys: Keys
) -> None:
    with FakeModelEndpoint() as endpoint:
        response = _put(client, keys, "w", _http_workflow("w", endpoint.url))
        assert response.status_code == 422
        assert response.json()["field"] == "ai.options.url"
        openai = _put(
            client,
            keys,
            "w",
            "name: w\nlabels: [ok]\nai: {provider: openai, options: {model: m, "
            f'base_url: "http://127.0.0.1:{endpoint.port}/v1"}}}}\n',
        )
        assert openai.status_code == 422
        assert openai.json()["field"] == "ai.options.base_url"
        assert endpoint.requests == []


def _ctx(db_url: str, **outbound: str) -> Context:
    return create_context(make_settings(db_url, outbound=outbound))


def _process_one(ctx: Context, workflow: str) -> None:
    intake.submit_item(ctx, workflow, intake.NewItem(content={"text": "pay 100 EUR"}), "test")
    providers = processing.ProviderCache(ctx)
    while processing.process_batch(ctx, "w", providers, 10):
        pass


def test_an_allow_listed_credential_reaches_the_endpoint_and_no_server_secret_does(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SIGNOFF_CREDENTIAL_MODEL_TOKEN", "Bearer model-token-1")
    ctx = _ctx(db_url, allow="127.0.0.1")
    try:
        with FakeModelEndpoint() as endpoint:
            endpoint.answer("ok", 0.97, always=True)
            workflow_service.apply_workflow(
                ctx,
                _http_workflow("pay", endpoint.url, headers_env="SIGNOFF_CREDENTIAL_MODEL_TOKEN"),
                "test",
            )
            _process_one(ctx, "pay")
            (request,) = endpoint.requests
            assert request.headers["authorization"] == "Bearer model-token-1"
            seen = json.dumps([request.headers, request.body])
            assert ctx.settings.secret_key not in seen
    finally:
        ctx.close()


def test_a_host_bound_credential_is_not_sent_to_another_host(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-operator-key")
    ctx = _ctx(db_url, allow="127.0.0.1", credentials="OPENAI_API_KEY@api.openai.com")
    try:
        with FakeChatServer() as server:
            explicit = (
                "name: llm\nlabels: [ok, fraud]\nai: {provider: openai, options: {model: m, "
                f'base_url: "{server.base_url}", api_key_env: OPENAI_API_KEY}}}}\n'
            )
            with pytest.raises(guard.OutboundRefused, match="may only be sent to api.openai.com"):
                workflow_service.apply_workflow(ctx, explicit, "test")
            # Without naming it, the default key is simply not sent to a local server.
            server.answer("ok", label_prob=0.99, always=True)
            workflow_service.apply_workflow(
                ctx,
                "name: llm\nlabels: [ok, fraud]\nai: {provider: openai, options: {model: m, "
                f'base_url: "{server.base_url}"}}}}\nrouting: {{threshold: 0.5}}\n',
                "test",
            )
            _process_one(ctx, "llm")
            assert server.requests, "the provider did call the local server"
            assert all("sk-operator-key" not in json.dumps(r.headers) for r in server.requests)
    finally:
        ctx.close()


def _rebinding_dns(
    monkeypatch: pytest.MonkeyPatch, name: str, first: str = "93.184.215.14"
) -> list[str]:
    """`name` answers `first` (a public address) and 127.0.0.1 afterwards (DNS rebinding).

    No DNS server can be pointed at here, so the resolver is the one part replaced.
    """
    real = socket.getaddrinfo
    answers: list[str] = []

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host != name:
            return real(host, port, *args, **kwargs)
        address = first if not answers else "127.0.0.1"
        answers.append(address)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, int(port or 0)))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


def _hooked_item(ctx: Context, url: str) -> int:
    workflow_service.apply_workflow(
        ctx,
        "name: hooked\nlabels: [ok, fraud]\nai: {provider: fake}\nrouting: {threshold: 0.5}\n"
        f"delivery: {{webhook_url: {json.dumps(url)}}}\n",
        "test",
    )
    item_id = intake.submit_item(
        ctx, "hooked", intake.NewItem(content={"label": "ok", "confidence": 0.9}), "test"
    ).item_id
    processing.process_batch(ctx, "w", processing.ProviderCache(ctx), 10)
    return item_id


def _message(ctx: Context, item_id: int) -> Any:
    with ctx.sessions() as session:
        [row] = outbox.list_messages_for_item(session, item_id)
    return row


def test_a_name_that_rebinds_to_loopback_after_the_check_is_refused_on_connection(
    db_url: str, listener: Listener, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = _rebinding_dns(monkeypatch, "rebind.example")
    ctx = _ctx(db_url, allow="")
    try:
        item_id = _hooked_item(ctx, f"http://rebind.example:{listener.port}/hook")
        assert answers == ["93.184.215.14"]  # the apply-time check saw a public address
        assert delivery.send_due(ctx) == 1
        message = _message(ctx, item_id)
        assert message.status == "dead"
        assert "127.0.0.1" in message.last_error and "loopback" in message.last_error
        assert listener.requests == []
    finally:
        ctx.close()


def test_an_allow_listed_host_name_is_delivered_whatever_it_resolves_to(
    db_url: str, listener: Listener, monkeypatch: pytest.MonkeyPatch
) -> None:
    _rebinding_dns(monkeypatch, "rebind.example", first="127.0.0.1")
    ctx = _ctx(db_url, allow="rebind.example")
    try:
        item_id = _hooked_item(ctx, f"http://rebind.example:{listener.port}/hook")
        assert delivery.send_due(ctx) == 1
        message = _message(ctx, item_id)
        assert message.status == "sent", message.last_error
        assert [r["path"] for r in listener.requests] == ["/hook"]
    finally:
        ctx.close()


def test_a_redirect_is_not_followed(db_url: str, listener: Listener) -> None:
    listener.redirect_to = "/internal-admin"
    ctx = _ctx(db_url, allow="127.0.0.1")
    try:
        item_id = _hooked_item(ctx, f"http://127.0.0.1:{listener.port}/hook")
        delivery.send_due(ctx)
        message = _message(ctx, item_id)
        assert (message.status, message.last_error) == ("pending", "HTTP 307")
        assert [r["path"] for r in listener.requests] == ["/hook"]
    finally:
        ctx.close()


def test_the_guarded_client_refuses_loopback_unless_allowed(listener: Listener) -> None:
    url = f"http://127.0.0.1:{listener.port}/direct"
    strict = outbound_client.create_client(guard.OutboundPolicy(), timeout=5)
    with strict, pytest.raises(outbound_client.RefusedConnection, match="loopback"):
        strict.post(url, content=b"x")
    assert listener.requests == []
    allowed = guard.OutboundPolicy.parse("127.0.0.0/8")
    with outbound_client.create_client(allowed, timeout=5) as open_client:
        assert open_client.post(url, content=b"x").status_code == 200
    assert [r["path"] for r in listener.requests] == ["/direct"]


@pytest.mark.parametrize("provider", ["http", "openai"])
def test_a_provider_stored_before_the_check_is_refused_on_connection(provider: str) -> None:
    server: FakeModelEndpoint | FakeChatServer = (
        FakeModelEndpoint() if provider == "http" else FakeChatServer()
    )
    with server:
        url = server.url if isinstance(server, FakeModelEndpoint) else server.base_url
        option = "url" if provider == "http" else "base_url"
        options = {option: url} if provider == "http" else {option: url, "model": "m"}
        spec = parse_workflow(
            {"name": "w", "labels": ["ok"], "ai": {"provider": provider, "options": options}}
        )
        context = base.ProviderContext(lambda _n: None, settings=Settings(outbound={"allow": ""}))
        built = base.create_provider(spec, context)
        with pytest.raises(errors.ProviderError, match="loopback") as caught:
            built.predict(base.AiInput(item_id=1, text="x", content={"text": "x"}))
        assert caught.value.retryable is False
        assert server.requests == []


def test_the_server_secret_never_reaches_an_authors_listener(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "s3cret-" + "x" * 40
    monkeypatch.setenv("SIGNOFF_SECRET_KEY", secret)
    ctx = _ctx(db_url, allow="127.0.0.1")  # the author's listener is even reachable
    try:
        with FakeModelEndpoint() as endpoint:
            endpoint.answer("ok", always=True)
            workflow = _http_workflow("steal", endpoint.url, headers_env="SIGNOFF_SECRET_KEY")
            with pytest.raises(guard.OutboundRefused, match="signoff setting") as caught:
                workflow_service.apply_workflow(ctx, workflow, "author")
            assert caught.value.context["field"] == "ai.options.headers_env"
            # A version stored before this check cannot build a provider that sends it either.
            spec = parse_workflow(
                {
                    "name": "steal",
                    "labels": ["ok"],
                    "ai": {
                        "provider": "http",
                        "options": {"url": endpoint.url, "headers_env": "SIGNOFF_SECRET_KEY"},
                    },
                }
            )
            with pytest.raises(guard.OutboundRefused):
                base.create_provider(spec, base.ProviderContext(ctx.secret, settings=ctx.settings))
            assert endpoint.requests == []
    finally:
        ctx.close()
