"""A local Hugging Face text-classification model as the built-in learner's featurizer.

The pipeline's softmax over the model's own labels becomes the feature vector (as
log-probabilities, which are linear in the model's logits); the learner's calibrated
logistic regression maps it onto the workflow's labels from reviewed items, so the
model's scores are calibrated the way the built-in model's are.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from signoff.domain import errors

INSTALL_HINT = (
    "provider transformers needs transformers and torch: pip install 'signoff[transformers]'"
)
# Scores of 0 would be -inf as log-probabilities.
_FLOOR = 1e-9


class PipelineFeaturizer:
    """Log-softmax scores of a local text-classification model, one column per model label."""

    def __init__(self, model_path: str, batch_size: int = 16) -> None:
        if not Path(model_path).is_dir():
            raise errors.ConfigError(
                f"ai.options.model_path: {model_path!r} is not a local model directory"
            )
        self.model_path = model_path
        self.batch_size = batch_size
        self._pipeline: Any = None

    def _load(self) -> Any:
        if self._pipeline is None:
            try:
                from transformers import pipeline
            except ImportError:
                raise errors.ConfigError(INSTALL_HINT) from None
            # A directory path is loaded from disk; the hub is never asked (checked by
            # PipelineFeaturizer's caller: the path must be a local directory).
            self._pipeline = pipeline(
                "text-classification",
                model=self.model_path,
                tokenizer=self.model_path,
                device=-1,
                top_k=None,
                truncation=True,
            )
        return self._pipeline

    @property
    def model_labels(self) -> list[str]:
        config = self._load().model.config
        return [str(config.id2label[i]) for i in range(len(config.id2label))]

    def transform(self, texts: Sequence[str]) -> np.ndarray:
        pipe = self._load()
        labels = self.model_labels
        column = {label: i for i, label in enumerate(labels)}
        out = np.full((len(texts), len(labels)), _FLOOR, dtype=np.float64)
        for row, scores in enumerate(pipe(list(texts), batch_size=self.batch_size)):
            for entry in scores:
                out[row, column[str(entry["label"])]] = max(float(entry["score"]), _FLOOR)
        return np.log(out)

    def __getstate__(self) -> dict[str, Any]:
        return {"model_path": self.model_path, "batch_size": self.batch_size, "_pipeline": None}
