"""Information-theoretic metric learning, ITML (Part II, chapter 3, "Probabilistic metric learning").

ITML looks for the PSD matrix A closest to a prior A₀ in the LogDet divergence, Eq. (itml-logdet),
such that similar pairs are at squared distance at most u and dissimilar pairs at least l, with
slack, Eq. (itml-problem). Davis et al. (2007) solve it by cyclic Bregman projections: each one
enforces a single constraint with a rank-one update of A, Eq. (itml-update), and A stays positive
definite without ever projecting onto the cone.
"""

from __future__ import annotations

import numpy as np
from sklearn.utils import check_random_state

from scratchbook._validation import check_int, check_real
from scratchbook.metric._base import MahalanobisMixin
from scratchbook.metric.distances import components_from_metric

__all__ = ["ITML", "logdet_divergence", "distance_bounds", "bregman_step", "itml_solve"]

Array = np.ndarray


def logdet_divergence(A: Array, A0: Array) -> float:
    """LogDet divergence tr(AA₀⁻¹) − log det(AA₀⁻¹) − d of A from A₀ (both PD), Eq. (itml-logdet)."""
    B = np.linalg.solve(A0, A)
    sign, logdet = np.linalg.slogdet(B)
    if sign <= 0:
        raise ValueError("A must be positive definite")
    return float(np.trace(B) - logdet - len(A))


def distance_bounds(X: Array, A0: Array, rng, n_pairs: int = 1000, percentiles=(5.0, 95.0)) -> tuple[float, float]:
    """u and l: the 5th and 95th percentiles of squared A₀-distances between random pairs, as in Davis et al."""
    i, j = rng.randint(len(X), size=n_pairs), rng.randint(len(X), size=n_pairs)
    V = X[i[i != j]] - X[j[i != j]]
    d = np.einsum("ij,jk,ik->i", V, A0, V)
    u, l = np.percentile(d, percentiles)
    return float(u), float(l)


def bregman_step(A: Array, v: Array, delta: int, target: float, lam: float, gamma: float):
    """One Bregman projection onto the constraint of the pair with difference v, Eq. (itml-update).

    ``delta`` is +1 (similar, vᵀAv ≤ ξ) or −1 (dissimilar, vᵀAv ≥ ξ), ``target`` the slack bound ξ
    of this constraint and ``lam`` its dual variable. A is updated in place; returns (A, ξ, λ).
    """
    Av = A @ v
    p = float(v @ Av)
    if p <= 1e-12:  # a repeated point: the constraint does not involve A
        return A, target, lam
    alpha = min(lam, delta * gamma / (gamma + 1) * (1 / p - 1 / target))  # Eq. (itml-alpha)
    beta = delta * alpha / (1 - delta * alpha * p)
    A += beta * np.outer(Av, Av)  # A + β A v vᵀ A
    return A, 1 / (1 / target + delta * alpha / gamma), lam - alpha


def itml_solve(
    V: Array, delta: Array, bounds: Array, A0: Array, *, gamma: float, max_iter: int, tol: float
) -> tuple[Array, int, bool]:
    """Sweep Bregman projections over the constraints (rows of V) until the duals λ settle.

    ``bounds`` holds u for similar pairs and l for dissimilar ones. A sweep ends the run when the
    duals change by less than ``tol`` relative to their size. Returns A, the number of sweeps and
    whether the tolerance was reached.
    """
    A = A0.copy()
    target = bounds.astype(float).copy()
    lam = np.zeros(len(V))
    for sweep in range(1, max_iter + 1):
        lam_old = lam.copy()
        for c in range(len(V)):
            A, target[c], lam[c] = bregman_step(A, V[c], delta[c], target[c], lam[c], gamma)
        change = np.abs(lam - lam_old).sum() / max(np.abs(lam).sum() + np.abs(lam_old).sum(), 1e-12)
        if change < tol:
            return A, sweep, True
    return A, max_iter, False


class ITML(MahalanobisMixin):
    """Information-theoretic metric learning: the metric nearest to the identity in LogDet divergence
    that keeps similar pairs close and dissimilar pairs far.

    Parameters
    ----------
    gamma : float, default=1.0
        Trade-off between satisfying the constraints and staying near A₀ (larger: fewer violations).
    max_iter : int, default=1000
        Maximum number of sweeps over the constraints.
    tol : float, default=1e-3
        Stop when the dual variables change by less than this fraction in one sweep.
    num_constraints : int or None, default=None
        Number of labelled pairs, half similar and half dissimilar; ``None`` means 20·c² for c classes,
        as in the original code.
    bounds : tuple (u, l) or None, default=None
        Upper bound on similar and lower bound on dissimilar squared distances; ``None`` takes the
        5th and 95th percentiles of squared Euclidean distances between random pairs.
    random_state : int, RandomState or None, default=None
        Seed of the pair sampling (constraints and bounds).

    Attributes
    ----------
    constraints_ : tuple of three ndarrays (i, j, delta)
        The pairs the fit drew: indices into the training rows, and delta = +1 (same class) or -1.
    components_ : ndarray of shape (n_features, n_features)
        A map L with LᵀL = A, rows ordered by decreasing eigenvalue of A.
    bounds_ : tuple (u, l)
        The bounds used.
    n_iter_ : int
        Number of sweeps run.
    converged_ : bool
        Whether the duals settled within ``tol`` before ``max_iter`` sweeps.
    """

    def __init__(self, gamma=1.0, max_iter=1000, tol=1e-3, num_constraints=None, bounds=None, random_state=None):
        self.gamma = gamma
        self.max_iter = max_iter
        self.tol = tol
        self.num_constraints = num_constraints
        self.bounds = bounds
        self.random_state = random_state

    def _bounds(self, X: Array, A0: Array, rng) -> tuple[float, float]:
        """The bounds (u, l): given, or from the distance percentiles."""
        if self.bounds is None:
            return distance_bounds(X, A0, rng)
        if len(self.bounds) != 2:
            raise ValueError(f"bounds must be a pair (u, l), got {self.bounds!r}")
        u = check_real("bounds[0] (u)", self.bounds[0], low=0.0, strict_low=True)
        l = check_real("bounds[1] (l)", self.bounds[1], low=0.0, strict_low=True)
        if u > l:
            raise ValueError(f"bounds must satisfy u <= l, got u={u}, l={l}")
        return u, l

    def _fit(self, X: Array, y: Array) -> Array:
        """Sample the constraints and bounds, run the Bregman projections, return a factor L of A."""
        gamma = check_real("gamma", self.gamma, low=0.0, strict_low=True)
        max_iter = check_int("max_iter", self.max_iter, low=1)
        tol = check_real("tol", self.tol, low=0.0)
        rng = check_random_state(self.random_state)
        A0 = np.eye(X.shape[1])
        self.bounds_ = self._bounds(X, A0, rng)  # drawn before the pairs, from the same generator
        i, j, delta = self._draw_constraints(y, rng, per_class_pair=20)
        bounds = np.where(delta == 1, self.bounds_[0], self.bounds_[1])
        A, self.n_iter_, self.converged_ = itml_solve(
            X[i] - X[j], delta, bounds, A0, gamma=gamma, max_iter=max_iter, tol=tol
        )
        return components_from_metric(A)
