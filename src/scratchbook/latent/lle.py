"""Locally linear embedding (chapter "Locally linear embedding").

A neighbour search and two steps, one function each, as in Roweis and Saul (2000):

* ``knn_indices``: the k nearest neighbours of every point;
* the weight step, ``reconstruction_weights``: the weights, summing to one, that rebuild each point
  from its neighbours with the least squared error (Eq. (lle-weights-closed), regularised as
  scikit-learn does, Eq. (lle-reg));
* the embedding step, ``lle_embedding``: the low-dimensional points that the same weights rebuild
  best, the bottom eigenvectors of M = (I − W)ᵀ(I − W) after the constant one (Eq. (lle-eig)).

``local_gram`` (the regularised Gram matrices of the weight step) and ``weight_matrix`` (the n×n
sparse W) are shared with the stochastic version of the weight step in ``stochastic_lle``."""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.linalg import eigh
from scipy.sparse.linalg import eigsh
from scipy.stats import spearmanr
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.neighbors import NearestNeighbors
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from scratchbook._validation import check_int, check_n_components, check_option, check_real, check_X

__all__ = [
    "LLE",
    "knn_indices",
    "local_gram",
    "reconstruction_weights",
    "weight_matrix",
    "lle_embedding",
    "unrolled",
]

EIGEN_SOLVERS = ("auto", "dense", "arpack")


def knn_indices(X: np.ndarray, n_neighbors: int, queries: np.ndarray | None = None) -> np.ndarray:
    """Indices (m×k) of the k rows of X nearest to each query (default: each row of X, itself left out)."""
    if queries is None:  # ask for one more neighbour and drop the first column: the point itself
        nn = NearestNeighbors(n_neighbors=n_neighbors + 1).fit(X)
        return nn.kneighbors(X, return_distance=False)[:, 1:]
    nn = NearestNeighbors(n_neighbors=n_neighbors).fit(X)
    return nn.kneighbors(queries, return_distance=False)


def local_gram(points: np.ndarray, neighbors: np.ndarray, reg: float = 1e-3) -> tuple[np.ndarray, np.ndarray]:
    """Regularised local Gram matrices G_i + λ_i I (m×k×k) and ridges λ_i = reg·tr G_i, Eq. (lle-reg).

    ``points`` is m×d, ``neighbors`` m×k×d (the k neighbours of each point, as rows).
    """
    D = neighbors - points[:, None, :]  # differences x_j − x_i, m×k×d
    G = D @ D.transpose(0, 2, 1)  # G_i[j, l] = (x_j − x_i)·(x_l − x_i)
    trace = np.trace(G, axis1=1, axis2=2)
    lam = np.where(trace > 0, reg * trace, reg)  # scale-free ridge, as scikit-learn
    k = G.shape[1]
    G[:, np.arange(k), np.arange(k)] += lam[:, None]
    return G, lam


def reconstruction_weights(points: np.ndarray, neighbors: np.ndarray, reg: float = 1e-3) -> np.ndarray:
    """Weights (m×k) summing to one that best rebuild each point from its neighbours, Eq. (lle-weights-closed)."""
    M, _ = local_gram(points, neighbors, reg)
    w = np.linalg.solve(M, np.ones(M.shape[:2] + (1,)))[..., 0]  # solve M_i w = 1 ...
    return w / w.sum(axis=1, keepdims=True)  # ... and rescale to Σ_j w_j = 1


def weight_matrix(indices: np.ndarray, weights: np.ndarray, n_samples: int) -> sparse.csr_array:
    """The sparse n×n matrix W with W[i, indices[i, j]] = weights[i, j]."""
    m, k = indices.shape
    indptr = np.arange(0, m * k + 1, k)
    return sparse.csr_array((weights.ravel(), indices.ravel(), indptr), shape=(m, n_samples))


ARPACK_DEFAULTS = (1e-6, 100)
"""arpack's tolerance and iteration cap in :class:`LLE` (scikit-learn's defaults), for the subclasses
whose ``tol`` and ``max_iter`` belong to EM."""


def lle_embedding(
    W: sparse.csr_array,
    n_components: int,
    eigen_solver: str = "auto",
    tol: float = 1e-6,
    max_iter: int = 100,
    random_state=None,
) -> tuple[np.ndarray, float]:
    """Bottom eigenvectors of M = (I − W)ᵀ(I − W) but the constant one, and their eigenvalue sum, Eq. (lle-eig).

    ``eigen_solver="dense"`` diagonalises M with LAPACK; ``"arpack"`` finds the few smallest
    eigenpairs of the sparse M by shift-invert Lanczos around 0, as scikit-learn does;
    ``"auto"`` takes arpack for more than 200 points and fewer than 10 eigenvectors.
    """
    n = W.shape[0]
    if eigen_solver == "auto":
        eigen_solver = "arpack" if n > 200 and n_components + 1 < 10 else "dense"
    I_minus_W = sparse.eye_array(n, format="csr") - W
    M = I_minus_W.T @ I_minus_W
    if eigen_solver == "dense":
        values, vectors = eigh(M.toarray(), subset_by_index=(1, n_components))
        order = np.argsort(np.abs(values))
        return vectors[:, order], float(np.sum(values))
    v0 = check_random_state(random_state).uniform(-1, 1, n)
    values, vectors = eigsh(M, n_components + 1, sigma=0.0, tol=tol, maxiter=max_iter, v0=v0)
    return vectors[:, 1:], float(np.sum(values[1:]))


def unrolled(Y: np.ndarray, t: np.ndarray) -> float:
    """Absolute Spearman correlation of ``t`` (position along a sheet) with its best-matching embedding coordinate."""
    Y, t = np.asarray(Y, dtype=float), np.asarray(t, dtype=float)
    if Y.ndim != 2 or t.shape != (len(Y),):
        raise ValueError(f"Y must be (n, c) and t (n,), got Y{Y.shape} and t{t.shape}")
    return float(max(abs(spearmanr(Y[:, c], t)[0]) for c in range(Y.shape[1])))


class LLE(TransformerMixin, BaseEstimator):
    """Locally linear embedding (the standard method) with scikit-learn's estimator API.

    Parameters
    ----------
    n_neighbors : int, default=5
        Number k of neighbours from which each point is rebuilt.
    n_components : int, default=2
        Dimension of the embedding.
    reg : float, default=1e-3
        Ridge added to each local Gram matrix, relative to its trace, Eq. (lle-reg).
    eigen_solver : {"auto", "dense", "arpack"}, default="auto"
        How the bottom eigenvectors are found (see :func:`lle_embedding`).
    tol : float, default=1e-6
        Tolerance of arpack (unused by "dense").
    max_iter : int, default=100
        Iteration cap of arpack (unused by "dense").
    random_state : int, RandomState or None, default=None
        Seed of arpack's starting vector.

    Attributes
    ----------
    embedding_ : ndarray of shape (n_samples, n_components)
        The embedding of the training points.
    reconstruction_error_ : float
        Sum of the kept eigenvalues of M = (I − W)ᵀ(I − W).
    neighbors_ : ndarray of shape (n_samples, n_neighbors)
        Indices of each training point's neighbours.
    weights_ : ndarray of shape (n_samples, n_neighbors)
        Reconstruction weights, each row summing to one.
    X_fit_ : ndarray of shape (n_samples, n_features)
        The training data, which ``transform`` needs.
    n_features_in_ : int
        Number of features seen by ``fit``.
    """

    def __init__(
        self, n_neighbors=5, n_components=2, reg=1e-3, eigen_solver="auto", tol=1e-6, max_iter=100, random_state=None
    ):
        self.n_neighbors = n_neighbors
        self.n_components = n_components
        self.reg = reg
        self.eigen_solver = eigen_solver
        self.tol = tol
        self.max_iter = max_iter
        self.random_state = random_state

    def _validate(self, X) -> np.ndarray:
        """Check X and the hyper-parameters against it; every error names the argument at fault."""
        X = check_X(self, X, reset=True, min_samples=2)
        n, d = X.shape
        if check_int("n_neighbors", self.n_neighbors, low=1) >= n:
            raise ValueError(f"n_neighbors must be < n_samples={n}, got {self.n_neighbors}")
        check_n_components(self.n_components, d, allow_none=False)
        if self.n_components >= n:
            raise ValueError(f"n_components must be < n_samples={n}, got {self.n_components}")
        if self.n_components >= self.n_neighbors:
            raise ValueError(
                f"n_components must be < n_neighbors={self.n_neighbors}, got {self.n_components}: "
                "each point's weights must leave room for the embedding (Roweis and Saul need k > n_components)"
            )
        check_real("reg", getattr(self, "reg", 0.0), low=0.0)  # models without a ridge have no reg
        check_option("eigen_solver", self.eigen_solver, EIGEN_SOLVERS)
        check_real("tol", self.tol, low=0.0)
        check_int("max_iter", self.max_iter, low=1)
        return X

    def _embed(self, weights: np.ndarray, tol: float, max_iter: int) -> None:
        """Set ``embedding_`` and ``reconstruction_error_`` from the n×k reconstruction weights; ``tol`` and
        ``max_iter`` go to arpack."""
        W = weight_matrix(self.neighbors_, weights, len(self.neighbors_))
        rng = check_random_state(self.random_state)
        self.embedding_, self.reconstruction_error_ = lle_embedding(
            W, self.n_components, self.eigen_solver, tol, max_iter, rng
        )

    def fit(self, X, y=None):
        """Find the neighbours, the reconstruction weights and the embedding of X."""
        X = self._validate(X)
        self.X_fit_ = X
        self.neighbors_ = knn_indices(X, self.n_neighbors)
        self.weights_ = reconstruction_weights(X, X[self.neighbors_], self.reg)
        self._embed(self.weights_, self.tol, self.max_iter)
        return self

    def fit_transform(self, X, y=None):
        """Fit and return the embedding of the training points."""
        return self.fit(X).embedding_

    def transform(self, X):
        """Embed new points: rebuild each from its training neighbours, then reuse the weights on their embeddings."""
        check_is_fitted(self)
        X = check_X(self, X, reset=False)
        ind = knn_indices(self.X_fit_, self.n_neighbors, queries=X)
        w = reconstruction_weights(X, self.X_fit_[ind], self.reg)
        return np.einsum("mk,mkc->mc", w, self.embedding_[ind])

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64"]
        return tags
