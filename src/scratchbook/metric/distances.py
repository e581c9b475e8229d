"""Distances and the cone of positive semidefinite matrices (Part II, chapter 1).

A positive semidefinite (PSD) d×d matrix M defines the generalized Mahalanobis distance
d_M(x, y) = sqrt((x − y)ᵀ M (x − y)), Eq. (gm-distance). Writing M = LᵀL turns it into the
Euclidean distance between Lx and Ly, Eq. (gm-factor): every learner of this part transforms data
that way. ``project_psd`` is the step that keeps a learned M a metric, Eq. (psd-proj). The chapter
writes the metric as W; the code calls it M, as ``get_mahalanobis_matrix`` does.
"""

from __future__ import annotations

import numpy as np

from scratchbook._validation import check_array

__all__ = [
    "squared_euclidean",
    "mahalanobis_distances",
    "project_psd",
    "components_from_metric",
    "check_metric_matrix",
]

Array = np.ndarray
PSD_TOL = 1e-8  # eigenvalues above −PSD_TOL·max|λ| count as non-negative (round-off)


def check_metric_matrix(M, n_features: int | None = None) -> Array:
    """Return M as a float array after checking it is square, symmetric, PSD and matches ``n_features``."""
    M = check_array("M", M, ndim=2, square=True)
    if n_features is not None and M.shape[0] != n_features:
        raise ValueError(f"M must be {n_features}×{n_features} to match the data, got shape {M.shape}")
    scale = max(np.abs(M).max(), np.finfo(float).tiny)
    if np.abs(M - M.T).max() > 1e-10 * scale:
        raise ValueError("M must be symmetric")
    if np.linalg.eigvalsh(M).min() < -PSD_TOL * scale:
        raise ValueError("M must be positive semidefinite (use project_psd to make it so)")
    return M


def squared_euclidean(A: Array, B: Array) -> Array:
    """Squared Euclidean distances between the rows of A (n×k) and of B (m×k), clipped at 0."""
    D = A @ B.T
    D *= -2.0  # ‖a‖² + ‖b‖² − 2aᵀb, built in place
    D += np.einsum("ij,ij->i", A, A)[:, None]
    D += np.einsum("ij,ij->i", B, B)[None, :]
    return np.maximum(D, 0.0, out=D)  # round-off can push it slightly below 0


def mahalanobis_distances(X, Y=None, M=None, *, squared: bool = False) -> Array:
    """Generalized Mahalanobis distances d_M(x_i, y_j) between rows of X and Y, Eq. (gm-distance).

    ``Y=None`` means Y = X (the diagonal is then exactly 0); ``M=None`` means the identity
    (Euclidean distances). ``squared=True`` returns (x − y)ᵀ M (x − y).
    """
    X = check_array("X", X, ndim=2)
    Yv = X if Y is None else check_array("Y", Y, ndim=2)
    if Yv.shape[1] != X.shape[1]:
        raise ValueError(f"Y must have as many columns as X ({X.shape[1]}), got {Yv.shape[1]}")
    if M is None:
        XL, YL = X, Yv
    else:
        L = components_from_metric(check_metric_matrix(M, X.shape[1]))
        XL = X @ L.T
        YL = XL if Y is None else Yv @ L.T
    D = squared_euclidean(XL, YL)  # Eq. (gm-factor): d_M(x, y) = ‖Lx − Ly‖
    if Y is None:
        np.fill_diagonal(D, 0.0)
    return D if squared else np.sqrt(D, out=D)


def project_psd(M) -> Array:
    """Nearest PSD matrix to M in the Frobenius norm: clip the negative eigenvalues, Eq. (psd-proj).

    A non-symmetric M is first replaced by its symmetric part (M + Mᵀ)/2, whose projection is also
    the nearest PSD matrix to M itself.
    """
    M = check_array("M", M, ndim=2, square=True)
    S = (M + M.T) / 2
    lam, V = np.linalg.eigh(S)  # S = V diag(λ) Vᵀ
    return (V * np.maximum(lam, 0.0)) @ V.T  # V diag(max(λ, 0)) Vᵀ


def components_from_metric(M: Array) -> Array:
    """A matrix L with LᵀL = M (rows ordered by decreasing eigenvalue of M), Eq. (gm-factor).

    L = Λ^{1/2} Vᵀ from the eigendecomposition M = VΛVᵀ, that is Uᵀ for the factor U = VΛ^{1/2} of
    the chapter; tiny negative eigenvalues from round-off are treated as 0.
    """
    lam, V = np.linalg.eigh((M + M.T) / 2)
    lam, V = lam[::-1], V[:, ::-1]
    return np.sqrt(np.maximum(lam, 0.0))[:, None] * V.T
