"""What every service needs: settings, the database, the clock, events, providers."""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from signoff.clock import Clock, SystemClock
from signoff.services.events import EventBus
from signoff.settings import Settings
from signoff.storage import engine as storage_engine


@dataclass
class Context:
    settings: Settings
    engine: sa.Engine
    sessions: sessionmaker[Session]
    clock: Clock
    bus: EventBus = field(default_factory=EventBus)
    rng: random.Random = field(default_factory=random.Random)
    #: Retrain in the caller's thread (evaluation replays) instead of in the background.
    sync_training: bool = False
    #: Delivery channels built from the settings, by message kind (see services.delivery).
    channels: dict[str, Any] = field(default_factory=dict)

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


def create_context(settings: Settings, clock: Clock | None = None) -> Context:
    engine = storage_engine.create_engine(settings.database_url)
    return Context(
        settings=settings,
        engine=engine,
        sessions=storage_engine.make_sessionmaker(engine),
        clock=clock or SystemClock(),
    )
