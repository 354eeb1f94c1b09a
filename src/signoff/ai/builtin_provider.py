"""`provider: builtin`: the learner's active model for the workflow, plus regex entities."""

from __future__ import annotations

import importlib.util
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from signoff.ai import entities, explanation, learner, model_process
from signoff.ai.base import AiInput, ModelStore, ProviderContext
from signoff.domain import errors
from signoff.domain.prediction import Prediction
from signoff.domain.workflow import WorkflowSpec

MODEL_NAME = "builtin"
# Asking the store on every batch costs a query; a second of staleness after a
# retrain costs nothing (`worker.model_refresh_seconds`).
REFRESH_SECONDS = 1.0


class BuiltinProvider:
    """Predicts with the workflow's active trained model; abstains until one exists."""

    name = MODEL_NAME

    def __init__(
        self,
        spec: WorkflowSpec,
        store: ModelStore | None,
        *,
        refresh_seconds: float = REFRESH_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        scorer: model_process.ModelProcess | None = None,
        name: str = MODEL_NAME,
    ) -> None:
        # `transformers` reuses this provider: the same calibrated model, another featurizer.
        self.name = name
        self.spec = spec
        self._store = store
        self._refresh_seconds = refresh_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._checked_at: float | None = None
        self._version: str | None = None
        self._model: learner.TrainedModel | None = None
        self._artifact: bytes | None = None
        self._scorer = scorer
        self._explainer: explanation.TermExplainer | None = None

    def predict(self, item: AiInput) -> Prediction:
        return self.predict_batch([item])[0]

    def predict_batch(self, items: Sequence[AiInput]) -> list[Prediction]:
        """One prediction per item, featurised and scored in one pass."""
        if not items:
            return []
        version, model, artifact, explainer = self._current_model()
        found = [entities.extract_entities(item.text, self.spec.entities) for item in items]
        allowed = (
            [i for i, label in enumerate(model.labels) if label in self.spec.labels]
            if model is not None
            else []
        )
        if model is None or not allowed:
            # Cold start (or a model whose labels the workflow no longer has): no
            # label, no confidence, so routing sends the item to a person.
            return [
                Prediction(label=None, confidence=None, model=self.name, entities=e) for e in found
            ]
        texts = [item.text for item in items]
        try:
            features: Any = None
            if self._scorer is not None and version is not None and artifact is not None:
                proba = self._scorer.predict_matrix(version, artifact, texts)
                if explainer is not None:
                    # TF-IDF rows are cheap; the explanation needs them here.
                    features = model.featurizer.transform(texts)
            else:
                features = model.featurizer.transform(texts)
                proba = np.asarray(model.classifier.predict_proba(features))
        except errors.SignoffError:
            raise
        except Exception as exc:  # a broken artifact fails in many ways; none is retryable
            raise errors.ProviderError(
                f"builtin model {version} failed: {type(exc).__name__}: {exc}", retryable=False
            ) from exc
        # Pick among the labels the workflow still declares; the chosen label's
        # calibrated probability remains an honest confidence without renormalising.
        columns = np.asarray(allowed)
        best = columns[proba[:, columns].argmax(axis=1)]
        method = "calibrated" if model.calibrated else "uncalibrated"
        return [
            Prediction(
                label=model.labels[b],
                confidence=float(row[b]),
                model=self.name,
                model_version=version,
                entities=e,
                scores=dict(zip(model.labels, row.tolist(), strict=True)),
                confidence_method=method,
                explanation=(
                    explainer.explain(features[i], model.labels[b])
                    if explainer is not None and features is not None
                    else None
                ),
            )
            for i, (row, b, e) in enumerate(zip(proba, best, found, strict=True))
        ]

    def _current_model(
        self,
    ) -> tuple[
        str | None, learner.TrainedModel | None, bytes | None, explanation.TermExplainer | None
    ]:
        """The cached model, refreshed from the store at most once per interval."""
        with self._lock:
            now = self._clock()
            stale = self._checked_at is None or now - self._checked_at >= self._refresh_seconds
            if stale and self._store is not None:
                self._refresh(self._store)
                self._checked_at = now
            return self._version, self._model, self._artifact, self._explainer

    def _refresh(self, store: ModelStore) -> None:
        # A store may offer a cheap version probe; then the artifact is read only
        # when the version moves.
        probe = getattr(store, "active_model_version", None)
        try:
            if callable(probe):
                version = probe(self.spec.name)
                if version is not None and version == self._version:
                    return
                if version is None:
                    self._version, self._model, self._explainer = None, None, None
                    return
            loaded = store.load_active_model(self.spec.name)
        except errors.SignoffError:
            raise
        except Exception as exc:  # the database may be briefly unavailable
            raise errors.ProviderError(
                f"cannot read the active model: {type(exc).__name__}", retryable=True
            ) from exc
        if loaded is None:
            self._version, self._model, self._explainer = None, None, None
            return
        version, artifact = loaded
        if version != self._version or self._model is None:
            self._model = learner.TrainedModel.from_bytes(artifact)
            self._explainer = explanation.explainer_for(self._model)
            self._artifact = artifact
            self._version = version


def create(spec: WorkflowSpec, context: ProviderContext) -> BuiltinProvider:
    """Build the provider; refuses an embeddings option it could never honour."""
    path = spec.ai.options.get("embeddings_model_path")
    if path is not None:
        if not isinstance(path, str):
            raise errors.ConfigError("ai.options.embeddings_model_path must be a directory path")
        if importlib.util.find_spec("sentence_transformers") is None:
            raise errors.ConfigError(
                "ai.options.embeddings_model_path needs sentence-transformers: "
                "pip install 'signoff[embeddings]'"
            )
    worker = getattr(context.settings, "worker", None)
    scorer = model_process.ModelProcess() if getattr(worker, "model_process", False) else None
    return BuiltinProvider(
        spec, context.model_store, scorer=scorer, refresh_seconds=refresh_seconds(context)
    )


def refresh_seconds(context: ProviderContext) -> float:
    """`worker.model_refresh_seconds` of the settings the provider is built with."""
    worker = getattr(context.settings, "worker", None)
    return float(getattr(worker, "model_refresh_seconds", REFRESH_SECONDS))
