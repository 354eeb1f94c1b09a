"""Scores texts with the built-in model in a separate process.

Tokenising text in scikit-learn is pure Python and holds the GIL, and so does most
of a worker's database work; in one process they take turns. With the model in a
process of its own, one core scores the next batch while the other records the
last one.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import numpy as np

from signoff.ai import learner

_loaded: dict[str, learner.TrainedModel] = {}


class _MissingModel(Exception):
    """The scoring process does not hold this model version (it was restarted)."""


def _score(version: str, artifact: bytes | None, texts: Sequence[str]) -> np.ndarray:
    """Runs in the scoring process: load the model once per version, then score."""
    if artifact is not None:
        _loaded.clear()
        _loaded[version] = learner.TrainedModel.from_bytes(artifact)
    model = _loaded.get(version)
    if model is None:
        raise _MissingModel(version)
    return model.predict_matrix(list(texts))


class ModelProcess:
    """One scoring process; tasks run in submission order, so a model sent once stays loaded."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        self._sent: str | None = None

    def predict_matrix(self, version: str, artifact: bytes, texts: Sequence[str]) -> np.ndarray:
        for attempt in range(2):
            with self._lock:
                if self._pool is None:
                    # spawn, not fork: the parent runs threads and holds database connections.
                    context = multiprocessing.get_context("spawn")
                    self._pool = ProcessPoolExecutor(max_workers=1, mp_context=context)
                    self._sent = None
                send = artifact if self._sent != version or attempt else None
                self._sent = version
                future = self._pool.submit(_score, version, send, list(texts))
            try:
                return future.result()
            except _MissingModel:
                continue
            except BrokenProcessPool:
                with self._lock:
                    self._pool = None
                if attempt:
                    raise
        raise RuntimeError("the scoring process lost the model twice")

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(cancel_futures=True)
                self._pool = None
