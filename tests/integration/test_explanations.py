"""Why the AI said so: the built-in model's terms and an LLM's rationale, stored with the
prediction, returned by GET item and shown (escaped) on the item page."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from signoff.services import intake, processing, training
from signoff.services import workflows as workflow_service
from signoff.services.context import Context
from signoff.testing.fake_chat import FakeChatServer
from tests.conftest import Keys
from tests.unit.test_learner import corpus

BUILTIN = {
    "name": "topics",
    "labels": ["billing", "security", "meeting"],
    "ai": {"provider": "builtin"},
    "routing": {"threshold": 0.99},
    "training": {"min_labels": 20},
}
HOSTILE = '<script>alert("x")</script> the word "refund" & the total'


def _sign_in(client: TestClient) -> None:
    page = client.get("/ui/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token
    signed_in = client.post(
        "/ui/login",
        data={"email": "admin@example.com", "password": "admin-password-1", "csrf_token": token[1]},
    )
    assert signed_in.status_code == 200


def _process(ctx: Context) -> None:
    providers = processing.ProviderCache(ctx)
    while processing.process_batch(ctx, "w", providers, 10):
        pass


def test_builtin_prediction_names_its_top_terms_and_the_item_page_highlights_them(
    ctx: Context, client: TestClient, keys: Keys
) -> None:
    workflow_service.apply_workflow(ctx, BUILTIN, "test")
    texts, labels = corpus(240)
    training.import_labels(ctx, "topics", zip(texts, labels, strict=True))
    training.train_workflow(ctx, "topics")
    text = "Please reset my password, the account is locked. Thanks, the team"
    submitted = intake.submit_item(ctx, "topics", intake.NewItem(content={"text": text}), "t")
    _process(ctx)

    item = client.get(f"/api/v1/items/{submitted.item_id}", headers=keys.auth(keys.admin)).json()
    prediction = item["prediction"]
    assert prediction["label"] == "security"
    why = prediction["explanation"]
    assert why["method"] == "linear_terms" and why["label"] == "security"
    terms = [t["term"] for t in why["terms"]]
    assert terms and {"password", "locked"} & set(" ".join(terms).split())
    assert all(t["weight"] > 0 for t in why["terms"])
    # The explanation is for people: the confidence is the calibrated probability.
    assert prediction["confidence"] == pytest.approx(prediction["scores"]["security"])

    _sign_in(client)
    html = client.get(f"/ui/items/{submitted.item_id}").text
    document = re.search(r'<div class="doc-text" id="doc-text">(.*?)</div>', html, re.S)
    assert document
    highlighted = re.findall(
        r'<mark class="term"[^>]*data-term="([^"]+)">([^<]+)</mark>', document[1]
    )
    assert highlighted and {term for term, _ in highlighted} <= set(terms)
    assert all(shown.lower() == term for term, shown in highlighted)
    assert 'id="why-terms"' in html


@pytest.fixture
def fake() -> Iterator[FakeChatServer]:
    with FakeChatServer() as server:
        yield server


def _llm_workflow(ctx: Context, fake: FakeChatServer, rationale: bool) -> None:
    workflow_service.apply_workflow(
        ctx,
        {
            "name": "llm",
            "labels": ["invoice", "contract"],
            "ai": {
                "provider": "openai",
                "retries": 0,
                "options": {
                    "model": "test-model",
                    "base_url": fake.base_url,
                    "timeout_seconds": 5,
                    "confidence": "logprobs",
                    "rationale": rationale,
                },
            },
            "routing": {"threshold": 0.9},
        },
        "test",
    )


def test_llm_rationale_is_asked_for_stored_escaped_and_never_the_confidence(
    ctx: Context, client: TestClient, keys: Keys, fake: FakeChatServer
) -> None:
    _llm_workflow(ctx, fake, rationale=True)
    rationale = 'It says "Invoice no. 17" <b>and</b> a total <script>alert(1)</script>'
    # The model claims certainty in words; the logprobs say 0.6.
    fake.answer("invoice", label_prob=0.6, extra={"rationale": rationale, "confidence": 1.0})
    submitted = intake.submit_item(ctx, "llm", intake.NewItem(content={"text": HOSTILE}), "t")
    _process(ctx)

    sent = fake.requests[-1].body
    schema = sent["response_format"]["json_schema"]["schema"]
    assert list(schema["properties"])[0] == "label" and "rationale" in schema["required"]
    assert "rationale" in sent["messages"][0]["content"]

    item = client.get(f"/api/v1/items/{submitted.item_id}", headers=keys.auth(keys.admin)).json()
    assert item["prediction"]["explanation"] == {"rationale": rationale}
    assert item["prediction"]["confidence"] == pytest.approx(0.6, abs=0.01)
    assert item["state"] == "in_review"  # 0.6 < 0.9, whatever the rationale claims

    _sign_in(client)
    html = client.get(f"/ui/items/{submitted.item_id}").text
    shown = re.search(
        r'<blockquote class="rationale" id="ai-rationale">(.*?)</blockquote>', html, re.S
    )
    assert shown
    assert "<script>" not in shown[1] and "&lt;script&gt;alert(1)&lt;/script&gt;" in shown[1]
    assert "<script>alert" not in html


def test_without_the_option_no_rationale_is_requested_or_kept(
    ctx: Context, client: TestClient, keys: Keys, fake: FakeChatServer
) -> None:
    _llm_workflow(ctx, fake, rationale=False)
    fake.answer("invoice", label_prob=0.95, extra={"rationale": "volunteered"})
    submitted = intake.submit_item(ctx, "llm", intake.NewItem(content={"text": "Invoice"}), "t")
    _process(ctx)
    sent = fake.requests[-1].body
    assert "rationale" not in sent["response_format"]["json_schema"]["schema"]["properties"]
    item = client.get(f"/api/v1/items/{submitted.item_id}", headers=keys.auth(keys.admin)).json()
    assert item["prediction"]["explanation"] is None
