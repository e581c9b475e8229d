"""Neighbourhood components analysis, NCA (Part II, chapter 3, "Probabilistic metric learning").

Each point picks a neighbour at random with probabilities that decay with the distance after the
map L, Eq. (nca-pij); NCA maximizes the expected number of points that pick a neighbour of their
own class, Eq. (nca-objective), by gradient ascent on L with the gradient of Eq. (nca-grad).
Following scikit-learn, the optimizer minimizes the *negative* of that number with L-BFGS-B, and
``nca_loss_grad`` returns exactly the loss and gradient scikit-learn uses.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize
from sklearn.decomposition import PCA
from sklearn.utils import check_random_state

from scratchbook._validation import check_int, check_n_components, check_option, check_real
from scratchbook.metric._base import MahalanobisMixin
from scratchbook.metric.distances import squared_euclidean

__all__ = ["NCA", "neighbor_probabilities", "nca_loss_grad", "nca_objective_plain"]

Array = np.ndarray
INITS = ("auto", "identity", "pca", "random")


def neighbor_probabilities(XL: Array) -> Array:
    """p_ij, the softmax over j ≠ i of −‖Lx_i − Lx_j‖², from the mapped points XL (n×k), Eq. (nca-pij)."""
    P = squared_euclidean(XL, XL)
    np.fill_diagonal(P, np.inf)  # a point never picks itself: p_ii = 0
    P -= P.min(axis=1, keepdims=True)  # shift each row: the softmax is unchanged, exp ≤ 1
    np.exp(np.negative(P, out=P), out=P)  # in place: n×n arrays dominate the cost
    P /= P.sum(axis=1, keepdims=True)
    return P


def nca_loss_grad(L: Array, X: Array, same_class: Array) -> tuple[float, Array]:
    """Loss −f(L) = −Σ_i p_i (minus the expected number of correct picks) and its gradient, Eq. (nca-grad).

    ``L`` is k×d (or its ravel), ``X`` n×d, ``same_class`` the n×n boolean matrix [y_i = y_j].
    """
    L = L.reshape(-1, X.shape[1])
    XL = X @ L.T
    P = neighbor_probabilities(XL)
    P_same = np.where(same_class, P, 0.0)
    p = P_same.sum(axis=1)  # p_i: probability that x_i picks its own class
    Omega = np.multiply(P, p[:, None], out=P)
    Omega -= P_same  # Ω_ij = p_ij (p_i − [y_i = y_j]); rows sum to 0
    # −∂f/∂L = −2L Σ_ij Ω_ij v_ij v_ijᵀ = 2 [(Ω + Ωᵀ − diag(1ᵀΩ)) XL]ᵀ X, Eq. (nca-grad-matrix)
    OXL = Omega @ XL
    OXL += Omega.T @ XL
    OXL -= Omega.sum(axis=0)[:, None] * XL
    grad = 2.0 * OXL.T @ X
    return -float(p.sum()), grad.ravel()


def nca_objective_plain(L: Array, X: Array, y: Array) -> tuple[float, Array]:
    """f(L) = Σ_i p_i and ∂f/∂L written term by term as Eqs. (nca-pij) and (nca-grad): the teaching version.

    It forms all n² differences v_ij (O(n² d²) work); :func:`nca_loss_grad` computes the same numbers,
    negated, in O(n² k) through Eq. (nca-grad-matrix).
    """
    L = L.reshape(-1, X.shape[1])
    V = X[:, None, :] - X[None, :, :]  # v_ij = x_i − x_j, n×n×d
    d = np.sum((V @ L.T) ** 2, axis=-1)  # d_ij = ‖L v_ij‖²
    np.fill_diagonal(d, np.inf)  # p_ii = 0
    P = np.exp(-(d - d.min(axis=1, keepdims=True)))
    P = P / P.sum(axis=1, keepdims=True)  # p_ij, Eq. (nca-pij)
    same = y[:, None] == y[None, :]
    p = np.sum(P * same, axis=1)  # p_i = Σ_{j ∈ C_i} p_ij
    outer = V[:, :, :, None] * V[:, :, None, :]  # v_ij v_ijᵀ, n×n×d×d
    all_k = np.einsum("ik,ikab->iab", P, outer)  # Σ_k p_ik v_ik v_ikᵀ, for each i
    own = np.einsum("ij,ijab->iab", P * same, outer)  # Σ_{j ∈ C_i} p_ij v_ij v_ijᵀ
    grad = 2 * L @ np.sum(p[:, None, None] * all_k - own, axis=0)  # Eq. (nca-grad)
    return float(p.sum()), grad


class NCA(MahalanobisMixin):
    """Neighbourhood components analysis: a linear map L that makes stochastic nearest neighbours right.

    Parameters
    ----------
    n_components : int or None, default=None
        Number of rows k of L (the output dimension); ``None`` means k = n_features.
    init : {"auto", "identity", "pca", "random"}, default="auto"
        Starting L: the first k rows of the identity, the top k principal axes, or Gaussian entries;
        "auto" is "identity" when k = n_features and "pca" otherwise.
    max_iter : int, default=50
        Maximum number of L-BFGS-B iterations (scikit-learn's default).
    tol : float, default=1e-5
        Tolerance passed to ``scipy.optimize.minimize`` (scikit-learn's default).
    random_state : int, RandomState or None, default=None
        Seed of the "random" start and of the randomized PCA of the "pca" start.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        The learned map L.
    n_iter_ : int
        Number of L-BFGS-B iterations run (at least 1).
    loss_ : float
        Final loss −f(L) = −Σ_i p_i, minus the expected number of correct stochastic picks.
    """

    def __init__(self, n_components=None, init="auto", max_iter=50, tol=1e-5, random_state=None):
        self.n_components = n_components
        self.init = init
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state

    def _start(self, X: Array) -> Array:
        """The starting map L (k×d) chosen by ``init``."""
        d = X.shape[1]
        k = check_n_components(self.n_components, d)
        init = check_option("init", self.init, INITS)
        if init == "auto":
            init = "identity" if k == d else "pca"
        rng = check_random_state(self.random_state)
        if init == "identity":
            return np.eye(k, d)
        if init == "random":
            return rng.standard_normal((k, d))
        if k > min(X.shape):
            raise ValueError(f"init='pca' needs n_components <= min(n_samples, n_features), got {k}")
        return PCA(k, random_state=rng).fit(X).components_

    def _fit(self, X: Array, y: Array) -> Array:
        """Minimize −Σ_i p_i over L with L-BFGS-B from the chosen start."""
        max_iter = check_int("max_iter", self.max_iter, low=1)
        tol = check_real("tol", self.tol, low=0.0)
        L0 = self._start(X)
        same_class = y[:, None] == y[None, :]
        result = minimize(
            nca_loss_grad,
            L0.ravel(),
            args=(X, same_class),
            jac=True,
            method="L-BFGS-B",
            tol=tol,
            options={"maxiter": max_iter},
        )
        self.n_iter_ = max(int(result.nit), 1)
        self.loss_ = float(result.fun)
        return result.x.reshape(L0.shape)
