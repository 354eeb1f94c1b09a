"""The provider Protocol, the context providers get, and the registry.

Providers come from the `signoff.providers` entry-point group (the built-ins are
declared there too, in signoff's own pyproject.toml) or from `register_provider`;
an entry point's module is imported only when a workflow first names it. A
provider module may define `check(spec, context)` next to its factory: it runs when
a workflow is applied, so a bad option is refused before anything is stored.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Protocol, runtime_checkable

from signoff.domain import errors
from signoff.domain.prediction import Prediction
from signoff.domain.workflow import WorkflowSpec
from signoff.outbound import credentials

GROUP = "signoff.providers"


@dataclass(frozen=True)
class AiInput:
    """What a provider sees of one item."""

    item_id: int
    text: str
    content: dict[str, Any]
    metadata: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Provider(Protocol):
    """Classifies items; raises errors.ProviderError(retryable=...) on failure."""

    name: str

    def predict(self, item: AiInput) -> Prediction: ...


@runtime_checkable
class BatchProvider(Provider, Protocol):
    def predict_batch(self, items: Sequence[AiInput]) -> list[Prediction]: ...


class ModelStore(Protocol):
    """Where learning providers read their trained model (see services.training)."""

    def load_active_model(self, workflow: str) -> tuple[str, bytes] | None: ...


@dataclass
class ProviderContext:
    """What a provider factory may use besides the workflow: secrets and the model store."""

    secrets: Callable[[str], str | None]
    model_store: ModelStore | None = None
    settings: Any = None

    def credential(self, name: str, field: str, host: str | None) -> str | None:
        """The credential `name` if a workflow may send it to `host`; OutboundRefused if not."""
        credentials.check(self.settings, name, field, host)
        return self.secrets(name)


ProviderFactory = Callable[[WorkflowSpec, ProviderContext], Provider]
ProviderCheck = Callable[[WorkflowSpec, ProviderContext], None]


@dataclass(frozen=True)
class _Entry:
    factory: ProviderFactory
    check: ProviderCheck | None


class ProviderRegistry:
    """Provider names to factories: entry points, loaded on first use, and registrations."""

    def __init__(self, group: str = GROUP) -> None:
        self._group = group
        self._lock = threading.Lock()
        self._registered: dict[str, _Entry] = {}
        self._declared: dict[str, EntryPoint] | None = None

    def register(
        self, name: str, factory: ProviderFactory, check: ProviderCheck | None = None
    ) -> None:
        with self._lock:
            self._registered[name] = _Entry(factory, check)

    def names(self) -> list[str]:
        return sorted(set(self._registered) | set(self._entry_points()))

    def entry(self, name: str) -> _Entry:
        """The factory and check for `name`, or InvalidWorkflow naming ai.provider."""
        with self._lock:
            found = self._registered.get(name)
        if found is not None:
            return found
        point = self._entry_points().get(name)
        if point is None:
            raise errors.InvalidWorkflow(
                f"ai.provider: unknown provider {name!r}; known: {self.names()}",
                field="ai.provider",
                problems=[{"field": "ai.provider", "message": "unknown provider"}],
            )
        factory = point.load()
        module = importlib.import_module(point.module)
        loaded = _Entry(factory, getattr(module, "check", None))
        with self._lock:
            return self._registered.setdefault(name, loaded)

    def _entry_points(self) -> dict[str, EntryPoint]:
        if self._declared is None:
            self._declared = {ep.name: ep for ep in entry_points(group=self._group)}
        return self._declared


# The process-wide registry plugins register into (like the entry-point table itself).
REGISTRY = ProviderRegistry()


def register_provider(
    name: str, factory: ProviderFactory, check: ProviderCheck | None = None
) -> None:
    """Make `provider: name` usable in workflows; `check` runs when a workflow is applied."""
    REGISTRY.register(name, factory, check)


def provider_names() -> list[str]:
    return REGISTRY.names()


def create_provider(spec: WorkflowSpec, context: ProviderContext) -> Provider:
    """Build the provider a workflow names, or raise InvalidWorkflow."""
    return REGISTRY.entry(spec.ai.provider).factory(spec, context)


def check_provider(spec: WorkflowSpec, context: ProviderContext) -> None:
    """Refuse, at apply time, a workflow whose AI step could not or must not run.

    Besides the provider's own check, the provider is built and released: a function
    that cannot be imported or options a provider refuses fail now, not on the first item.
    """
    credentials.refuse_inline(spec.ai.options)
    entry = REGISTRY.entry(spec.ai.provider)
    if entry.check is not None:
        entry.check(spec, context)
    try:
        provider = entry.factory(spec, context)
    except errors.ConfigError as exc:
        raise errors.InvalidWorkflow(exc.detail) from None
    close = getattr(provider, "close", None)
    if callable(close):
        close()


def text_of(content: dict[str, Any], field_name: str | None = None) -> str:
    """The text a provider classifies: the named field, a usual one, or the JSON."""
    if field_name:
        value = content.get(field_name)
        return value if isinstance(value, str) else ("" if value is None else str(value))
    for key in ("text", "body", "content", "document", "message"):
        value = content.get(key)
        if isinstance(value, str):
            return value
    parts = [v for v in content.values() if isinstance(v, str)]
    return "\n".join(parts)
