"""Every answer says how long the server spent on it (`Server-Timing: app;dur=<ms>`)."""

from __future__ import annotations

import time
from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import Keys


def _duration(response: Any) -> float:
    name, _, duration = response.headers["server-timing"].partition(";dur=")
    assert name == "app"
    return float(duration)


def test_a_claim_and_an_error_answer_say_the_server_time_within_the_round_trip(
    app: Any, keys: Keys
) -> None:
    with TestClient(app) as client:
        started = time.perf_counter()
        claim = client.post("/api/v1/reviews/claim", headers=keys.auth(keys.reviewer))
        round_trip = (time.perf_counter() - started) * 1000
        assert claim.status_code == 204, claim.text  # nothing waiting: still timed
        assert 0 < _duration(claim) <= round_trip
        missing = client.get("/api/v1/items/999999", headers=keys.auth(keys.admin))
        assert missing.status_code == 404 and _duration(missing) > 0
        assert _duration(client.get("/healthz")) >= 0
