"""Discriminative component analysis, DCA (Part II, chapter 2, "Spectral metric learning").

DCA keeps RCA's chunklets but also uses which chunklets are known to differ: it maximizes the
spread between the means of discriminative chunklet pairs relative to the spread inside the
chunklets, det(L C_b Lᵀ) / det(L C_w Lᵀ), Eq. (dca-ratio). The rows of L are the top eigenvectors of the
generalized eigenproblem C_b l = λ C_w l, Eq. (dca-eig), scaled so that lᵀC_w l = 1.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
from sklearn.utils import check_random_state

from scratchbook._validation import check_int, check_n_components, check_real
from scratchbook.metric._base import MahalanobisMixin, relative_ridge
from scratchbook.metric.rca import chunklet_means, make_chunklets, within_chunklet_covariance

__all__ = ["DCA", "between_chunklet_scatter", "dca_directions"]

Array = np.ndarray


def between_chunklet_scatter(X: Array, chunks: Array, chunk_labels: Array) -> Array:
    """C_b: mean of (x̄_j − x̄_j')(x̄_j − x̄_j')ᵀ over chunklet pairs with different labels, Eq. (dca-between)."""
    means, _ = chunklet_means(X, chunks)
    j, k = np.triu_indices(len(means), 1)
    differ = chunk_labels[j] != chunk_labels[k]
    D = means[j[differ]] - means[k[differ]]
    return D.T @ D / max(len(D), 1)


def dca_directions(Cb: Array, Cw: Array, n_components: int) -> tuple[Array, Array]:
    """Top ``n_components`` generalized eigenpairs of C_b l = λ C_w l (lᵀC_w l = 1), Eq. (dca-eig); l as columns."""
    lam, vectors = scipy.linalg.eigh(Cb, Cw)
    order = np.argsort(lam)[::-1][:n_components]
    return lam[order], vectors[:, order]


class DCA(MahalanobisMixin):
    """Discriminative component analysis: L's rows are the top generalized eigenvectors of (C_b, C_w).

    Parameters
    ----------
    n_components : int or None, default=None
        Number of directions; ``None`` keeps those with a positive eigenvalue (at most the number
        of chunklets minus one).
    chunk_size, num_chunks, random_state
        The chunklets, as in :class:`~scratchbook.metric.rca.RCA` (default: one per class).
    reg : float, default=1e-6
        Added to C_w's diagonal (in units of its mean eigenvalue) so that it is positive definite.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        Rows l_kᵀ with C_b l_k = λ_k C_w l_k and l_kᵀ C_w l_k = 1.
    eigenvalues_ : ndarray of shape (n_components,)
        The ratios λ_k of between- to within-chunklet spread along each direction.
    """

    def __init__(self, n_components=None, chunk_size=None, num_chunks=100, reg=1e-6, random_state=None):
        self.n_components = n_components
        self.chunk_size = chunk_size
        self.num_chunks = num_chunks
        self.reg = reg
        self.random_state = random_state

    def _fit(self, X: Array, y: Array) -> Array:
        """Build C_w and C_b from the chunklets and solve Eq. (dca-eig)."""
        d = X.shape[1]
        k = None if self.n_components is None else check_n_components(self.n_components, d)
        reg = check_real("reg", self.reg, low=0.0, strict_low=True)
        size = None if self.chunk_size is None else check_int("chunk_size", self.chunk_size, low=2)
        num = check_int("num_chunks", self.num_chunks, low=1)
        chunks = make_chunklets(y, num, size, check_random_state(self.random_state))
        ids = np.unique(chunks[chunks >= 0])
        chunk_labels = np.array([y[chunks == c][0] for c in ids])
        Cw = within_chunklet_covariance(X, chunks)
        Cw = relative_ridge(Cw, reg)
        Cb = between_chunklet_scatter(X, chunks, chunk_labels)
        lam, vectors = dca_directions(Cb, Cw, d)
        if k is None:
            k = max(int(np.sum(lam > 1e-10 * max(lam[0], np.finfo(float).tiny))), 1)
        self.eigenvalues_ = lam[:k]
        return vectors[:, :k].T
