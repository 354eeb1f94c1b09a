"""SignoffDecisionTrigger: long-polls signoff in the triggerer until a decision or deadline."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
from airflow.triggers.base import BaseTrigger, TriggerEvent

from signoff import client as signoff_client
from signoff.integrations.airflow import hooks

log = logging.getLogger(__name__)

#: Pause after the server could not be reached even with the client's retries.
UNREACHABLE_PAUSE_SECONDS = 5.0


class SignoffDecisionTrigger(BaseTrigger):
    """Fires once with `{"status": "decided" | "timeout" | "error", "item": {...}}`."""

    def __init__(
        self,
        *,
        item_id: int,
        signoff_conn_id: str = hooks.DEFAULT_CONN_ID,
        deadline: str | None = None,
        poll_interval: float = 30.0,
    ) -> None:
        super().__init__()
        self.item_id = item_id
        self.signoff_conn_id = signoff_conn_id
        #: ISO 8601 UTC time after which the default applies; None waits for ever.
        self.deadline = deadline
        self.poll_interval = poll_interval

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "item_id": self.item_id,
                "signoff_conn_id": self.signoff_conn_id,
                "deadline": self.deadline,
                "poll_interval": self.poll_interval,
            },
        )

    def _remaining(self) -> float | None:
        if self.deadline is None:
            return None
        return (datetime.fromisoformat(self.deadline) - datetime.now(UTC)).total_seconds()

    async def run(self) -> AsyncIterator[TriggerEvent]:
        hook = hooks.SignoffHook(self.signoff_conn_id)
        async with await hook.get_async_client() as client:
            while True:
                remaining = self._remaining()
                try:
                    if remaining is not None and remaining <= 0:
                        item = await client.get(self.item_id)
                        status = "decided" if item.settled else "timeout"
                        yield TriggerEvent({"status": status, "item": _dump(item)})
                        return
                    seconds = self.poll_interval if remaining is None else remaining
                    waited = await client.wait(
                        self.item_id, timeout=min(self.poll_interval, seconds)
                    )
                except signoff_client.ApiError as error:
                    if error.retryable:
                        await asyncio.sleep(UNREACHABLE_PAUSE_SECONDS)
                        continue
                    yield TriggerEvent({"status": "error", "error": str(error), "item": None})
                    return
                except httpx.TransportError as error:
                    # The client already retried; a long wait outlives a server restart.
                    log.warning(
                        "action=signoff_unreachable item_id=%s error=%s", self.item_id, error
                    )
                    await asyncio.sleep(UNREACHABLE_PAUSE_SECONDS)
                    continue
                if not waited.timed_out:
                    yield TriggerEvent({"status": "decided", "item": _dump(waited)})
                    return


def _dump(item: signoff_client.models.ItemPublic) -> dict[str, Any]:
    body = item.model_dump(mode="json")
    body.pop("timed_out", None)
    return body
