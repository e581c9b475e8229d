"""Fisher-HSIC metric learning: the projection whose outputs depend most on the labels (Part II, chapter 5).

The Hilbert–Schmidt independence criterion (HSIC) of Gretton et al. (2005) measures the dependence
between two variables from their kernel matrices K and L on the same n samples,
HSIC = tr(K H L H) / (n − 1)², with H = I − 11ᵀ/n the centring matrix. With the linear kernel
K = X U Uᵀ Xᵀ on the projected data and L = Y Yᵀ on the one-hot labels, HSIC = tr(Uᵀ A U), with
A = Xᵀ H L H X / (n − 1)², a quadratic form in U. Fisher-HSIC maximizes it under Fisher's
normalization of the within-class scatter, Uᵀ S_w U = I, combining the two criteria as FISH-MML
(Zhang et al., 2018) does, here with a single view whose dependence on the labels is maximized; the
maximizers are the top generalized eigenvectors of A u = λ S_w u, Eq. (fs-fisher-hsic).
"""

from __future__ import annotations

import numpy as np
import scipy.linalg

from scratchbook._validation import check_array, check_n_components, check_real
from scratchbook.metric._base import MahalanobisMixin, relative_ridge
from scratchbook.metric.rca import within_chunklet_covariance

__all__ = ["hsic", "label_kernel", "FisherHSIC"]


def hsic(K, L) -> float:
    """Empirical HSIC of two n×n kernel matrices, tr(K H L H) / (n − 1)² (Gretton et al., 2005)."""
    K = check_array("K", K, ndim=2, square=True)
    L = check_array("L", L, ndim=2, square=True)
    if K.shape != L.shape:
        raise ValueError(f"K and L must have the same shape, got {K.shape} and {L.shape}")
    n = len(K)
    if n < 2:
        raise ValueError("K must have at least 2 rows")
    H = np.eye(n) - 1.0 / n
    return float(np.trace(K @ H @ L @ H) / (n - 1) ** 2)


def label_kernel(y) -> np.ndarray:
    """L = Y Yᵀ for one-hot labels Y: L_ij = 1 if samples i and j share a class, else 0."""
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D, got shape {y.shape}")
    return (y[:, None] == y[None, :]).astype(float)


class FisherHSIC(MahalanobisMixin):
    """Fisher-HSIC: L's rows maximize HSIC(projected data, labels) subject to Uᵀ S_w U = I.

    Parameters
    ----------
    n_components : int or None, default=None
        Number of directions; ``None`` keeps min(n_features, n_classes − 1), the rank of A.
    reg : float, default=1e-6
        Added to S_w's diagonal, in units of its mean eigenvalue, so that it is positive definite.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        Rows u_kᵀ with A u_k = λ_k S_w u_k and u_kᵀ S_w u_k = 1, signs fixed (largest entry positive).
    eigenvalues_ : ndarray of shape (n_components,)
        λ_k, the HSIC carried by each direction; their sum is the HSIC of the projection.
    """

    def __init__(self, n_components=None, reg=1e-6):
        self.n_components = n_components
        self.reg = reg

    @staticmethod
    def hsic_matrix(X: np.ndarray, y: np.ndarray) -> np.ndarray:
        """A = Xᵀ H L H X / (n − 1)², so that HSIC(XU, y) = tr(Uᵀ A U) for the linear kernel."""
        Xc = X - X.mean(axis=0)
        Y = (y[:, None] == np.unique(y)[None, :]).astype(float)
        B = Xc.T @ Y  # d×C: Xᵀ H Y, since H X = Xc
        return B @ B.T / (len(X) - 1) ** 2

    def _fit(self, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Solve A u = λ S_w u for the top directions."""
        d, n_classes = X.shape[1], len(np.unique(y))
        default = max(min(d, n_classes - 1), 1)
        k = default if self.n_components is None else check_n_components(self.n_components, d)
        reg = check_real("reg", self.reg, low=0.0, strict_low=True)
        A = self.hsic_matrix(X, y)
        Sw = within_chunklet_covariance(X, y)  # S_w, Eq. (rca-within) with each class as one chunklet
        Sw = relative_ridge(Sw, reg)
        lam, U = scipy.linalg.eigh(A, Sw)
        order = np.argsort(lam)[::-1][:k]
        lam, U = lam[order], U[:, order]
        signs = np.sign(U[np.argmax(np.abs(U), axis=0), np.arange(k)])
        self.eigenvalues_ = np.clip(lam, 0.0, None)
        return (U * np.where(signs == 0, 1.0, signs)).T
