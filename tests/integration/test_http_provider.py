"""The http provider against a real model endpoint on 127.0.0.1."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from signoff.ai import base
from signoff.domain import errors
from signoff.domain.workflow import parse_workflow
from signoff.settings import Settings
from signoff.testing.fake_endpoint import FakeModelEndpoint

LABELS = ["ok", "fraud"]

# The test servers listen on 127.0.0.1; these are the credentials the tests name.
SETTINGS = Settings(outbound={"allow": "127.0.0.1", "credentials": "MODEL_TOKEN,K"})


@pytest.fixture
def endpoint() -> Iterator[FakeModelEndpoint]:
    with FakeModelEndpoint() as server:
        yield server


def make_provider(url: str, secrets: dict[str, str] | None = None, **options: Any) -> base.Provider:
    spec = parse_workflow(
        {
            "name": "payments",
            "labels": LABELS,
            "entities": [{"type": "iban"}],
            "ai": {"provider": "http", "options": {"url": url, "timeout_seconds": 5, **options}},
        }
    )
    return base.create_provider(
        spec, base.ProviderContext(settings=SETTINGS, secrets=(secrets or {}).get)
    )


def item(text: str = "Transfer 900 EUR to DE89 3704", item_id: int = 7) -> base.AiInput:
    return base.AiInput(
        item_id=item_id,
        text=text,
        content={"text": text, "amount": 900},
        metadata={"source": "test"},
    )


def provider_error(provider: base.Provider) -> errors.ProviderError:
    with pytest.raises(errors.ProviderError) as caught:
        provider.predict(item())
    return caught.value


def test_posts_the_item_and_returns_the_endpoints_prediction(endpoint: FakeModelEndpoint) -> None:
    endpoint.answer("fraud", 0.77, [{"type": "iban", "text": "DE89 3704", "start": 19, "end": 28}])
    prediction = make_provider(endpoint.url).predict(item())
    assert (prediction.label, prediction.confidence) == ("fraud", pytest.approx(0.77))
    assert prediction.confidence_method == "reported"
    assert prediction.model == f"http:{endpoint.url}"
    assert [(e.type, e.text, e.start) for e in prediction.entities] == [("iban", "DE89 3704", 19)]
    assert prediction.raw["label"] == "fraud"
    (request,) = endpoint.requests
    assert request.method == "POST"
    assert request.body == {
        "item_id": 7,
        "content": {"text": "Transfer 900 EUR to DE89 3704", "amount": 900},
        "metadata": {"source": "test"},
        "text": "Transfer 900 EUR to DE89 3704",
        "labels": LABELS,
        "entity_types": ["iban"],
    }
    assert "authorization" not in request.headers


def test_the_auth_header_comes_from_the_named_secret(endpoint: FakeModelEndpoint) -> None:
    provider = make_provider(
        endpoint.url, secrets={"MODEL_TOKEN": "Bearer abc"}, headers_env="MODEL_TOKEN"
    )
    provider.predict(item())
    assert endpoint.requests[0].headers["authorization"] == "Bearer abc"


def test_a_custom_header_name_carries_the_secret(endpoint: FakeModelEndpoint) -> None:
    provider = make_provider(
        endpoint.url, secrets={"K": "abc"}, headers_env="K", header_name="X-Api-Key"
    )
    provider.predict(item())
    assert endpoint.requests[0].headers["x-api-key"] == "abc"


def test_a_missing_header_secret_is_not_retryable(endpoint: FakeModelEndpoint) -> None:
    error = provider_error(make_provider(endpoint.url, headers_env="MODEL_TOKEN"))
    assert not error.retryable and "MODEL_TOKEN" in error.detail
    assert endpoint.requests == []


@pytest.mark.parametrize("option", ["api_key", "headers"])
def test_credentials_in_the_workflow_are_refused(option: str) -> None:
    with pytest.raises(errors.InvalidWorkflow) as caught:
        make_provider("http://127.0.0.1:9/x", **{option: "secret-value"})
    assert f"ai.options.{option}" in caught.value.detail
    assert "secret-value" not in caught.value.detail


def test_a_url_is_required_and_must_be_http() -> None:
    for url in (None, "ftp://host/x"):
        spec = parse_workflow(
            {"name": "p", "labels": LABELS, "ai": {"provider": "http", "options": {"url": url}}}
        )
        with pytest.raises(errors.InvalidWorkflow) as caught:
            base.create_provider(
                spec, base.ProviderContext(settings=SETTINGS, secrets=lambda _n: None)
            )
        assert "ai.options.url" in caught.value.detail


def test_a_token_in_the_url_query_stays_out_of_the_model_name(endpoint: FakeModelEndpoint) -> None:
    prediction = make_provider(endpoint.url + "?token=s3cr3t").predict(item())
    assert "s3cr3t" not in prediction.model


def test_an_abstaining_endpoint_gives_no_label(endpoint: FakeModelEndpoint) -> None:
    endpoint.answer(None, None)
    prediction = make_provider(endpoint.url).predict(item())
    assert (prediction.label, prediction.confidence) == (None, None)


def test_a_label_outside_the_workflows_labels_is_a_provider_error(
    endpoint: FakeModelEndpoint,
) -> None:
    endpoint.answer("approved", 1.0)
    error = provider_error(make_provider(endpoint.url))
    assert not error.retryable and "not one of the workflow's labels" in error.detail


def test_a_confidence_outside_zero_to_one_is_a_provider_error(endpoint: FakeModelEndpoint) -> None:
    endpoint.answer("ok", 1.7)
    assert not provider_error(make_provider(endpoint.url)).retryable


def test_an_answer_that_is_not_json_is_a_provider_error(endpoint: FakeModelEndpoint) -> None:
    endpoint.respond_raw("<html>hello</html>", content_type="text/html")
    assert "not JSON" in provider_error(make_provider(endpoint.url)).detail


def test_entities_of_unknown_types_are_dropped(endpoint: FakeModelEndpoint) -> None:
    endpoint.answer("ok", 0.9, [{"type": "ssn", "text": "1"}, {"type": "iban", "text": "DE"}])
    prediction = make_provider(endpoint.url).predict(item())
    assert [e.type for e in prediction.entities] == ["iban"]


def test_rate_limited_answer_is_retryable_with_retry_after(endpoint: FakeModelEndpoint) -> None:
    endpoint.rate_limit(retry_after=4)
    error = provider_error(make_provider(endpoint.url))
    assert error.retryable and error.retry_after == pytest.approx(4.0)


def test_exhausted_quota_is_not_retryable(endpoint: FakeModelEndpoint) -> None:
    endpoint.rate_limit(code="insufficient_quota")
    assert not provider_error(make_provider(endpoint.url)).retryable


@pytest.mark.parametrize(
    ("status", "retryable"),
    [(500, True), (502, True), (503, True), (400, False), (401, False), (403, False), (404, False)],
)
def test_http_errors_are_classified(
    endpoint: FakeModelEndpoint, status: int, retryable: bool
) -> None:
    endpoint.server_error(status)
    assert provider_error(make_provider(endpoint.url)).retryable is retryable


def test_a_hanging_endpoint_times_out_as_a_retryable_error(endpoint: FakeModelEndpoint) -> None:
    endpoint.hang(10)
    started = time.monotonic()
    error = provider_error(make_provider(endpoint.url, timeout_seconds=0.5))
    assert error.retryable and "timed out" in error.detail
    assert time.monotonic() - started < 5


def test_the_circuit_opens_after_consecutive_failures(endpoint: FakeModelEndpoint) -> None:
    endpoint.server_error(500, always=True)
    provider = make_provider(endpoint.url, circuit_failures=3, circuit_cooldown_seconds=30)
    for _ in range(3):
        assert "HTTP 500" in provider_error(provider).detail
    error = provider_error(provider)
    assert error.retryable and "circuit open" in error.detail
    assert len(endpoint.requests) == 3
