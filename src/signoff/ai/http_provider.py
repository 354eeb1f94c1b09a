"""`provider: http`: POST each item to your own model endpoint and read back its answer.

Request body: `{"item_id", "content", "metadata", "text", "labels", "entity_types"}`.
Expected answer: `{"label", "confidence", "entities": [{"type", "text", ...}]}`; the
endpoint's confidence is trusted (it is your model), its label must be a workflow label.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from pydantic import Field

from signoff.ai import base, resilience
from signoff.ai.base import AiInput, ProviderContext
from signoff.ai.python_provider import prediction_from_mapping
from signoff.domain import errors
from signoff.domain.prediction import Prediction
from signoff.domain.workflow import WorkflowSpec
from signoff.outbound import client as outbound_client
from signoff.outbound import guard

log = logging.getLogger(__name__)


class HttpOptions(resilience.ResilienceOptions):
    """The `ai.options` of `provider: http`."""

    url: str = Field(pattern=r"^https?://\S+$")
    headers_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    header_name: str = Field(default="Authorization", pattern=r"^[A-Za-z0-9-]+$")


class HttpProvider:
    """Calls a model endpoint over HTTP; thread-safe, one instance per workflow."""

    def __init__(
        self,
        spec: WorkflowSpec,
        options: HttpOptions,
        header_value: str | None,
        policy: guard.OutboundPolicy,
    ) -> None:
        parts = urlsplit(options.url)
        # The model id shown to reviewers leaves out the query, which may carry a token.
        self.name = "http:" + urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
        self._options = options
        self._labels = list(spec.labels)
        self._entity_types = [e.type for e in spec.entities]
        self._text_field = spec.ai.text_field
        self._missing_header = options.headers_env is not None and header_value is None
        headers = {options.header_name: header_value} if header_value else {}
        self._client = outbound_client.create_client(
            policy, timeout=options.timeout_seconds, headers=headers
        )
        self._limiter = resilience.RateLimiter(
            options.requests_per_minute, max_wait=options.rate_limit_wait_seconds
        )
        self._breaker = options.circuit_breaker(self.name)

    def predict(self, item: AiInput) -> Prediction:
        """Classify one item; raises ProviderError(retryable=...) on any failure."""
        if self._missing_header:
            raise errors.ProviderError(
                f"{self.name}: the environment variable or secret {self._options.headers_env} "
                "is not set",
                retryable=False,
            )
        payload = {
            "item_id": item.item_id,
            "content": item.content,
            "metadata": item.metadata,
            "text": item.text or base.text_of(item.content, self._text_field),
            "labels": self._labels,
            "entity_types": self._entity_types,
        }
        self._breaker.check()
        self._limiter.acquire()
        started = time.monotonic()
        response = self._breaker.call(lambda: self._send(payload))
        log.info(
            "action=ai_call provider=%s item_id=%s status=%d elapsed_ms=%d",
            self.name,
            item.item_id,
            response.status_code,
            (time.monotonic() - started) * 1000,
        )
        try:
            data = response.json()
        except ValueError:
            raise errors.ProviderError(
                f"{self.name}: the answer is not JSON", retryable=False
            ) from None
        prediction = prediction_from_mapping(data, self.name)
        if prediction.label is not None and prediction.label not in self._labels:
            raise errors.ProviderError(
                f"{self.name}: the answer's label is not one of the workflow's labels",
                retryable=False,
            )
        kept = tuple(e for e in prediction.entities if e.type in self._entity_types)
        if len(kept) != len(prediction.entities):
            log.warning(
                "action=entities_dropped provider=%s item_id=%s count=%d",
                self.name,
                item.item_id,
                len(prediction.entities) - len(kept),
            )
        return dataclasses.replace(prediction, entities=kept, raw=data)

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def _send(self, payload: dict[str, Any]) -> httpx.Response:
        try:
            response = self._client.post(self._options.url, json=payload)
        except outbound_client.RefusedConnection as exc:
            raise errors.ProviderError(f"{self.name}: refused: {exc}", retryable=False) from None
        except httpx.TimeoutException:
            raise errors.ProviderError(
                f"{self.name}: timed out after {self._options.timeout_seconds}s", retryable=True
            ) from None
        except httpx.TransportError as exc:
            raise errors.ProviderError(
                f"{self.name}: connection failed ({type(exc).__name__})", retryable=True
            ) from None
        if 200 <= response.status_code < 300:
            return response
        try:
            body: Any = response.json()
        except ValueError:
            body = None
        error = resilience.error_for_status(response.status_code, response.headers, body, self.name)
        if response.status_code == 429 and error.retryable and error.retry_after:
            self._limiter.defer(error.retry_after)
        raise error


def _options(spec: WorkflowSpec) -> HttpOptions:
    advice = "set ai.options.headers_env to the name of an environment variable or secret"
    return resilience.parse_options(
        HttpOptions,
        spec.ai.options,
        "http",
        secret_keys={"api_key": advice, "headers": advice, "token": advice},
    )


def check(spec: WorkflowSpec, context: ProviderContext) -> None:
    """Apply-time checks: the options, the endpoint's addresses, the credential's name."""
    options = _options(spec)
    guard.check_destination(
        options.url, "ai.options.url", outbound_client.policy_from(context.settings)
    )
    if options.headers_env:
        host = guard.check_url(options.url, "ai.options.url")
        context.credential(options.headers_env, "ai.options.headers_env", host)


def create(spec: WorkflowSpec, context: ProviderContext) -> HttpProvider:
    """Build the provider from `ai.options`; an auth header comes only from env/secrets."""
    options = _options(spec)
    host = guard.check_url(options.url, "ai.options.url")
    value = (
        context.credential(options.headers_env, "ai.options.headers_env", host)
        if options.headers_env
        else None
    )
    if options.headers_env and not value:
        log.warning(
            "action=provider_unconfigured provider=http missing_secret=%s", options.headers_env
        )
    return HttpProvider(spec, options, value or None, outbound_client.policy_from(context.settings))
