"""The provider Protocol, the context providers get, and the registry.

Built-in providers register through `register_provider`, exactly as a third-party
package would (or through the `signoff.providers` entry-point group).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Protocol, runtime_checkable

from signoff.domain import errors
from signoff.domain.prediction import Prediction
from signoff.domain.workflow import WorkflowSpec


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


ProviderFactory = Callable[[WorkflowSpec, ProviderContext], Provider]

_REGISTRY: dict[str, ProviderFactory] = {}
_ENTRY_POINTS_LOADED = False


def register_provider(name: str, factory: ProviderFactory) -> None:
    """Make `provider: name` usable in workflows."""
    _REGISTRY[name] = factory


def provider_names() -> list[str]:
    _load_entry_points()
    return sorted(_REGISTRY)


def create_provider(spec: WorkflowSpec, context: ProviderContext) -> Provider:
    """Build the provider a workflow names, or raise InvalidWorkflow."""
    _load_entry_points()
    try:
        factory = _REGISTRY[spec.ai.provider]
    except KeyError:
        raise errors.InvalidWorkflow(
            f"ai.provider: unknown provider {spec.ai.provider!r}; known: {provider_names()}"
        ) from None
    return factory(spec, context)


def check_provider(spec: WorkflowSpec, context: ProviderContext) -> None:
    """Build the provider a workflow names and release it, or raise InvalidWorkflow.

    This is how a workflow is validated before it is stored: a function that cannot
    be imported or options a provider refuses fail now, not on the first item.
    """
    try:
        provider = create_provider(spec, context)
    except errors.ConfigError as exc:
        raise errors.InvalidWorkflow(exc.detail) from None
    close = getattr(provider, "close", None)
    if callable(close):
        close()


def _load_entry_points() -> None:
    global _ENTRY_POINTS_LOADED
    if _ENTRY_POINTS_LOADED:
        return
    _ENTRY_POINTS_LOADED = True
    # Built-ins import lazily so importing signoff.ai stays cheap.
    from signoff.ai import builtins  # noqa: F401

    for ep in entry_points(group="signoff.providers"):
        register_provider(ep.name, ep.load())


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
