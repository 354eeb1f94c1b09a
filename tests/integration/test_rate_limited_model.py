"""A model that answers 429 to everything, behind a real 127.0.0.1 chat server: once the
circuit opens, items go to people at once (`ai_error`) instead of each waiting out the
cool-down, and the server sees a bounded number of calls."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from signoff.domain.states import Role
from signoff.services import intake, processing
from signoff.services import items as item_service
from signoff.services import workflows as workflow_service
from signoff.services.context import Context
from signoff.services.users import Principal
from signoff.testing.fake_llm import FakeChatServer

ADMIN = Principal(None, None, Role.ADMIN)
CIRCUIT_FAILURES = 3


@pytest.fixture
def fake() -> Iterator[FakeChatServer]:
    with FakeChatServer() as server:
        yield server


def _workflow(ctx: Context, fake: FakeChatServer, **ai: Any) -> None:
    workflow_service.apply_workflow(
        ctx,
        {
            "name": "throttled",
            "labels": ["invoice", "contract"],
            "ai": {
                "provider": "openai",
                "retries": 3,
                "backoff_seconds": 0.01,
                **ai,
                "options": {
                    "model": "test-model",
                    "base_url": fake.base_url,
                    "api_key_env": "SIGNOFF_CREDENTIAL_FAKE_LLM_KEY",
                    "timeout_seconds": 5,
                    "confidence": "logprobs",
                    "circuit_failures": CIRCUIT_FAILURES,
                    # Longer than the test: the circuit stays open once it opens.
                    "circuit_cooldown_seconds": 3600,
                    **ai.pop("options", {}),
                },
            },
            "routing": {"threshold": 0.9},
        },
        "test",
    )


def _submit_and_process(ctx: Context, count: int) -> list[dict[str, Any]]:
    new = [intake.NewItem(content={"text": f"Invoice {i}"}) for i in range(count)]
    submitted = intake.submit_items(ctx, "throttled", new, "test")
    providers = processing.ProviderCache(ctx)
    while processing.process_batch(ctx, "w", providers, 5):
        pass
    return [item_service.get_item(ctx, ADMIN, s.item_id) for s in submitted]


def test_twenty_items_reach_people_with_ai_error_and_the_server_sees_few_calls(
    ctx: Context, fake: FakeChatServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SIGNOFF_CREDENTIAL_FAKE_LLM_KEY", "sk-test-key")
    _workflow(ctx, fake)
    fake.rate_limit(retry_after=1, always=True)

    started = time.monotonic()
    items = _submit_and_process(ctx, 20)
    elapsed = time.monotonic() - started

    assert [i["state"] for i in items] == ["in_review"] * 20
    # All twenty reach people within one item's patience (the default 30 s retry budget):
    # an open circuit fails at once instead of each item sleeping out Retry-After again.
    budget = workflow_service.get_workflow(ctx, "throttled").spec.ai.retry_budget_seconds
    assert elapsed < budget, f"{elapsed:.1f}s for 20 items"
    for item in items:
        assert item["route"]["route"] == "human"
        assert item["route"]["reasons"][0].startswith("ai_error"), item["route"]
    # The circuit opens after CIRCUIT_FAILURES calls; every later attempt fails without one.
    assert len(fake.requests) == CIRCUIT_FAILURES
    assert "circuit open" in items[-1]["prediction"]["error"]


def test_a_retry_after_longer_than_the_retry_budget_sends_the_item_to_a_person_at_once(
    ctx: Context, fake: FakeChatServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SIGNOFF_CREDENTIAL_FAKE_LLM_KEY", "sk-test-key")
    _workflow(ctx, fake, retry_budget_seconds=2, options={"circuit_failures": 100})
    fake.rate_limit(retry_after=20, always=True)

    items = _submit_and_process(ctx, 3)

    assert [i["state"] for i in items] == ["in_review"] * 3
    assert all(i["route"]["reasons"][0].startswith("ai_error") for i in items)
    # A 20 s wait does not fit a 2 s budget: no retry is slept through, and the items
    # after the first are not sent at all while the server's Retry-After holds.
    assert len(fake.requests) == 1
    assert "Retry-After" in items[-1]["prediction"]["error"]
