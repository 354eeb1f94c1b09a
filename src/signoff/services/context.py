"""What every service needs: settings, the database, the clock, events, providers."""

from __future__ import annotations

import functools
import os
import random
import threading
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from signoff import installation
from signoff.clock import Clock, DatabaseClock, SystemClock
from signoff.domain import audit as audit_rules
from signoff.domain import error_budget
from signoff.domain import workflow as wf
from signoff.services.events import EventBus
from signoff.services.rate_limits import RequestLimiter
from signoff.settings import Settings
from signoff.storage import engine as storage_engine


@dataclass
class CachedThreshold:
    """A threshold and the evidence it was computed from (the decision counter then)."""

    choice: error_budget.ThresholdChoice
    decisions: int
    computed_at: float


@dataclass
class ProcessCaches:
    """What one process caches; each entry is revalidated against the database or immutable."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    #: Workflow versions never change once written: (workflow_id, version) -> spec.
    specs: dict[tuple[int, int], wf.WorkflowSpec] = field(default_factory=dict)
    #: workflow_id -> threshold, trusted while the workflow's decision counter is unchanged.
    thresholds: dict[int, CachedThreshold] = field(default_factory=dict)
    #: A workflow's name never changes once created: workflow_id -> name.
    names: dict[int, str] = field(default_factory=dict)
    #: API key hash -> SHA-256 of the secret that verified against it (services.users).
    verified_keys: dict[str, bytes] = field(default_factory=dict)


@dataclass
class Context:
    settings: Settings
    engine: sa.Engine
    sessions: sessionmaker[Session]
    clock: Clock
    #: The audit chains' HMAC keys: the current one (also on every session) and older ones.
    audit_keys: audit_rules.Keyring
    bus: EventBus = field(default_factory=EventBus)
    rng: random.Random = field(default_factory=random.Random)
    caches: ProcessCaches = field(default_factory=ProcessCaches)
    #: Retrain in the caller's thread after each decision (evaluation replays, the demo)
    #: instead of leaving it to the workers' retrain loop.
    sync_training: bool = False
    #: Delivery channels built from the settings, by message kind (see services.delivery).
    channels: dict[str, Any] = field(default_factory=dict)
    #: API keys' request counts (per process unless the settings name a shared storage).
    requests: RequestLimiter | None = None

    def secret(self, name: str) -> str | None:
        """A secret from the environment or, failing that, the secrets directory."""
        value = os.environ.get(name)
        if value:
            return value
        if self.settings.secrets_dir:
            path = Path(self.settings.secrets_dir) / name
            if path.is_file():
                return path.read_text().strip()
        return None

    def close(self) -> None:
        for channel in self.channels.values():
            close = getattr(channel, "close", None)
            if close is not None:
                close()
        self.engine.dispose()


def audit_keyring(settings: Settings) -> audit_rules.Keyring:
    """The audit key in force (configured, else derived from the secret key) and older ones."""
    material = settings.audit.key or settings.signing_secret()
    return audit_rules.Keyring(
        audit_rules.ChainKey.from_material(material),
        tuple(audit_rules.ChainKey.from_material(k) for k in settings.audit.previous()),
    )


def create_context(settings: Settings, clock: Clock | None = None) -> Context:
    settings = installation.with_secret_key(settings)
    engine = storage_engine.create_engine(settings.database_url)
    keyring = audit_keyring(settings)
    return Context(
        settings=settings,
        engine=engine,
        sessions=storage_engine.make_sessionmaker(engine, audit_key=keyring.current),
        clock=clock
        or DatabaseClock(
            SystemClock(timedelta(seconds=settings.testing.clock_skew_seconds)),
            functools.partial(storage_engine.read_database_time, engine),
        ),
        audit_keys=keyring,
        requests=RequestLimiter(settings.limits.rate_limit_storage),
    )
