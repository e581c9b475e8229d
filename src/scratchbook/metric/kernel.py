"""Kernel RCA: a spectral metric learned in a kernel feature space (Part II, chapter 2).

A Mahalanobis metric in the feature space of a kernel, d(x, y)² = (φ(x) − φ(y))ᵀ M (φ(x) − φ(y)),
only ever meets the training features through inner products when M is built from them: the
kernel trick. Concretely, kernel PCA gives every point coordinates in the span of the training
features, Eq. (kernel-coords); any linear learner run on those coordinates is its kernelized
version. Here that learner is RCA, so the metric whitens the within-class variation in feature space.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics.pairwise import rbf_kernel
from sklearn.utils.validation import check_is_fitted

from scratchbook._validation import check_n_components, check_real
from scratchbook.metric._base import MahalanobisMixin, relative_ridge
from scratchbook.metric.rca import inverse_sqrt, within_chunklet_covariance

__all__ = ["KernelRCA", "center_kernel"]

Array = np.ndarray


def center_kernel(K: Array, K_train: Array) -> Array:
    """Center a kernel block K (m×n, against the n training points) as if φ had zero training mean."""
    col = K_train.mean(axis=0)
    return K - K.mean(axis=1, keepdims=True) - col[None, :] + col.mean()


class KernelRCA(MahalanobisMixin):
    """RCA on kernel PCA coordinates with an RBF kernel: a non-linear map, a Mahalanobis metric in feature space.

    Parameters
    ----------
    gamma : float or None, default=None
        RBF width, k(x, y) = exp(−γ‖x − y‖²); ``None`` means 1 / n_features.
    n_components : int or None, default=None
        Kernel PCA coordinates kept; ``None`` keeps those with eigenvalue above 1e-8·λ_max (at most
        n_samples − 1).
    reg : float, default=1e-3
        Added to the within-class covariance's diagonal (in units of its mean eigenvalue).

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_components)
        The RCA map L acting on the kernel PCA coordinates; M = LᵀL is the metric there, so
        ``get_mahalanobis_matrix()`` is k×k for the k = n_components coordinates, not d×d.
    X_fit_ : ndarray of shape (n_samples, n_features)
        The training points the kernel is evaluated against.
    """

    def __init__(self, gamma=None, n_components=None, reg=1e-3):
        self.gamma = gamma
        self.n_components = n_components
        self.reg = reg

    def _kernel(self, X: Array) -> Array:
        return rbf_kernel(X, self.X_fit_, gamma=self.gamma_)

    def features(self, X) -> Array:
        """Kernel PCA coordinates of X: centered k(x, X_fit) times U Λ^{-1/2}, Eq. (kernel-coords)."""
        check_is_fitted(self)
        X = self._validate(X, reset=False)
        return center_kernel(self._kernel(X), self.K_fit_) @ self.alphas_

    def _fit(self, X: Array, y: Array) -> Array:
        """Kernel PCA of the training points, then RCA with one chunklet per class on its coordinates."""
        self.gamma_ = (
            1.0 / X.shape[1] if self.gamma is None else check_real("gamma", self.gamma, low=0.0, strict_low=True)
        )
        reg = check_real("reg", self.reg, low=0.0)
        self.X_fit_ = X
        self.K_fit_ = rbf_kernel(X, X, gamma=self.gamma_)
        lam, U = np.linalg.eigh(center_kernel(self.K_fit_, self.K_fit_))
        lam, U = lam[::-1], U[:, ::-1]
        keep = int(np.sum(lam > 1e-8 * lam[0]))
        if self.n_components is not None:
            keep = check_n_components(self.n_components, keep, bound="the kernel's numerical rank here")
        self.alphas_ = U[:, :keep] / np.sqrt(lam[:keep])
        F = center_kernel(self.K_fit_, self.K_fit_) @ self.alphas_  # = U Λ^{1/2}: training coordinates
        C = within_chunklet_covariance(F, y)
        C = relative_ridge(C, reg)
        return inverse_sqrt(C)

    def transform(self, X) -> Array:
        """The non-linear map x ↦ L·(kernel PCA coordinates of x)."""
        return self.features(X) @ self.components_.T
