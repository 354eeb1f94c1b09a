"""`provider: fake`: a scriptable provider for tests, driven by a script or the item itself.

Without a script, the item's own content decides: `{"label": "x", "confidence": 0.9}`
is answered as written, `{"fail": "boom"}` raises a retryable ProviderError, and
`{"fail_times": 2}` fails the first two attempts for that item. Scripts registered
with `script(name, fn)` take over for workflows whose `ai.options.script` names them.

It is registered through the `signoff.providers` entry point like every provider, but
a workflow may only use it in `environment=development` or when the operator sets
`SIGNOFF_TESTING__FAKE_PROVIDER=true`, so a production workflow never runs on it by
mistake.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from signoff.ai.base import AiInput, ProviderContext
from signoff.ai.python_provider import prediction_from_mapping
from signoff.domain import errors
from signoff.domain.prediction import Prediction
from signoff.domain.workflow import WorkflowSpec

Script = Callable[[AiInput], dict[str, Any] | Prediction]
_scripts: dict[str, Script] = {}
_lock = threading.Lock()


def script(name: str, fn: Script) -> None:
    """Make `ai.options.script: name` answer with `fn(item)`."""
    with _lock:
        _scripts[name] = fn


def clear_scripts() -> None:
    with _lock:
        _scripts.clear()


class FakeProvider:
    def __init__(
        self, script_name: str | None, default_label: str, default_confidence: float
    ) -> None:
        self.name = "fake"
        self._script_name = script_name
        self._default = {"label": default_label, "confidence": default_confidence}
        self._failures: dict[int, int] = {}
        self._lock = threading.Lock()
        self.calls = 0

    def predict(self, item: AiInput) -> Prediction:
        with self._lock:
            self.calls += 1
        if self._script_name is not None:
            with _lock:
                fn = _scripts.get(self._script_name)
            if fn is None:
                raise errors.ProviderError(f"no fake script named {self._script_name!r}")
            return prediction_from_mapping(fn(item), "fake")
        content = item.content
        if "sleep" in content:
            time.sleep(float(content["sleep"]))
        if "fail" in content:
            raise errors.ProviderError(
                str(content["fail"]), retryable=bool(content.get("retryable", True))
            )
        if "fail_times" in content:
            with self._lock:
                seen = self._failures.get(item.item_id, 0)
                self._failures[item.item_id] = seen + 1
            if seen < int(content["fail_times"]):
                raise errors.ProviderError(f"scripted failure {seen + 1}")
        answer = {
            "label": content.get("label", self._default["label"]),
            "confidence": content.get("confidence", self._default["confidence"]),
            "entities": content.get("entities", []),
        }
        return prediction_from_mapping(answer, "fake")


def check(spec: WorkflowSpec, context: ProviderContext) -> None:
    """Refuse `provider: fake` outside development unless the operator allows it."""
    settings = context.settings
    if settings is None or getattr(settings, "environment", None) == "development":
        return
    if getattr(getattr(settings, "testing", None), "fake_provider", False):
        return
    raise errors.InvalidWorkflow(
        "ai.provider: the fake provider answers what each item says and is for tests; "
        "outside development set SIGNOFF_TESTING__FAKE_PROVIDER=true to allow it",
        field="ai.provider",
        problems=[{"field": "ai.provider", "message": "fake provider not allowed here"}],
    )


def create(spec: WorkflowSpec, context: ProviderContext) -> FakeProvider:
    check(spec, context)
    options = spec.ai.options
    return FakeProvider(
        options.get("script"),
        options.get("label", spec.labels[0]),
        float(options.get("confidence", 0.99)),
    )
