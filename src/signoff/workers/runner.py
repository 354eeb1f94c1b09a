"""Threads that claim and run work until told to stop."""

from __future__ import annotations

import functools
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable

from signoff.services import delivery, processing, training
from signoff.services.context import Context

log = logging.getLogger(__name__)


class WorkerPool:
    """`concurrency` AI-step threads and one outbox sender, sharing one provider cache."""

    def __init__(
        self, ctx: Context, *, concurrency: int | None = None, sender: bool = True
    ) -> None:
        self.ctx = ctx
        self.concurrency = concurrency or ctx.settings.worker.concurrency
        self.sender = sender
        self.stop_event = threading.Event()
        self.providers = processing.ProviderCache(ctx)
        self.threads: list[threading.Thread] = []
        self.name = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"

    def start(self) -> None:
        for index in range(self.concurrency):
            self._spawn(f"ai-{index}", functools.partial(self._process, f"{self.name}-{index}"))
        if self.sender:
            self._spawn("outbox", self._send)
        if self.ctx.settings.worker.retrain:
            self._spawn("retrain", self._retrain)
        log.info("action=workers_started name=%s concurrency=%s", self.name, self.concurrency)

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=f"signoff-{name}", daemon=True)
        thread.start()
        self.threads.append(thread)

    def _process(self, owner: str) -> None:
        settings = self.ctx.settings.worker
        while not self.stop_event.is_set():
            try:
                claimed = processing.process_batch(
                    self.ctx, owner, self.providers, settings.batch_size
                )
            except Exception:
                log.exception("action=worker_error owner=%s", owner)
                claimed = 0
            if claimed == 0:
                self.stop_event.wait(settings.poll_seconds)

    def _send(self) -> None:
        while not self.stop_event.is_set():
            try:
                sent = delivery.send_due(self.ctx)
            except Exception:
                log.exception("action=sender_error")
                sent = 0
            if sent == 0:
                self.stop_event.wait(0.5)

    def _retrain(self) -> None:
        """Train the built-in models the schedule says are due (one worker per workflow)."""
        owner = f"{self.name}-retrain"
        while not self.stop_event.wait(self.ctx.settings.worker.retrain_poll_seconds):
            try:
                training.retrain_due_workflows(self.ctx, owner)
            except Exception:
                log.exception("action=retrain_loop_error owner=%s", owner)

    def stop(self, timeout: float = 10.0) -> None:
        self.stop_event.set()
        for thread in self.threads:
            thread.join(timeout)
