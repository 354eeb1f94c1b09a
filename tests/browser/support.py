"""Helpers the browser tests share: the live server handle, signing in, screenshots."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from signoff.services.context import Context
from tests.conftest import Keys

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


class LiveServer:
    """The app served over real HTTP, with helpers to submit items and wait for them."""

    def __init__(self, ctx: Context, keys: Keys, base_url: str) -> None:
        self.ctx = ctx
        self.keys = keys
        self.url = base_url
        self.http = httpx.Client(base_url=base_url, timeout=10)

    def api(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> httpx.Response:
        headers = Keys.auth(token or self.keys.admin)
        return self.http.request(method, path, headers=headers, **kwargs)

    def submit(self, text: str, label: str = "invoice", confidence: float = 0.5,
               entities: list[dict[str, Any]] | None = None, **extra: Any) -> int:
        content = {"text": text, "label": label, "confidence": confidence,
                   "entities": entities or [], **extra}
        response = self.api("POST", "/api/v1/workflows/docs/items", json={"content": content})
        assert response.status_code == 201, response.text
        return int(response.json()["id"])

    def item(self, item_id: int) -> dict[str, Any]:
        response = self.api("GET", f"/api/v1/items/{item_id}")
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    def wait_for(self, check: Callable[[], Any], timeout: float = 15.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = check()
            if value:
                return value
            time.sleep(0.05)
        raise AssertionError("timed out waiting")

    def wait_routed(self, item_id: int) -> dict[str, Any]:
        return self.wait_for(  # type: ignore[no-any-return]
            lambda: (i := self.item(item_id))["state"] not in ("received", "processing") and i
        )


def sign_in(page: Any, email: str, password: str) -> None:
    """Sign in with the keyboard, as a person would."""
    page.goto("/ui/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.keyboard.press("Enter")
    page.wait_for_load_state()
    assert "/ui/login" not in page.url, page.content()


def screenshot(target: Any, name: str, **kwargs: Any) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    target.screenshot(path=str(SCREENSHOTS / name), **kwargs)


REVIEWER = ("reviewer@example.com", "reviewer-password-1")
ADMIN = ("admin@example.com", "admin-password-1")
AUDITOR = ("auditor@example.com", "auditor-password-1")
