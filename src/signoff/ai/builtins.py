"""Registers the providers that ship with signoff, through the public registry.

Each factory imports its module on first use, so a process that never builds an
OpenAI or built-in provider never pays for importing openai or scikit-learn.
"""

from __future__ import annotations

import importlib
from typing import Any

from signoff.ai import base


def _lazy(module: str) -> base.ProviderFactory:
    def factory(spec: Any, context: base.ProviderContext) -> base.Provider:
        return importlib.import_module(f"signoff.ai.{module}").create(spec, context)  # type: ignore[no-any-return]

    return factory


base.register_provider("python", _lazy("python_provider"))
base.register_provider("builtin", _lazy("builtin_provider"))
base.register_provider("openai", _lazy("openai_provider"))
base.register_provider("http", _lazy("http_provider"))
