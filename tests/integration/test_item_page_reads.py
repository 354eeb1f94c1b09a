"""What one item page view costs the database, and that reads never take SQLite's write lock."""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy import event

from signoff.app import create_app
from signoff.services import items as item_service
from signoff.services import processing, users
from signoff.services.context import Context, create_context
from signoff.storage import engine as storage_engine
from tests.conftest import FAKE_WORKFLOW, Keys, make_settings

UNSURE = {"text": "Invoice from Northwind", "label": "invoice", "confidence": 0.5}
#: A SELECT that reads the item row itself (its content), not just its audit head.
READS_ITEM_ROW = re.compile(r"^\s*SELECT\b.*\bitems\.content\b.*\bFROM items\b", re.I | re.S)
TOUCHES_ITEMS = re.compile(r"\b(FROM|UPDATE|INTO|JOIN)\s+items\b", re.I)


@dataclass
class Tally:
    checkouts: int = 0
    statements: list[str] = field(default_factory=list)

    @property
    def item_row_reads(self) -> int:
        return sum(1 for s in self.statements if READS_ITEM_ROW.search(s))

    @property
    def item_statements(self) -> list[str]:
        return [s for s in self.statements if TOUCHES_ITEMS.search(s)]


@contextmanager
def tally(engine: sa.Engine) -> Iterator[Tally]:
    """Count connections checked out of the pool and statements sent, while inside."""
    seen = Tally()

    def on_checkout(*_args: Any) -> None:
        seen.checkouts += 1

    def on_execute(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.statements.append(statement)

    event.listen(engine, "checkout", on_checkout)
    event.listen(engine, "before_cursor_execute", on_execute)
    try:
        yield seen
    finally:
        event.remove(engine, "checkout", on_checkout)
        event.remove(engine, "before_cursor_execute", on_execute)


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "the page has no CSRF token"
    return match.group(1)


def _item_in_review(client: TestClient, keys: Keys, ctx: Context) -> int:
    put = client.put("/api/v1/workflows/docs", content=FAKE_WORKFLOW, headers=keys.auth(keys.admin))
    assert put.status_code == 201, put.text
    response = client.post(
        "/api/v1/workflows/docs/items", json={"content": UNSURE}, headers=keys.auth(keys.admin)
    )
    assert response.status_code == 201, response.text
    processing.process_batch(ctx, "w1", processing.ProviderCache(ctx), 10)
    return int(response.json()["id"])


def test_one_item_page_view_reads_the_item_row_once_over_few_connections(
    client: TestClient, keys: Keys, ctx: Context
) -> None:
    item_id = _item_in_review(client, keys, ctx)
    token = _csrf(client.get("/ui/login").text)
    signed_in = client.post(
        "/ui/login",
        data={
            "email": "reviewer@example.com",
            "password": "reviewer-password-1",
            "csrf_token": token,
        },
    )
    assert signed_in.status_code == 200
    client.get(f"/ui/items/{item_id}")  # warm what any process caches (the parsed spec)

    with tally(ctx.engine) as seen:
        page = client.get(f"/ui/items/{item_id}")
    assert page.status_code == 200
    assert f"Item {item_id}" in page.text and 'data-event="viewed"' in page.text

    assert seen.item_row_reads == 1, seen.item_statements
    # Read the row, chain the `viewed` event onto its head: nothing else touches items.
    assert len(seen.item_statements) == 2, seen.item_statements
    # One connection for the signed-in user's session, one for the page, one for the
    # stop-switch banner every page reads fresh (a pause must show at once).
    assert seen.checkouts == 3, seen.checkouts
    # The page shows the view it just recorded, and the chain still verifies.
    assert page.text.count('data-event="viewed"') == 2
    assert 'data-verified="true"' in page.text


def test_reading_an_item_takes_no_write_lock_and_writing_does(
    client: TestClient, keys: Keys, ctx: Context
) -> None:
    item_id = _item_in_review(client, keys, ctx)
    with tally(ctx.engine) as seen:
        assert (
            client.get(f"/api/v1/items/{item_id}", headers=keys.auth(keys.admin)).status_code == 200
        )
    if ctx.settings.is_sqlite:
        begins = [s for s in seen.statements if s.startswith("BEGIN")]
        assert begins and "BEGIN IMMEDIATE" not in begins, begins
    with tally(ctx.engine) as seen, storage_engine.transaction(ctx.sessions) as session:
        session.execute(sa.text("SELECT 1"))
    if ctx.settings.is_sqlite:
        assert "BEGIN IMMEDIATE" in seen.statements


def test_a_read_succeeds_while_another_connection_holds_a_write_transaction(
    sqlite_url: str,
) -> None:
    ctx = create_context(make_settings(sqlite_url))
    try:
        keys = Keys(ctx)
        with TestClient(create_app(ctx=ctx)) as client:
            item_id = _item_in_review(client, keys, ctx)
        admin = users.authenticate_key(ctx, keys.admin)
        writer = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), isolation_level=None)
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("UPDATE items SET updated_at = updated_at WHERE id = ?", (item_id,))
        result: dict[str, Any] = {}

        def read() -> None:
            try:
                result["item"] = item_service.get_item(ctx, admin, item_id)
            except Exception as exc:  # reported below, with the writer released first
                result["error"] = exc

        reader = threading.Thread(target=read, daemon=True)
        try:
            reader.start()
            # A read that waited for the write lock would still be waiting (busy timeout 30 s).
            reader.join(10)
            finished = not reader.is_alive()
        finally:
            writer.execute("ROLLBACK")
            writer.close()
            reader.join(40)
        assert finished, "the read waited for the writer's lock"
        assert "error" not in result, result.get("error")
        assert result["item"]["id"] == item_id
    finally:
        ctx.close()
