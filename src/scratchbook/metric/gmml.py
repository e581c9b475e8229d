"""Geometric mean metric learning, GMML (Part II, chapter 2, "Spectral metric learning").

GMML asks for small distances between similar pairs and small *inverse*-metric distances between
dissimilar ones, min_M tr(MS) + tr(M⁻¹D), Eq. (gmml-objective). Setting the gradient to zero gives
the Riccati equation M S M = D, whose solution is the midpoint of the geodesic from S⁻¹ to D on the
manifold of SPD matrices. The same midpoint minimizes the sum of squared Riemannian distances
δ²(M, S⁻¹) + δ²(M, D); weighting those two distances by 1 − t and t, Eq. (gmml-riemannian), moves the
minimizer a fraction t along the geodesic, M = S⁻¹ #_t D, Eq. (gmml-closed-form). (Weighting the two
*trace* terms instead only rescales the midpoint.)
"""

from __future__ import annotations

import numpy as np
from sklearn.utils import check_random_state

from scratchbook._validation import check_real
from scratchbook.metric._base import MahalanobisMixin
from scratchbook.metric.distances import components_from_metric

__all__ = ["GMML", "spd_power", "geometric_mean", "riemannian_distance", "pair_scatter"]

Array = np.ndarray


def spd_power(A: Array, p: float) -> Array:
    """A^p for a symmetric positive definite A, through its eigendecomposition."""
    lam, V = np.linalg.eigh((A + A.T) / 2)
    return (V * lam**p) @ V.T


def geometric_mean(A: Array, B: Array, t: float = 0.5) -> Array:
    """A #_t B = A^{1/2} (A^{-1/2} B A^{-1/2})^t A^{1/2}, the point at t on the SPD geodesic from A to B."""
    Ah, Aih = spd_power(A, 0.5), spd_power(A, -0.5)
    G = Ah @ spd_power(Aih @ B @ Aih, t) @ Ah
    return (G + G.T) / 2


def riemannian_distance(A: Array, B: Array) -> float:
    """δ(A, B) = ‖log(A^{-1/2} B A^{-1/2})‖_F, the affine-invariant distance between SPD matrices."""
    Aih = spd_power(A, -0.5)
    lam = np.linalg.eigvalsh((Aih @ B @ Aih + (Aih @ B @ Aih).T) / 2)
    return float(np.sqrt(np.sum(np.log(lam) ** 2)))


def pair_scatter(X: Array, i: Array, j: Array) -> Array:
    """Σ over the pairs (i, j) of (x_i − x_j)(x_i − x_j)ᵀ, divided by the number of pairs."""
    V = X[i] - X[j]
    return V.T @ V / max(len(V), 1)


class GMML(MahalanobisMixin):
    """Geometric mean metric learning: M = (S + λI)⁻¹ #_t (D + λI), a closed form.

    Parameters
    ----------
    t : float in [0, 1], default=0.5
        Position on the geodesic from S⁻¹ (t = 0) to D (t = 1); t = 1/2 solves M S M = D.
    reg : float, default=1e-3
        λ, the weight of the prior M₀ = I (in units of the mean eigenvalue of S).
    num_constraints : int or None, default=None
        Number of pairs drawn, half similar and half dissimilar; ``None``: 20·c² for c classes.
    random_state : int, RandomState or None, default=None
        Seed of the pair draw.

    Attributes
    ----------
    constraints_ : tuple of three ndarrays (i, j, delta)
        The pairs the fit drew: indices into the training rows, and delta = +1 (same class) or -1.
    components_ : ndarray of shape (n_features, n_features)
        L with LᵀL = M.
    metric_ : ndarray of shape (n_features, n_features)
        The metric M itself (computed in closed form, before factoring).
    """

    def __init__(self, t=0.5, reg=1e-3, num_constraints=None, random_state=None):
        self.t = t
        self.reg = reg
        self.num_constraints = num_constraints
        self.random_state = random_state

    def _fit(self, X: Array, y: Array) -> Array:
        """Scatter of similar (S) and dissimilar (D) pairs, then Eq. (gmml-closed-form)."""
        t = check_real("t", self.t, low=0.0, high=1.0)
        reg = check_real("reg", self.reg, low=0.0, strict_low=True)
        i, j, delta = self._draw_constraints(y, check_random_state(self.random_state), per_class_pair=20)
        S = pair_scatter(X, i[delta == 1], j[delta == 1])
        D = pair_scatter(X, i[delta == -1], j[delta == -1])
        eye = reg * (np.trace(S) / len(S) or 1.0) * np.eye(len(S))
        self.metric_ = geometric_mean(np.linalg.inv(S + eye), D + eye, t)
        return components_from_metric(self.metric_)
