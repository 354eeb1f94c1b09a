"""Why the built-in model chose a label: the terms that pushed hardest towards it.

A logistic regression's score for a label is a sum over the document's features of
(feature value × the label's weight); the largest positive products are the terms
that contributed most. Calibration rescales the score monotonically, so the
ranking of terms holds for the calibrated probability too.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import sparse

TOP_TERMS = 5
METHOD = "linear_terms"


class TermExplainer:
    """Top contributing terms per label for a TF-IDF linear model; built once per model."""

    def __init__(self, labels: tuple[str, ...], weights: np.ndarray, names: np.ndarray) -> None:
        self._column = {label: i for i, label in enumerate(labels)}
        self._weights = weights
        self._names = names

    def explain(self, row: sparse.csr_matrix, label: str, top: int = TOP_TERMS) -> dict[str, Any]:
        """The `top` terms of one featurised document that pushed it most towards `label`."""
        column = self._column[label]
        values = row.data
        indices = row.indices
        contributions = values * self._weights[column, indices]
        positive = np.flatnonzero(contributions > 0)
        chosen = positive[np.argsort(-contributions[positive], kind="stable")[:top]]
        return {
            "method": METHOD,
            "label": label,
            "terms": [
                {"term": str(self._names[indices[i]]), "weight": round(float(contributions[i]), 4)}
                for i in chosen
            ],
        }


def explainer_for(model: Any) -> TermExplainer | None:
    """A TermExplainer for a trained model, or None when it has no terms (embeddings)."""
    vocabulary = getattr(model.featurizer, "vocabulary", None)
    if not vocabulary:
        return None
    weights = _label_weights(model.classifier, len(model.labels))
    if weights is None:
        return None
    names = np.empty(len(vocabulary), dtype=object)
    for term, index in vocabulary.items():
        names[index] = term
    return TermExplainer(tuple(model.labels), weights, names)


def _label_weights(classifier: Any, n_labels: int) -> np.ndarray | None:
    """One weight row per label, averaged over the calibration folds' regressions."""
    fitted = getattr(classifier, "calibrated_classifiers_", None)
    estimators = [c.estimator for c in fitted] if fitted else [classifier]
    rows = [getattr(e, "coef_", None) for e in estimators]
    if any(r is None for r in rows):
        return None
    coef = np.mean(np.stack([np.asarray(r, dtype=np.float64) for r in rows]), axis=0)
    if n_labels == 2 and coef.shape[0] == 1:
        # A binary regression keeps one row, the weights towards the second class.
        return np.vstack([-coef[0], coef[0]])
    # Softmax ignores a per-feature constant shared by every label: centre it away.
    centred: np.ndarray = coef - coef.mean(axis=0, keepdims=True)
    return centred
