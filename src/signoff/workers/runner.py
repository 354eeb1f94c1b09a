"""Threads that claim and run work until told to stop, and the supervisor that keeps them up."""

from __future__ import annotations

import functools
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable

from signoff.services import delivery, digests, processing, retention, timers, training
from signoff.services import items as item_service
from signoff.services.context import Context

log = logging.getLogger(__name__)


class WorkerPool:
    """AI-step threads, an outbox sender, digests, archiving, SLA timers, retention: supervised.

    Each loop survives whatever one round raises (provider code may even raise
    SystemExit); a thread that dies anyway is started again by the supervisor.
    """

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
        self.restarts = 0
        self._targets: dict[str, Callable[[], None]] = {}
        self._supervisor: threading.Thread | None = None

    def start(self) -> None:
        for index in range(self.concurrency):
            self._spawn(f"ai-{index}", functools.partial(self._process, f"{self.name}-{index}"))
        if self.sender:
            self._spawn("outbox", self._send)
            self._spawn("digests", self._digests)
        if self.ctx.settings.worker.retrain:
            self._spawn("retrain", self._retrain)
        self._spawn("archive", self._archive)
        self._spawn("timers", self._timers)
        self._spawn("retention", self._retention)
        self._supervisor = threading.Thread(
            target=self._supervise, name="signoff-supervisor", daemon=True
        )
        self._supervisor.start()
        log.info("action=workers_started name=%s concurrency=%s", self.name, self.concurrency)

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=f"signoff-{name}", daemon=True)
        self._targets[thread.name] = target
        thread.start()
        self.threads.append(thread)

    def dead_threads(self) -> list[str]:
        """Names of the pool's threads that are not running (all of them once stopped)."""
        dead = [t.name for t in self.threads if not t.is_alive()]
        if self._supervisor is None or not self._supervisor.is_alive():
            dead.append("signoff-supervisor")
        return dead

    def _supervise(self) -> None:
        every = self.ctx.settings.worker.supervise_seconds
        while not self.stop_event.wait(every):
            try:
                self._restart_dead()
            except BaseException:  # the supervisor is the last line: it must not die
                log.exception("action=supervisor_error")

    def _restart_dead(self) -> None:
        for index, thread in enumerate(list(self.threads)):
            if thread.is_alive() or self.stop_event.is_set():
                continue
            log.error("action=worker_restarted thread=%s", thread.name)
            replacement = threading.Thread(
                target=self._targets[thread.name], name=thread.name, daemon=True
            )
            replacement.start()
            self.threads[index] = replacement
            self.restarts += 1

    def _process(self, owner: str) -> None:
        settings = self.ctx.settings.worker
        while not self.stop_event.is_set():
            try:
                claimed = processing.process_batch(
                    self.ctx, owner, self.providers, settings.batch_size
                )
            except BaseException:  # provider code can raise anything; only stop() ends the loop
                log.exception("action=worker_error owner=%s", owner)
                claimed = 0
            if claimed == 0:
                self.stop_event.wait(settings.poll_seconds)

    def _send(self) -> None:
        while not self.stop_event.is_set():
            try:
                sent = delivery.send_due(self.ctx)
            except BaseException:
                log.exception("action=sender_error")
                sent = 0
            if sent == 0:
                self.stop_event.wait(0.5)

    def _digests(self) -> None:
        """Turn the digest entries that are due into one email per reviewer."""
        while not self.stop_event.wait(self.ctx.settings.notify.digest_poll_seconds):
            try:
                digests.send_due_digests(self.ctx)
            except BaseException:
                log.exception("action=digest_loop_error")

    def _retrain(self) -> None:
        """Train the built-in models the schedule says are due (one worker per workflow)."""
        owner = f"{self.name}-retrain"
        while not self.stop_event.wait(self.ctx.settings.worker.retrain_poll_seconds):
            try:
                training.retrain_due_workflows(self.ctx, owner)
            except BaseException:
                log.exception("action=retrain_loop_error owner=%s", owner)

    def _archive(self) -> None:
        every = self.ctx.settings.worker.archive_interval_seconds
        while not self.stop_event.is_set():
            try:
                item_service.archive_due(self.ctx, f"worker:{self.name}")
            except BaseException:
                log.exception("action=archive_error")
            self.stop_event.wait(every)

    def _timers(self) -> None:
        """Fire due SLA timers; every worker sweeps, the guarded updates make each fire once."""
        every = self.ctx.settings.timers.interval_seconds
        while not self.stop_event.is_set():
            try:
                result = timers.sweep(self.ctx)
            except BaseException:
                log.exception("action=timers_error")
                result = None
            # A full batch means more are due: sweep again at once instead of waiting.
            if result is None or max(result.fired.values()) < self.ctx.settings.timers.batch_size:
                self.stop_event.wait(every)

    def _retention(self) -> None:
        """Purge the content of decided items past their workflow's `retain_content_for`."""
        every = self.ctx.settings.worker.retention_interval_seconds
        while not self.stop_event.is_set():
            try:
                retention.purge_due(self.ctx, f"worker:{self.name}")
            except BaseException:
                log.exception("action=retention_error")
            self.stop_event.wait(every)

    def stop(self, timeout: float = 10.0) -> None:
        self.stop_event.set()
        if self._supervisor is not None:
            self._supervisor.join(timeout)
        for thread in self.threads:
            thread.join(timeout)
