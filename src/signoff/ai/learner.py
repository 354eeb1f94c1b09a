"""The built-in learner: TF-IDF and logistic regression with calibrated probabilities.

Pure machine learning, no database: `train` turns texts and reviewers' labels
into a `TrainedModel` carrying its own held-out figures (accuracy, expected
calibration error); `TrainedModel.to_bytes` is what the model store keeps.
"""

from __future__ import annotations

import hashlib
import pickle
import time
import warnings
import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import sklearn
from scipy import sparse
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split
from threadpoolctl import threadpool_limits

from signoff.domain import errors
from signoff.domain.workflow import WorkflowSpec

MIN_EXAMPLES = 4
MAX_FEATURES = 100_000
# Isotonic regression is more flexible than a sigmoid but overfits small samples.
ISOTONIC_MIN_LABELS = 1000
# From here on a 20 % held-out split is large enough; below it the figures are
# cross-validated so that no labels are wasted and the numbers are less noisy.
HOLDOUT_MIN_LABELS = 1000
HOLDOUT_SHARE = 0.2
MAX_FOLDS = 5
ECE_BINS = 15
# Strong regularisation hurts TF-IDF text models; calibration fixes the scale.
INVERSE_REGULARISATION = 10.0
_MAGIC = b"signoff-learner/1\n"
_METRIC_KEYS = (
    "version",
    "method",
    "calibration_folds",
    "n_train",
    "label_counts",
    "training_seconds",
    "accuracy",
    "ece",
    "n_evaluated",
    "evaluated_by",
    "sklearn_version",
)


def expected_calibration_error(
    confidences: Sequence[float] | np.ndarray, correct: Sequence[bool] | np.ndarray, bins: int = 15
) -> float:
    """Top-label ECE: the share-weighted gap between confidence and accuracy over equal bins."""
    conf = np.asarray(confidences, dtype=np.float64)
    hit = np.asarray(correct, dtype=np.float64)
    if conf.shape != hit.shape:
        raise ValueError("confidences and correct must have the same length")
    if bins < 1:
        raise ValueError("bins must be at least 1")
    if conf.size == 0:
        return 0.0
    # Bin (i/bins, (i+1)/bins]; a confidence of exactly 0 joins the first bin.
    index = np.clip(np.ceil(conf * bins).astype(np.int64) - 1, 0, bins - 1)
    gap = np.abs(
        np.bincount(index, weights=conf, minlength=bins)
        - np.bincount(index, weights=hit, minlength=bins)
    )
    return float(gap.sum() / conf.size)


class _Featurizer(Protocol):
    def transform(self, texts: Sequence[str]) -> Any: ...


def _counter(vocabulary: dict[str, int] | None = None) -> CountVectorizer:
    # One definition, so training-time tokens and prediction-time tokens agree.
    return CountVectorizer(ngram_range=(1, 2), dtype=np.float32, vocabulary=vocabulary)


class TfidfFeaturizer:
    """Word 1-2 gram TF-IDF (sublinear tf) over a fixed vocabulary."""

    def __init__(
        self, vocabulary: dict[str, int], tfidf: TfidfTransformer, columns: np.ndarray
    ) -> None:
        self.vocabulary = vocabulary
        self.tfidf = tfidf
        # Where this vocabulary sits in the training corpus's columns; training only.
        self.columns: np.ndarray | None = columns
        self._counts = self._warm_counter()

    def _warm_counter(self) -> CountVectorizer:
        # A fixed-vocabulary vectorizer finishes setting itself up on first use;
        # doing that here keeps concurrent predictions from racing through it.
        counts = _counter(self.vocabulary)
        counts.transform([""])
        return counts

    def transform(self, texts: Sequence[str]) -> sparse.csr_matrix:
        return self.tfidf.transform(self._counts.transform(texts))

    def __getstate__(self) -> dict[str, Any]:
        # The vectorizer holds a second copy of the vocabulary; store only one.
        return {"vocabulary": self.vocabulary, "tfidf": self.tfidf}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.vocabulary = state["vocabulary"]
        self.tfidf = state["tfidf"]
        self.columns = None
        self._counts = self._warm_counter()


class _TfidfCorpus:
    """All training texts tokenised once; each split then picks its vocabulary and idf
    from its own rows only, so held-out figures stay honest without re-tokenising."""

    def __init__(self, texts: Sequence[str]) -> None:
        counter = _counter()
        try:
            self.counts: sparse.csr_matrix = counter.fit_transform(texts).tocsr()
        except ValueError:  # scikit-learn's "empty vocabulary"
            raise errors.NotEnoughData(
                "the labelled texts contain no words to learn from"
            ) from None
        self.names = counter.get_feature_names_out()

    def fit(self, rows: np.ndarray) -> TfidfFeaturizer:
        sub = self.counts[rows]
        # Like TfidfVectorizer(min_df, max_features), computed on these rows only.
        doc_freq = np.bincount(sub.indices, minlength=sub.shape[1])
        term_freq = np.asarray(sub.sum(axis=0)).ravel()
        candidates = np.flatnonzero(doc_freq >= (2 if len(rows) >= 200 else 1))
        top = candidates[np.argsort(-term_freq[candidates], kind="stable")[:MAX_FEATURES]]
        columns = np.sort(top)
        tfidf = TfidfTransformer(sublinear_tf=True).fit(sub[:, columns])
        vocabulary = {str(self.names[c]): i for i, c in enumerate(columns)}
        return TfidfFeaturizer(vocabulary, tfidf, columns)

    def matrix(self, featurizer: TfidfFeaturizer, rows: np.ndarray) -> sparse.csr_matrix:
        return featurizer.tfidf.transform(self.counts[rows][:, featurizer.columns])


class EmbeddingFeaturizer:
    """Sentence embeddings from a local sentence-transformers model directory."""

    def __init__(self, model_path: str) -> None:
        if not Path(model_path).is_dir():
            raise errors.ConfigError(
                f"ai.options.embeddings_model_path: {model_path!r} is not a local model directory"
            )
        self.model_path = model_path
        self._model: Any = None

    def transform(self, texts: Sequence[str]) -> np.ndarray:
        if self._model is None:
            try:
                from sentence_transformers import SentenceTransformer
            except ImportError:
                raise errors.ConfigError(
                    "ai.options.embeddings_model_path needs sentence-transformers: "
                    "pip install 'signoff[embeddings]'"
                ) from None
            # Never reach for a model hub: the path is a directory on this machine.
            self._model = SentenceTransformer(self.model_path, local_files_only=True)
        vectors = self._model.encode(
            list(texts), batch_size=32, normalize_embeddings=True, convert_to_numpy=True
        )
        return np.asarray(vectors, dtype=np.float32)

    def __getstate__(self) -> dict[str, Any]:
        return {"model_path": self.model_path, "_model": None}


class _EmbeddingCorpus:
    """All training texts featurised once by a fixed featurizer (sentence embeddings, a
    local classification model's scores): there is nothing to fit per split."""

    def __init__(self, texts: Sequence[str], featurizer: Any) -> None:
        self.featurizer = featurizer
        self.vectors = self.featurizer.transform(texts)

    def fit(self, rows: np.ndarray) -> Any:
        return self.featurizer

    def matrix(self, featurizer: Any, rows: np.ndarray) -> np.ndarray:
        selected: np.ndarray = self.vectors[rows]
        return selected


@dataclass
class TrainedModel:
    """A fitted classifier with its featurizer and the figures measured when it was trained."""

    version: str
    labels: tuple[str, ...]
    method: str  # "sigmoid", "isotonic" or "uncalibrated"
    calibration_folds: int
    n_train: int
    label_counts: dict[str, int]
    training_seconds: float
    accuracy: float | None
    ece: float | None
    n_evaluated: int
    evaluated_by: str
    featurizer: _Featurizer = field(repr=False)
    classifier: Any = field(repr=False)
    sklearn_version: str = sklearn.__version__

    @property
    def calibrated(self) -> bool:
        return self.method != "uncalibrated"

    def predict_matrix(self, texts: Sequence[str]) -> np.ndarray:
        """Probabilities, one row per text, columns in `labels` order."""
        if not texts:
            return np.zeros((0, len(self.labels)))
        return np.asarray(self.classifier.predict_proba(self.featurizer.transform(texts)))

    def predict_proba(self, texts: Sequence[str]) -> list[dict[str, float]]:
        """Per text, the probability of every label."""
        return [
            dict(zip(self.labels, row.tolist(), strict=True)) for row in self.predict_matrix(texts)
        ]

    @property
    def metrics(self) -> dict[str, Any]:
        """The training figures as JSON-ready data, for the model store and the UI."""
        return {key: getattr(self, key) for key in _METRIC_KEYS}

    def to_bytes(self) -> bytes:
        """The model as bytes for the model store."""
        return _MAGIC + zlib.compress(pickle.dumps(self, protocol=5), level=3)

    @classmethod
    def from_bytes(cls, data: bytes) -> TrainedModel:
        """Rebuild a model written by `to_bytes`.

        Unpickling runs code, so only bytes signoff wrote to its own model store
        may come here; whoever can write that store already controls the service.
        """
        if not data.startswith(_MAGIC):
            raise errors.ProviderError("the model artifact is not a signoff model", retryable=False)
        try:
            with warnings.catch_warnings():
                # A model pickled by another scikit-learn release still loads; the
                # next retrain replaces it.
                warnings.simplefilter("ignore", UserWarning)
                model = pickle.loads(zlib.decompress(data[len(_MAGIC) :]))
        except Exception as exc:  # any corruption shows up here, whatever its type
            raise errors.ProviderError(
                f"the model artifact cannot be read: {type(exc).__name__}", retryable=False
            ) from exc
        if not isinstance(model, cls):
            raise errors.ProviderError("the model artifact is not a signoff model", retryable=False)
        return model


def _fit_classifier(x: Any, y: np.ndarray, method: str, seed: int) -> tuple[Any, str, int]:
    """Logistic regression, calibrated by cross-validation when every class allows it."""
    base = LogisticRegression(C=INVERSE_REGULARISATION, max_iter=1000)
    smallest = min(Counter(y.tolist()).values())
    if smallest < 2:
        # A class seen once cannot be split across calibration folds; fall back to
        # raw probabilities (error-budget routing measures errors empirically anyway).
        return base.fit(x, y), "uncalibrated", 0
    folds = min(MAX_FOLDS, smallest)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    model = CalibratedClassifierCV(base, method=method, cv=splitter)
    return model.fit(x, y), method, folds


def _splits(y: np.ndarray, seed: int) -> tuple[list[tuple[np.ndarray, np.ndarray]], str]:
    n = len(y)
    smallest = min(Counter(y.tolist()).values())
    everything = np.arange(n)
    if n >= HOLDOUT_MIN_LABELS:
        stratify = y if smallest >= 2 else None
        train, test = train_test_split(
            everything, test_size=HOLDOUT_SHARE, random_state=seed, stratify=stratify
        )
        return [(np.sort(train), np.sort(test))], f"holdout {HOLDOUT_SHARE:.0%}"
    if smallest >= 2:
        folds = min(MAX_FOLDS, smallest)
        splitter: Any = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    else:
        folds = min(MAX_FOLDS, n)
        splitter = KFold(n_splits=folds, shuffle=True, random_state=seed)
    return list(splitter.split(everything, y)), f"{folds}-fold cross-validation"


def _evaluate(
    corpus: Any, y: np.ndarray, method: str, seed: int
) -> tuple[float | None, float | None, int, str]:
    """Accuracy and ECE of the whole recipe on rows it was not trained on."""
    splits, scheme = _splits(y, seed)
    confidences: list[np.ndarray] = []
    hits: list[np.ndarray] = []
    for train, test in splits:
        if len(set(y[train].tolist())) < 2:
            continue  # this fold's training rows hold one label: nothing to learn
        featurizer = corpus.fit(train)
        model, _, _ = _fit_classifier(corpus.matrix(featurizer, train), y[train], method, seed)
        proba = model.predict_proba(corpus.matrix(featurizer, test))
        confidences.append(proba.max(axis=1))
        hits.append(model.classes_[proba.argmax(axis=1)] == y[test])
    if not confidences:
        return None, None, 0, "none"
    conf, hit = np.concatenate(confidences), np.concatenate(hits)
    return float(hit.mean()), expected_calibration_error(conf, hit, ECE_BINS), int(hit.size), scheme


def _version(texts: Sequence[str], labels: Sequence[str], seed: int) -> str:
    digest = hashlib.sha256(str(seed).encode())
    for text, label in zip(texts, labels, strict=True):
        digest.update(label.encode() + b"\0" + text.encode("utf-8", "replace") + b"\0")
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{digest.hexdigest()[:10]}"


def train(
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    seed: int = 0,
    embeddings_model_path: str | None = None,
    featurizer: Any = None,
) -> TrainedModel:
    """Fit a calibrated classifier on labelled texts and measure it on held-out rows."""
    if len(texts) != len(labels):
        raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
    counts = Counter(labels)
    if len(counts) < 2 or len(texts) < MIN_EXAMPLES:
        raise errors.NotEnoughData(
            f"training needs at least {MIN_EXAMPLES} examples of 2 or more labels; "
            f"got {len(texts)} examples of {len(counts)} label(s)"
        )
    started = time.perf_counter()
    y = np.asarray(labels, dtype=object)
    if featurizer is None and embeddings_model_path:
        featurizer = EmbeddingFeaturizer(embeddings_model_path)
    corpus: Any = _EmbeddingCorpus(texts, featurizer) if featurizer else _TfidfCorpus(texts)
    # Decide the calibration method once from all labels, so the figures describe
    # the same recipe as the model that is kept.
    wanted = "isotonic" if len(texts) >= ISOTONIC_MIN_LABELS else "sigmoid"
    # The solver works on long thin vectors where BLAS threads only contend: one
    # thread measured 4x faster than two on a busy 2-core machine.
    with threadpool_limits(limits=1):
        accuracy, ece, n_evaluated, evaluated_by = _evaluate(corpus, y, wanted, seed)
        everything = np.arange(len(texts))
        featurizer = corpus.fit(everything)
        classifier, method, folds = _fit_classifier(
            corpus.matrix(featurizer, everything), y, wanted, seed
        )
    return TrainedModel(
        version=_version(texts, labels, seed),
        labels=tuple(str(label) for label in classifier.classes_),
        method=method,
        calibration_folds=folds,
        n_train=len(texts),
        label_counts=dict(sorted(counts.items())),
        training_seconds=round(time.perf_counter() - started, 3),
        accuracy=accuracy,
        ece=ece,
        n_evaluated=n_evaluated,
        evaluated_by=evaluated_by,
        featurizer=featurizer,
        classifier=classifier,
    )


def train_for_workflow(
    spec: WorkflowSpec, texts: Sequence[str], labels: Sequence[str], *, seed: int = 0
) -> TrainedModel:
    """`train` with the featurizer the workflow's `ai.options` ask for."""
    if spec.ai.provider == "transformers":
        from signoff.ai import transformers_featurizer

        model_path = spec.ai.options.get("model_path")
        if not isinstance(model_path, str):
            raise errors.ConfigError("ai.options.model_path must be a directory path")
        featurizer = transformers_featurizer.PipelineFeaturizer(model_path)
        return train(texts, labels, seed=seed, featurizer=featurizer)
    path = spec.ai.options.get("embeddings_model_path")
    if path is not None and not isinstance(path, str):
        raise errors.ConfigError("ai.options.embeddings_model_path must be a directory path")
    return train(texts, labels, seed=seed, embeddings_model_path=path)
