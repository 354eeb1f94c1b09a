"""An LLM endpoint in storms: 429 with Retry-After, 500, hangs and malformed JSON.

A real OpenAI-compatible server on 127.0.0.1 (signoff.testing.fake_chat) answers the
`openai` provider of a live `signoff serve`; storms of each failure come between runs
of good answers. Items the model could not answer go to people (`ai_error`); nothing
is lost, nothing is decided twice, no 500 is served.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from signoff.storage import tables as t
from signoff.testing.fake_chat import FakeChatServer
from tests.faults import flows, invariants
from tests.faults import stack as stacks
from tests.faults import traffic as wire

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

ITEMS = 24


def _workflow(base_url: str, webhook_url: str) -> str:
    return (
        "name: faults\n"
        "labels: [invoice, other]\n"
        "ai:\n"
        "  provider: openai\n"
        "  retries: 2\n"
        "  backoff_seconds: 0.05\n"
        "  options:\n"
        "    model: fake-model\n"
        f"    base_url: '{base_url}'\n"
        "    api_key_env: SIGNOFF_CREDENTIAL_FAKE_LLM\n"
        "    confidence: logprobs\n"
        "    timeout_seconds: 1\n"
        "    rate_limit_wait_seconds: 2\n"
        "    circuit_failures: 8\n"
        "    circuit_cooldown_seconds: 1\n"
        "routing: {threshold: 0.85}\n"
        "review: {outcomes: [approved, rejected]}\n"
        f"delivery: {{webhook_url: '{webhook_url}'}}\n"
    )


def _storms(fake: FakeChatServer) -> None:
    """Three rounds of every failure, each followed by a few good answers."""
    for _ in range(3):
        fake.rate_limit(retry_after=1, times=4)
        fake.answer("invoice", label_prob=0.95, times=2)
        fake.server_error(500, times=4)
        fake.answer("invoice", label_prob=0.95, times=2)
        fake.hang(3, times=2)  # longer than the provider's 1 s timeout
        fake.malformed(times=4)
        fake.answer("invoice", label_prob=0.95, times=2)
    fake.answer("invoice", label_prob=0.95, always=True)


def test_llm_storms_send_items_to_people_and_break_no_invariant(
    stack: stacks.Stack, receiver: wire.Receiver
) -> None:
    with FakeChatServer() as fake:
        _storms(fake)
        stack.deploy.env.update(
            {
                "SIGNOFF_CREDENTIAL_FAKE_LLM": "sk-fake-key",
                "SIGNOFF_WORKER__BATCH_SIZE": "4",
                "SIGNOFF_WORKER__RETRAIN": "false",
            }
        )
        stack.prepare(_workflow(fake.base_url, receiver.url))
        stack.serve(workers=True)
        app, reviewer = stack.app(), stack.reviewer()
        for n in range(ITEMS):
            response = app.post(
                "/api/v1/workflows/faults/items",
                json={"content": {"text": f"invoice number {n}"}},
                headers={"Idempotency-Key": f"storm-{n}"},
            )
            assert response.status_code == 201, response.text
        flows.review_until_settled(stack, reviewer, ITEMS, alive=("serve",))
        assert len(fake.requests) >= ITEMS

    invariants.assert_holds(stack.url, stack.traffic, receiver, secret_key=stacks.SECRET_KEY)
    engine = sa.create_engine(stack.url)
    try:
        with engine.connect() as conn:
            routes = [
                (r.route, r.route_reasons or [])
                for r in conn.execute(sa.select(t.items.c.route, t.items.c.route_reasons))
            ]
    finally:
        engine.dispose()
    reasons = [" ".join(map(str, rs)) for _, rs in routes]
    # The storms reached the engine: some items waited for a person, some the model decided.
    assert any("ai_error" in r for r in reasons), routes
    assert any(route == "auto" for route, _ in routes), routes
