"""Metric learning by collapsing classes, MCML (Part II, chapter 3, "Probabilistic metric learning").

With a PSD metric M each point picks a neighbour with probability ``p_M(j|i) ∝ exp(−d_M(x_i, x_j)²)``,
Eq. (mcml-p). The ideal distribution ``p₀(j|i)`` is uniform over the other points of i's class (a
class collapsed to a point, infinitely far from the others). MCML minimizes
``Σ_i KL(p₀(·|i) ‖ p_M(·|i))``, Eq. (mcml-objective), which is convex in M; projected gradient
descent, Eq. (mcml-step), keeps M in the PSD cone with ``project_psd``.
"""

from __future__ import annotations

import numpy as np

from scratchbook._validation import check_int, check_real
from scratchbook.metric._base import MahalanobisMixin
from scratchbook.metric.distances import components_from_metric, project_psd, squared_euclidean

__all__ = ["MCML", "collapse_targets", "mcml_objective_grad", "mcml_projected_gradient"]

Array = np.ndarray


def collapse_targets(y: Array) -> Array:
    """The target ``p₀(j|i)``: 1/n_i on the n_i other points of i's class, 0 elsewhere, Eq. (mcml-p0).

    A point alone in its class has no target and an all-zero row; it is left out of the objective.
    """
    same = (y[:, None] == y[None, :]).astype(float)
    np.fill_diagonal(same, 0.0)
    n_same = same.sum(axis=1, keepdims=True)
    return np.divide(same, n_same, out=np.zeros_like(same), where=n_same > 0)


def mcml_objective_grad(M: Array, X: Array, P0: Array) -> tuple[float, Array]:
    """``Σ_i KL(p₀(·|i) ‖ p_M(·|i))`` and its gradient in M, Eqs. (mcml-objective) and (mcml-grad)."""
    XL = X @ components_from_metric(M).T
    D = squared_euclidean(XL, XL)  # d_M(x_i, x_j)² = ‖Lx_i − Lx_j‖², Eq. (gm-factor)
    np.fill_diagonal(D, np.inf)  # p_M(i|i) = 0
    shift = D.min(axis=1)
    log_Z = np.log(np.exp(-(D - shift[:, None])).sum(axis=1)) - shift  # log Σ_k exp(−d_ik), stably
    log_P = -D - log_Z[:, None]  # log p_M(j|i), Eq. (mcml-p)
    active = P0.sum(axis=1) > 0  # points with a target (not alone in their class)
    on = (P0 > 0) & active[:, None]
    kl = np.sum(P0[on] * (np.log(P0[on]) - log_P[on]))
    Delta = (P0 - np.exp(log_P)) * active[:, None]  # Δ_ij = ∂f/∂(d_ij²); each active row sums to 0
    G = -(Delta + Delta.T)
    G[np.diag_indices_from(G)] += Delta.sum(axis=0)
    grad = X.T @ G @ X  # Σ_ij Δ_ij v_ij v_ijᵀ, Eq. (mcml-grad-matrix)
    return float(kl), grad


def mcml_projected_gradient(X: Array, P0: Array, M0: Array, *, max_iter: int, tol: float) -> tuple[Array, list[float]]:
    """Projected gradient descent with backtracking, Eq. (mcml-step): M ← Π_PSD(M − η ∇f(M)).

    A step η is accepted when f decreases at least as much as the quadratic model
    f(M) + ⟨∇f, M' − M⟩ + ‖M' − M‖²/(2η) predicts; the next try starts from 2η. Stops when f
    decreases by less than ``tol`` relative to f, or after ``max_iter`` steps.
    """
    M = M0
    f, grad = mcml_objective_grad(M, X, P0)
    history, eta = [f], 1.0 / max(np.linalg.norm(grad), 1e-12)
    for _ in range(max_iter):
        while True:
            M_new = project_psd(M - eta * grad)
            step = M_new - M
            f_new, grad_new = mcml_objective_grad(M_new, X, P0)
            if f_new <= f + np.sum(grad * step) + np.sum(step**2) / (2 * eta) or eta < 1e-20:
                break
            eta /= 2
        done = f - f_new <= tol * max(abs(f), 1e-12)
        M, f, grad = M_new, f_new, grad_new
        history.append(f)
        eta *= 2
        if done:
            break
    return M, history


class MCML(MahalanobisMixin):
    """Maximally collapsing metric learning: a PSD metric under which each class collapses to a point.

    Parameters
    ----------
    max_iter : int, default=100
        Maximum number of projected gradient steps.
    tol : float, default=1e-5
        Stop when the objective decreases by less than ``tol`` times its value in one step.
    init_scale : float or None, default=None
        The start is M₀ = I / init_scale; ``None`` uses the median squared Euclidean distance
        between training points, so that starting distances are of order one.

    Attributes
    ----------
    components_ : ndarray of shape (n_features, n_features)
        A map L with LᵀL = M, rows ordered by decreasing eigenvalue of M.
    n_iter_ : int
        Number of projected gradient steps taken.
    objective_ : list of float
        The objective Σ_i KL(p₀ ‖ p_M) at the start and after each step.
    """

    def __init__(self, max_iter=100, tol=1e-5, init_scale=None):
        self.max_iter = max_iter
        self.tol = tol
        self.init_scale = init_scale

    def _fit(self, X: Array, y: Array) -> Array:
        """Run projected gradient descent from M₀ = I / scale and return a factor L of M."""
        max_iter = check_int("max_iter", self.max_iter, low=1)
        tol = check_real("tol", self.tol, low=0.0)
        if self.init_scale is None:
            median = float(np.median(squared_euclidean(X, X)[np.triu_indices(len(X), 1)]))
            scale = median if median > 0 else 1.0
        else:
            scale = check_real("init_scale", self.init_scale, low=0.0, strict_low=True)
        M0 = np.eye(X.shape[1]) / scale
        M, self.objective_ = mcml_projected_gradient(X, collapse_targets(y), M0, max_iter=max_iter, tol=tol)
        self.n_iter_ = len(self.objective_) - 1
        return components_from_metric(M)
