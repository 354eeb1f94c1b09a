"""In-process change notifications: wake long-polls and live pages without polling hard."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

Listener = Callable[[str, dict[str, Any]], None]


class EventBus:
    """Fan-out of small change notices (`item_decided`, `task_created`, ...) in one process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listeners: list[Listener] = []
        self._version = 0
        self._changed = threading.Condition(self._lock)

    def publish(self, kind: str, data: dict[str, Any]) -> None:
        with self._lock:
            self._version += 1
            listeners = list(self._listeners)
            self._changed.notify_all()
        for listener in listeners:
            listener(kind, data)

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def wait(self, timeout: float) -> None:
        """Block this thread until something is published or `timeout` passes."""
        with self._lock:
            version = self._version
            self._changed.wait_for(lambda: self._version != version, timeout=timeout)

    async def wait_async(self, timeout: float) -> None:
        """Await the next publication (from any thread) or the timeout."""
        loop = asyncio.get_running_loop()
        fired = asyncio.Event()

        def listener(_kind: str, _data: dict[str, Any]) -> None:
            loop.call_soon_threadsafe(fired.set)

        unsubscribe = self.subscribe(listener)
        try:
            await asyncio.wait_for(fired.wait(), timeout)
        except TimeoutError:
            pass
        finally:
            unsubscribe()
