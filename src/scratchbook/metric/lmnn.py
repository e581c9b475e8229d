"""Large-margin nearest neighbours, LMNN (Part II, chapter 2, "Spectral metric learning").

Each point gets k *target neighbours*, its nearest points of the same class under the Euclidean
distance. LMNN pulls every point towards its targets and pushes away *impostors*: points of another
class that come within a unit margin of a target, Eq. (lmnn-loss). The loss is piecewise quadratic
in L; its gradient, Eq. (lmnn-grad), is a weighted sum of pair terms (Lv)vᵀ, and only pairs with an
impostor inside the margin contribute, so the code lists those pairs instead of all n² k triplets.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize
from sklearn.decomposition import PCA

from scratchbook._validation import check_int, check_n_components, check_real
from scratchbook.metric._base import MahalanobisMixin
from scratchbook.metric.distances import squared_euclidean

__all__ = ["LMNN", "target_neighbors", "lmnn_loss_grad", "lmnn_loss_grad_plain"]

Array = np.ndarray


def target_neighbors(X: Array, y: Array, n_neighbors: int) -> Array:
    """Indices (n×k) of each point's k nearest neighbours of the same class, Euclidean distance."""
    counts = np.bincount(y)
    if counts[counts > 0].min() <= n_neighbors:
        raise ValueError(
            f"n_neighbors must be < the size of the smallest class ({counts[counts > 0].min()}), got {n_neighbors}"
        )
    D = squared_euclidean(X, X)
    D[y[:, None] != y[None, :]] = np.inf
    np.fill_diagonal(D, np.inf)
    T = np.argpartition(D, n_neighbors - 1, axis=1)[:, :n_neighbors]
    order = np.argsort(np.take_along_axis(D, T, axis=1), axis=1, kind="stable")
    return np.take_along_axis(T, order, axis=1)


def lmnn_loss_grad_plain(L: Array, X: Array, y: Array, targets: Array, mu: float = 0.5) -> tuple[float, Array]:
    """Eq. (lmnn-loss) and its gradient (lmnn-grad) as written, one (point, target) pair at a time.

    The teaching version: every other-class point is tried as an impostor. :func:`lmnn_loss_grad`
    computes the same numbers after screening the candidates once.
    """
    L = L.reshape(-1, X.shape[1])
    loss, G = 0.0, np.zeros((X.shape[1], X.shape[1]))  # G = Σ c_ab v_ab v_abᵀ; the gradient is 2 L G
    for i in range(len(X)):
        others = np.flatnonzero(y != y[i])
        v_il = X[i] - X[others]  # differences to every candidate impostor l
        d_il = np.sum((v_il @ L.T) ** 2, axis=1)
        for j in targets[i]:
            v_ij = X[i] - X[j]
            d_ij = np.sum((L @ v_ij) ** 2)
            hinge = 1 + d_ij - d_il  # one margin term per impostor candidate
            active = hinge > 0
            loss += (1 - mu) * d_ij + mu * hinge[active].sum()
            G += ((1 - mu) + mu * active.sum()) * np.outer(v_ij, v_ij)  # pull, and the targets' side of the hinges
            G -= mu * v_il[active].T @ v_il[active]  # the impostors' side of the hinges
    return float(loss), (2 * L @ G).ravel()


def lmnn_loss_grad(L: Array, X: Array, y: Array, targets: Array, mu: float = 0.5) -> tuple[float, Array]:
    """LMNN loss (1 − μ)·pull + μ·push of Eq. (lmnn-loss) and its gradient in L, Eq. (lmnn-grad).

    ``L`` is k×d (or its ravel), ``targets`` the n×K target-neighbour indices.
    """
    L = L.reshape(-1, X.shape[1])
    Z = X @ L.T
    n = len(X)
    rows = np.arange(n)
    pull = np.sum((Z[:, None, :] - Z[targets]) ** 2, axis=-1)  # d(i, j) for each target j of i
    # Candidate impostors: other-class points inside the margin of i's farthest target. The n×n
    # screen runs in float32 with a safety margin; the distances used below are exact.
    Z32 = Z.astype(np.float32)
    radius = (1.0 + pull.max(axis=1)) * (1 + 1e-4) + 1e-4
    screen = squared_euclidean(Z32, Z32) < radius[:, None].astype(np.float32)
    screen &= y[:, None] != y[None, :]
    cand_i, cand_l = np.nonzero(screen)
    dist = np.sum((Z[cand_i] - Z[cand_l]) ** 2, axis=1)
    hinge = 1.0 + pull[cand_i] - dist[:, None]  # one column per target neighbour
    active = hinge > 0
    loss = (1 - mu) * pull.sum() + mu * hinge[active].sum()
    # Coefficients c_p of the pair terms ‖L(x_a − x_b)‖²: targets get (1 − μ) + μ·#active impostors,
    # each impostor pair (i, l) gets −μ·#targets it violates.
    K = targets.shape[1]
    violations = np.stack([np.bincount(cand_i, weights=active[:, m], minlength=n) for m in range(K)], axis=1)
    target_coef = (1 - mu) + mu * violations
    push_coef = -mu * active.sum(axis=1)
    a = np.concatenate([np.repeat(rows, K), cand_i])
    b = np.concatenate([targets.ravel(), cand_l])
    c = np.concatenate([target_coef.ravel(), push_coef])
    grad = 2.0 * (c[:, None] * (Z[a] - Z[b])).T @ (X[a] - X[b])  # Σ_p c_p 2 L v_p v_pᵀ
    return float(loss), grad.ravel()


class LMNN(MahalanobisMixin):
    """Large-margin nearest neighbours: pull target neighbours in, push impostors out by a margin.

    Parameters
    ----------
    n_neighbors : int, default=3
        Number k of target neighbours per point (each class needs more than k points).
    n_components : int or None, default=None
        Rows of L; ``None`` means n_features (identity start), fewer starts from PCA.
    mu : float in [0, 1], default=0.5
        Weight of the push term; the pull term has weight 1 − μ.
    max_iter : int, default=100
        Maximum number of L-BFGS-B iterations on L.
    tol : float, default=1e-5
        Tolerance passed to ``scipy.optimize.minimize``.
    random_state : int, RandomState or None, default=None
        Seed of the randomized PCA start (unused with the identity start).

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        The learned map L.
    targets_ : ndarray of shape (n_samples, n_neighbors)
        Each training point's target neighbours.
    loss_ : float
        The final loss.
    n_iter_ : int
        Number of L-BFGS-B iterations run.
    """

    def __init__(self, n_neighbors=3, n_components=None, mu=0.5, max_iter=100, tol=1e-5, random_state=None):
        self.n_neighbors = n_neighbors
        self.n_components = n_components
        self.mu = mu
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state

    def _fit(self, X: Array, y: Array) -> Array:
        """Find the targets, then minimize Eq. (lmnn-loss) over L with L-BFGS-B."""
        d = X.shape[1]
        k = check_int("n_neighbors", self.n_neighbors, low=1)
        n_comp = check_n_components(self.n_components, d)
        mu = check_real("mu", self.mu, low=0.0, high=1.0)
        max_iter = check_int("max_iter", self.max_iter, low=1)
        tol = check_real("tol", self.tol, low=0.0)
        self.targets_ = target_neighbors(X, y, k)
        L0 = np.eye(d) if n_comp == d else PCA(n_comp, random_state=self.random_state).fit(X).components_
        result = minimize(
            lmnn_loss_grad,
            L0.ravel(),
            args=(X, y, self.targets_, mu),
            jac=True,
            method="L-BFGS-B",
            tol=tol,
            options={"maxiter": max_iter},
        )
        self.loss_ = float(result.fun)
        self.n_iter_ = max(int(result.nit), 1)
        return result.x.reshape(L0.shape)
