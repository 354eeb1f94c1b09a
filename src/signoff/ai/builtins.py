"""Registers the providers that ship with signoff, through the public registry."""

from __future__ import annotations

from signoff.ai import base, python_provider

base.register_provider("python", python_provider.create)
