"""Relevant component analysis, RCA (Part II, chapter 2, "Spectral metric learning").

A chunklet is a group of points known to share a label. The variation inside a chunklet is
irrelevant by definition, so RCA estimates its covariance, Eq. (rca-within), and whitens it away:
the metric is the inverse of that covariance and the map L = C^{-1/2}, Eq. (rca-metric). Here the
chunklets are drawn from the class labels.
"""

from __future__ import annotations

import numpy as np
from sklearn.utils import check_random_state

from scratchbook._validation import check_int, check_real
from scratchbook.metric._base import MahalanobisMixin, relative_ridge

__all__ = ["RCA", "make_chunklets", "chunklet_means", "within_chunklet_covariance", "inverse_sqrt"]

Array = np.ndarray


def make_chunklets(y: Array, num_chunks: int | None, chunk_size: int | None, rng) -> Array:
    """Chunklet index of each point (−1: in none); ``chunk_size=None`` makes each class one chunklet.

    Otherwise draw up to ``num_chunks`` disjoint chunklets of ``chunk_size`` points, each inside one
    class, spreading them over the classes in turn.
    """
    if chunk_size is None:
        return np.asarray(y, dtype=int).copy()
    chunks = np.full(len(y), -1, dtype=int)
    pools = [list(rng.permutation(np.flatnonzero(y == c))) for c in np.unique(y)]
    made = 0
    while made < num_chunks and any(len(p) >= chunk_size for p in pools):
        for pool in pools:
            if made < num_chunks and len(pool) >= chunk_size:
                chunks[[pool.pop() for _ in range(chunk_size)]] = made
                made += 1
    return chunks


def chunklet_means(X: Array, chunks: Array) -> tuple[Array, Array]:
    """The mean of each chunklet (rows) and each used point's mean (its chunklet's), for ``chunks >= 0``."""
    used = chunks >= 0
    ids, inverse = np.unique(chunks[used], return_inverse=True)
    sums = np.zeros((len(ids), X.shape[1]))
    np.add.at(sums, inverse, X[used])
    means = sums / np.bincount(inverse)[:, None]
    return means, means[inverse]


def within_chunklet_covariance(X: Array, chunks: Array, ddof: int = 0) -> Array:
    """C = 1/(N − ddof·J) Σ_j Σ_{x in chunklet j} (x − x̄_j)(x − x̄_j)ᵀ over the N points in J chunklets.

    ``ddof=0`` is Eq. (rca-within); ``ddof=1`` (one degree of freedom spent on each chunklet's mean) is
    the unbiased pooled within-class covariance when every class is one chunklet (``chunks=y``).
    """
    ddof = check_int("ddof", ddof, low=0)
    used = chunks >= 0
    if used.sum() == 0:
        raise ValueError("no chunklets: every class has fewer than chunk_size points")
    means, point_means = chunklet_means(X, chunks)
    dof = used.sum() - ddof * len(means)
    if dof <= 0:
        raise ValueError(f"ddof = {ddof} leaves no degrees of freedom: {used.sum()} points in {len(means)} chunklets")
    R = X[used] - point_means
    return R.T @ R / dof


def inverse_sqrt(C: Array, rel_floor: float = 1e-10) -> Array:
    """C^{-1/2} of a symmetric PSD matrix, with eigenvalues below rel_floor·λ_max treated as zero."""
    lam, V = np.linalg.eigh((C + C.T) / 2)
    keep = lam > rel_floor * max(lam.max(), np.finfo(float).tiny)
    inv = np.zeros_like(lam)
    inv[keep] = 1 / np.sqrt(lam[keep])
    return (V * inv) @ V.T


class RCA(MahalanobisMixin):
    """Relevant component analysis: whiten the within-chunklet covariance, L = (C + reg·I)^{-1/2}.

    Parameters
    ----------
    chunk_size : int or None, default=None
        Points per chunklet; ``None`` makes every class a single chunklet (no randomness).
    num_chunks : int, default=100
        Number of chunklets drawn when ``chunk_size`` is an int.
    reg : float, default=0.0
        Added to the diagonal of C (in units of its mean eigenvalue) before inverting.
    random_state : int, RandomState or None, default=None
        Seed of the chunklet draw.

    Attributes
    ----------
    components_ : ndarray of shape (n_features, n_features)
        The symmetric map L = C^{-1/2}; the metric is C^{-1}.
    chunks_ : ndarray of shape (n_samples,)
        Chunklet index of each training point (−1: in none).
    """

    def __init__(self, chunk_size=None, num_chunks=100, reg=0.0, random_state=None):
        self.chunk_size = chunk_size
        self.num_chunks = num_chunks
        self.reg = reg
        self.random_state = random_state

    def _chunks(self, y: Array) -> Array:
        """Validate the chunklet parameters and draw the chunklets."""
        size = None if self.chunk_size is None else check_int("chunk_size", self.chunk_size, low=2)
        num = check_int("num_chunks", self.num_chunks, low=1)
        self.chunks_ = make_chunklets(y, num, size, check_random_state(self.random_state))
        return self.chunks_

    def _fit(self, X: Array, y: Array) -> Array:
        """L = (C + reg·mean(λ)·I)^{-1/2} with C the within-chunklet covariance, Eq. (rca-metric)."""
        reg = check_real("reg", self.reg, low=0.0)
        C = within_chunklet_covariance(X, self._chunks(y))
        return inverse_sqrt(relative_ridge(C, reg))
