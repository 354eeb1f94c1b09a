"""Scores texts with the built-in model in a separate process.

Tokenising text in scikit-learn is pure Python and holds the GIL, and so does most
of a worker's database work; in one process they take turns. With the model in a
process of its own, one core scores the next batch while the other records the
last one.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import threading
from collections.abc import Sequence
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

import numpy as np

from signoff.ai import learner


def _serve(connection: Connection) -> None:
    """The scoring process: keep the last model sent, score each request with it.

    Requests are (version, artifact or None, texts); answers ("ok", matrix),
    ("missing", version) when it holds another version, or ("error", text).
    """
    version: str | None = None
    model: learner.TrainedModel | None = None
    while True:
        try:
            request = connection.recv()
        except EOFError:  # the parent is gone
            return
        if request is None:
            return
        wanted, artifact, texts = request
        try:
            if artifact is not None:
                version, model = wanted, learner.TrainedModel.from_bytes(artifact)
            if model is None or version != wanted:
                connection.send(("missing", wanted))
            else:
                connection.send(("ok", model.predict_matrix(list(texts))))
        except Exception as exc:  # report, keep serving
            connection.send(("error", f"{type(exc).__name__}: {exc}"))


class ModelProcess:
    """One scoring process holding one model version; the artifact is sent once per version."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: BaseProcess | None = None
        self._connection: Connection | None = None
        self._sent: str | None = None

    def predict_matrix(self, version: str, artifact: bytes, texts: Sequence[str]) -> np.ndarray:
        with self._lock:
            for attempt in range(2):
                connection = self._connection or self._start()
                send = artifact if self._sent != version or attempt else None
                try:
                    connection.send((version, send, list(texts)))
                    kind, value = connection.recv()
                except (EOFError, OSError):  # the scoring process died: start another
                    self._stop()
                    if attempt:
                        raise
                    continue
                self._sent = version
                if kind == "ok":
                    return np.asarray(value)
                if kind == "error":
                    raise RuntimeError(f"the scoring process failed: {value}")
            raise RuntimeError("the scoring process lost the model twice")

    def _start(self) -> Connection:
        # spawn, not fork: the parent runs threads and holds database connections.
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        process = context.Process(target=_serve, args=(child,), daemon=True)
        process.start()
        child.close()
        self._process, self._connection, self._sent = process, parent, None
        return parent

    def _stop(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(OSError):  # it may be dead already
                self._connection.send(None)
            self._connection.close()
        if self._process is not None:
            self._process.join(timeout=5)
            if self._process.is_alive():
                self._process.kill()
        self._process, self._connection, self._sent = None, None, None

    def close(self) -> None:
        with self._lock:
            self._stop()
