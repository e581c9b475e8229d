"""Metric learning for clustering with side information, MMC (Part II, chapter 2, "Spectral metric learning").

Xing et al. (2002) maximize the sum of (unsquared) distances between dissimilar pairs while keeping
the sum of squared distances between similar pairs at most 1, over PSD matrices M,
Eq. (mmc-problem). The objective is concave and the feasible set convex; the method takes gradient
ascent steps, Eq. (mmc-grad), and brings M back to the feasible set by alternating the projections
onto the half-space of the similar-pairs constraint, Eq. (mmc-halfspace), and onto the PSD cone.
"""

from __future__ import annotations

import numpy as np
from sklearn.utils import check_random_state

from scratchbook._validation import check_int, check_real
from scratchbook.metric._base import MahalanobisMixin
from scratchbook.metric.distances import components_from_metric, project_psd

__all__ = ["MMC", "mmc_objective_grad", "project_halfspace", "project_feasible", "mmc_solve"]

Array = np.ndarray


def mmc_objective_grad(M: Array, Vd: Array) -> tuple[float, Array]:
    """g(M) = Σ_D sqrt(vᵀMv) over dissimilar differences (rows of Vd) and ∇g = Σ_D vvᵀ / (2 sqrt(vᵀMv))."""
    dist = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", Vd, M, Vd), 0.0))
    weight = 0.5 / np.maximum(dist, 1e-12)
    return float(dist.sum()), (Vd * weight[:, None]).T @ Vd


def project_halfspace(M: Array, S: Array) -> Array:
    """Frobenius projection of M onto {M : ⟨M, S⟩ ≤ 1}, S = Σ_S vvᵀ, Eq. (mmc-halfspace)."""
    excess = float(np.sum(M * S)) - 1.0
    return M if excess <= 0 else M - excess / float(np.sum(S * S)) * S


def project_feasible(M: Array, S: Array, n_rounds: int = 20) -> Array:
    """Alternate the two projections, then rescale so that ⟨M, S⟩ = 1 exactly (M stays PSD)."""
    for _ in range(n_rounds):
        M = project_psd(project_halfspace(M, S))
        if np.sum(M * S) <= 1.0 + 1e-10:
            break
    return M / max(float(np.sum(M * S)), np.finfo(float).tiny)


def mmc_solve(Vs: Array, Vd: Array, max_iter: int = 100, tol: float = 1e-5) -> tuple[Array, list[float]]:
    """Projected gradient ascent on g over the feasible set, with an adaptive step; returns M and g per step.

    The maximum lies on the boundary ⟨M, S⟩ = 1: g(cM) = sqrt(c) g(M) grows with the scale c, so
    rescaling onto the boundary after the projections never lowers g.
    """
    S = Vs.T @ Vs
    M = project_feasible(np.eye(len(S)), S)
    g, G = mmc_objective_grad(M, Vd)
    history, eta = [g], np.linalg.norm(M) / max(np.linalg.norm(G), np.finfo(float).tiny)
    for _ in range(max_iter):
        while eta > 1e-12:
            M_new = project_feasible(M + eta * G, S)
            g_new, G_new = mmc_objective_grad(M_new, Vd)
            if g_new > g:
                break
            eta /= 2
        else:
            break
        improvement = (g_new - g) / g
        M, g, G, eta = M_new, g_new, G_new, 1.5 * eta
        history.append(g)
        if improvement < tol:
            break
    return M, history


class MMC(MahalanobisMixin):
    """Xing et al.'s metric: far dissimilar pairs under a budget on similar pairs (Eq. mmc-problem).

    Parameters
    ----------
    num_constraints : int or None, default=None
        Number of pairs drawn from the labels, half similar and half dissimilar; ``None``: 40·c² for
        c classes.
    max_iter : int, default=100
        Maximum number of gradient steps.
    tol : float, default=1e-5
        Stop when a step raises the objective by less than this fraction.
    random_state : int, RandomState or None, default=None
        Seed of the pair draw.

    Attributes
    ----------
    constraints_ : tuple of three ndarrays (i, j, delta)
        The pairs the fit drew: indices into the training rows, and delta = +1 (same class) or -1.
    metric_ : ndarray of shape (n_features, n_features)
        The learned metric M, as `mmc_solve` returns it (equal to ``get_mahalanobis_matrix()`` up to rounding).
    components_ : ndarray of shape (n_features, n_features)
        L with LᵀL = M.
    objective_ : list of float
        The objective Σ_D d_M after each accepted step.
    n_iter_ : int
        Number of accepted steps.
    """

    def __init__(self, num_constraints=None, max_iter=100, tol=1e-5, random_state=None):
        self.num_constraints = num_constraints
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state

    def _fit(self, X: Array, y: Array) -> Array:
        """Draw the pairs, then run :func:`mmc_solve`."""
        max_iter = check_int("max_iter", self.max_iter, low=1)
        tol = check_real("tol", self.tol, low=0.0)
        i, j, delta = self._draw_constraints(y, check_random_state(self.random_state), per_class_pair=40)
        V = X[i] - X[j]
        Vs = V[delta == 1]
        if len(Vs) == 0 or not np.any(Vs):
            Vs = np.eye(X.shape[1])  # no informative similar pair: bound the trace instead
        M, self.objective_ = mmc_solve(Vs, V[delta == -1], max_iter, tol)
        self.n_iter_ = max(len(self.objective_) - 1, 1)
        self.metric_ = M
        return components_from_metric(M)
