"""`provider: transformers`: a local Hugging Face text-classification model, calibrated.

The model's softmax over its own labels feeds the built-in learner's calibrated
logistic regression, trained on reviewed items like the built-in model; until enough
items are reviewed (`training.min_labels`) it abstains and every item goes to a person.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from signoff.ai import builtin_provider, transformers_featurizer
from signoff.ai.base import ProviderContext
from signoff.domain import errors
from signoff.domain.workflow import WorkflowSpec

MODEL_NAME = "transformers"
OPTIONS = {"model_path"}


def check(spec: WorkflowSpec, context: ProviderContext) -> None:
    """Apply-time checks: a local model directory and the libraries to run it."""
    unknown = sorted(set(spec.ai.options) - OPTIONS)
    if unknown:
        raise errors.ConfigError(
            f"ai.options.{unknown[0]}: not an option of provider transformers "
            f"(options: {sorted(OPTIONS)})"
        )
    path = spec.ai.options.get("model_path")
    if not isinstance(path, str) or not path:
        raise errors.ConfigError("ai.options.model_path: a local model directory is required")
    if not Path(path).is_dir():
        raise errors.ConfigError(f"ai.options.model_path: {path!r} is not a local model directory")
    if (
        importlib.util.find_spec("transformers") is None
        or importlib.util.find_spec("torch") is None
    ):
        raise errors.ConfigError(transformers_featurizer.INSTALL_HINT)


def create(spec: WorkflowSpec, context: ProviderContext) -> builtin_provider.BuiltinProvider:
    """The built-in provider serving the workflow's calibrated model under this name."""
    check(spec, context)
    return builtin_provider.BuiltinProvider(
        spec,
        context.model_store,
        name=MODEL_NAME,
        refresh_seconds=builtin_provider.refresh_seconds(context),
    )
