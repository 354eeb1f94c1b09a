"""Registers the providers that ship with signoff, through the public registry."""

from __future__ import annotations

from signoff.ai import base, builtin_provider, http_provider, openai_provider, python_provider

base.register_provider("python", python_provider.create)
base.register_provider("builtin", builtin_provider.create)
base.register_provider("openai", openai_provider.create)
base.register_provider("http", http_provider.create)
