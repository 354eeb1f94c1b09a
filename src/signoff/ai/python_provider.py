"""`provider: python`: call a `module:function` with the item, in process."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from signoff.ai.base import AiInput, ProviderContext
from signoff.domain import errors
from signoff.domain.prediction import Entity, Prediction
from signoff.domain.workflow import WorkflowSpec


def import_callable(path: str) -> Callable[..., Any]:
    module_name, _, attr = path.partition(":")
    if not module_name or not attr:
        raise errors.InvalidWorkflow(
            f"ai.options.function: expected 'module:function', got {path!r}"
        )
    try:
        module = importlib.import_module(module_name)
        func = getattr(module, attr)
    except (ImportError, AttributeError) as exc:
        raise errors.InvalidWorkflow(
            f"ai.options.function: cannot import {path!r}: {exc} "
            "(the module must be importable by every signoff process: install it, "
            "or add its directory to PYTHONPATH)"
        ) from None
    if not callable(func):
        raise errors.InvalidWorkflow(f"ai.options.function: {path!r} is not callable")
    return func  # type: ignore[no-any-return]


def prediction_from_mapping(data: Any, model: str) -> Prediction:
    """Turn a provider's `{label, confidence, entities}` answer into a Prediction."""
    if isinstance(data, Prediction):
        return data
    if not isinstance(data, dict):
        raise errors.ProviderError(
            f"{model} returned {type(data).__name__}, expected a mapping", retryable=False
        )
    label = data.get("label")
    confidence = data.get("confidence")
    if label is not None and not isinstance(label, str):
        raise errors.ProviderError(f"{model} returned a non-string label", retryable=False)
    if confidence is not None:
        if isinstance(confidence, bool) or not isinstance(confidence, int | float):
            raise errors.ProviderError(
                f"{model} returned a non-numeric confidence", retryable=False
            )
        if not 0.0 <= float(confidence) <= 1.0:
            raise errors.ProviderError(
                f"{model} returned confidence outside [0, 1]", retryable=False
            )
        confidence = float(confidence)
    entities = []
    for e in data.get("entities") or []:
        if not isinstance(e, dict) or "type" not in e or "text" not in e:
            raise errors.ProviderError(f"{model} returned a malformed entity", retryable=False)
        entities.append(
            Entity(
                type=str(e["type"]),
                text=str(e["text"]),
                start=e.get("start"),
                end=e.get("end"),
                confidence=e.get("confidence"),
            )
        )
    return Prediction(
        label=label,
        confidence=confidence,
        model=str(data.get("model") or model),
        model_version=None if data.get("model_version") is None else str(data["model_version"]),
        entities=tuple(entities),
        confidence_method=data.get("confidence_method") or "reported",
        raw=None,
    )


class PythonProvider:
    def __init__(self, func: Callable[..., Any], path: str) -> None:
        self.name = f"python:{path}"
        self._func = func

    def predict(self, item: AiInput) -> Prediction:
        try:
            result = self._func(item)
        except errors.ProviderError:
            raise
        except Exception as exc:  # a user function may fail any way it likes
            raise errors.ProviderError(f"{self.name} raised {type(exc).__name__}: {exc}") from exc
        return prediction_from_mapping(result, self.name)


def create(spec: WorkflowSpec, context: ProviderContext) -> PythonProvider:
    path = spec.ai.options.get("function")
    if not isinstance(path, str):
        raise errors.InvalidWorkflow("ai.options.function: required for provider python")
    return PythonProvider(import_callable(path), path)
