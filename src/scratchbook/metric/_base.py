"""What every supervised Mahalanobis learner of Part II shares: input checks, labels, transform.

A learner fits a linear map L (``components_``, k×d) and thereby the metric M = LᵀL
(``get_mahalanobis_matrix``); ``transform`` maps x to Lx, so Euclidean distances after the
transform are the learned Mahalanobis distances before it. Subclasses implement ``_fit(X, y)``,
which receives validated float data and labels encoded as 0, 1, …, and returns L.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

from scratchbook._validation import check_int, check_X
from scratchbook.metric.distances import mahalanobis_distances

__all__ = ["MahalanobisMixin", "sample_pairs", "default_num_constraints"]


def relative_ridge(C: np.ndarray, reg: float) -> np.ndarray:
    """C + reg·(tr C / d)·I: a ridge measured in units of C's mean eigenvalue, so ``reg`` is scale-free.

    A zero matrix (every chunklet or class a single repeated point) gets the ridge ``reg``·I instead
    of none, so the result is invertible whenever ``reg`` > 0.
    """
    d = len(C)
    return C + reg * (np.trace(C) / d or 1.0) * np.eye(d)


def sample_pairs(y: np.ndarray, num_constraints: int, rng) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw ``num_constraints`` pairs, half of the same class (δ = +1), half of different classes (δ = −1).

    Returns the index arrays i, j and the signs δ. Pairs are drawn with replacement among the
    valid ones, so a class with a single point simply contributes no similar pair.
    """
    n_similar = num_constraints // 2
    similar_exists = np.any(np.bincount(y) > 1)
    out_i, out_j, out_delta = [], [], []
    for delta, wanted in ((1, n_similar), (-1, num_constraints - n_similar)):
        i, j = [], []
        while len(i) < wanted and (delta == -1 or similar_exists):
            a = rng.randint(len(y), size=2 * wanted)
            b = rng.randint(len(y), size=2 * wanted)
            ok = (a != b) & ((y[a] == y[b]) if delta == 1 else (y[a] != y[b]))
            i.extend(a[ok])
            j.extend(b[ok])
        out_i += i[:wanted]
        out_j += j[:wanted]
        out_delta += [delta] * len(i[:wanted])
    return np.array(out_i, dtype=int), np.array(out_j, dtype=int), np.array(out_delta, dtype=int)


def default_num_constraints(n_classes: int, per_class_pair: int) -> int:
    """The default number of pairs of a pair learner: ``per_class_pair``·c² for c classes."""
    return per_class_pair * n_classes**2


class MahalanobisMixin(TransformerMixin, BaseEstimator):
    """Base class of the supervised metric learners: ``fit(X, y)``, ``transform`` and the metric M.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        The linear map L; the learned metric is M = LᵀL.
    classes_ : ndarray of shape (n_classes,)
        The labels seen in ``fit``.
    n_features_in_ : int
        Number of features seen in ``fit``.
    """

    def _validate(self, X, y=None, reset: bool = True):
        """scikit-learn's checks of X (and y), after naming X when it is not 2-D."""
        if y is None:
            return check_X(self, X, reset=reset)
        return check_X(self, X, y, reset=reset, min_samples=2)

    def _draw_constraints(self, y: np.ndarray, rng, per_class_pair: int | None = None) -> tuple:
        """The pairs of a fit, drawn by :func:`sample_pairs` and kept as ``constraints_`` (i, j, δ).

        Their number is ``self.num_constraints``; where that is ``None``, the learner's default
        :func:`default_num_constraints` with ``per_class_pair``.
        """
        num = self.num_constraints
        if num is None and per_class_pair is not None:
            num = default_num_constraints(len(np.unique(y)), per_class_pair)
        num = check_int("num_constraints", num, low=2)
        self.constraints_ = sample_pairs(y, num, rng)
        return self.constraints_

    def fit(self, X, y):
        """Learn the metric from data X (n×d) and class labels y (n,)."""
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is None")
        X, y = self._validate(X, y, reset=True)
        check_classification_targets(y)
        encoder = LabelEncoder().fit(y)
        self.classes_ = encoder.classes_
        if len(self.classes_) < 2:
            raise ValueError(f"y must contain at least 2 classes, got {len(self.classes_)}")
        self.components_ = self._fit(X, encoder.transform(y))
        return self

    def _fit(self, X: np.ndarray, y: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def transform(self, X):
        """Map each row x to Lx: Euclidean distances between outputs are learned distances."""
        check_is_fitted(self)
        X = self._validate(X, reset=False)
        return X @ self.components_.T

    def get_mahalanobis_matrix(self) -> np.ndarray:
        """The learned metric M = LᵀL, symmetric positive semidefinite, on the space L acts on.

        That is the input features (d×d) for every learner but KernelRCA, whose L acts on its kernel
        PCA coordinates (k×k).
        """
        check_is_fitted(self)
        return self.components_.T @ self.components_

    def pairwise_distances(self, X, Y=None) -> np.ndarray:
        """Learned distances d_M(x_i, y_j) between the rows of X and of Y (default Y = X)."""
        check_is_fitted(self)
        XL = self.transform(X)
        return mahalanobis_distances(XL, None if Y is None else self.transform(Y))  # ‖Lx − Ly‖

    @property
    def _n_features_out(self) -> int:
        return self.components_.shape[0]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags
