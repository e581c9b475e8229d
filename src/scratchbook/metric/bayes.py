"""Bayesian metric learning with a diagonal metric: a logistic model of pairs, its MAP fit, its Laplace posterior.

A pair (x_i, x_j) is similar (δ = +1) or dissimilar (δ = −1). With φ_ij = (x_i − x_j)∘(x_i − x_j) the
squared differences per feature, the model says

    P(δ = +1 | x_i, x_j, w, b) = σ(b − wᵀφ_ij),

so a pair is more likely similar the smaller its diagonal Mahalanobis distance wᵀφ_ij (chapter 2.7,
Eq. bayes-likelihood). With the Gaussian prior w ~ N(0, α⁻¹I), the negative log posterior is an
empirical risk (the mean logistic loss over the pairs) plus a ridge regularizer (Eq. bayes-erm), and
its minimizer is the MAP metric. The Laplace approximation replaces the posterior by the Gaussian
N(θ̂, H⁻¹) at that minimizer, H the Hessian of the negative log posterior; the predictive probability
that a new pair is similar is then approximated by the probit formula (Eq. bayes-predictive).

The weights are unconstrained: neither the likelihood nor the prior keeps w ≥ 0, so the MAP (and any
posterior draw) may give a feature a negative weight, and wᵀφ is then not a squared distance. The
metric that ``transform`` and ``get_mahalanobis_matrix`` use is the projection of diag(ŵ) onto the
PSD cone (the nearest PSD matrix, chapter 2.1's projection), which for a diagonal matrix is
diag(max(ŵ, 0)): negative weights are set to zero. ``n_clipped_`` counts them. The pair
probabilities of ``predict_similarity`` use the unclipped posterior.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit
from sklearn.utils.validation import check_is_fitted

from scratchbook._validation import check_int, check_real
from scratchbook.metric._base import MahalanobisMixin

__all__ = ["pair_features", "pair_objective", "BayesianMetric"]


def pair_features(Xa: np.ndarray, Xb: np.ndarray) -> np.ndarray:
    """Squared differences per feature, φ = (x_a − x_b)∘(x_a − x_b), one row per pair."""
    Xa, Xb = np.asarray(Xa, dtype=float), np.asarray(Xb, dtype=float)
    if Xa.shape != Xb.shape or Xa.ndim != 2:
        raise ValueError(f"Xa and Xb must be 2-D arrays of the same shape, got {Xa.shape} and {Xb.shape}")
    return (Xa - Xb) ** 2


def _design(Phi: np.ndarray) -> np.ndarray:
    """Rows [−φ, 1], so that the logit of a pair is design @ θ with θ = (w, b)."""
    return np.hstack([-Phi, np.ones((len(Phi), 1))])


def pair_objective(
    theta: np.ndarray, Phi: np.ndarray, delta: np.ndarray, alpha: float
) -> tuple[float, np.ndarray, np.ndarray]:
    """Negative log posterior of θ = (w, b) (Eq. bayes-erm, times the number of pairs): value, gradient, Hessian.

    Σ_p log(1 + exp(−δ_p (b − wᵀφ_p))) + (α/2)‖w‖²; the bias has a flat prior.
    """
    A = _design(np.asarray(Phi, dtype=float))
    delta = np.asarray(delta, dtype=float)
    theta = np.asarray(theta, dtype=float)
    if theta.shape != (A.shape[1],):
        raise ValueError(f"theta must have shape ({A.shape[1]},), got {theta.shape}")
    margin = delta * (A @ theta)
    prior = np.full(A.shape[1], alpha)
    prior[-1] = 0.0
    value = float(np.logaddexp(0.0, -margin).sum() + 0.5 * np.sum(prior * theta**2))
    grad = -A.T @ (delta * expit(-margin)) + prior * theta
    s = expit(A @ theta)
    hess = (A * (s * (1 - s))[:, None]).T @ A + np.diag(prior)
    return value, grad, hess


class BayesianMetric(MahalanobisMixin):
    """Diagonal metric with a Gaussian (Laplace) posterior, fitted on random labelled pairs.

    Parameters
    ----------
    alpha : float
        Precision of the Gaussian prior on the diagonal weights w (the ridge strength of Eq. bayes-erm).
    num_constraints : int
        Number of pairs drawn from the labels, half similar and half dissimilar.
    max_iter : int
        Newton steps (each one with a backtracking line search) for the MAP point.
    tol : float
        Stop when the gradient's largest entry is below ``tol``.
    random_state : int or None
        Seed of the pair sampling.

    Attributes
    ----------
    constraints_ : tuple of three ndarrays (i, j, delta)
        The pairs the fit drew: indices into the training rows, and delta = +1 (same class) or -1.
    weights_ : ndarray (n_features,)
        MAP weights ŵ, unconstrained (may be negative: neither likelihood nor prior fixes the sign).
    n_clipped_ : int
        How many of them are negative, so set to zero in the metric.
    bias_ : float
        MAP bias b̂.
    covariance_ : ndarray (n_features + 1, n_features + 1)
        Laplace posterior covariance H⁻¹ of θ = (w, b).
    components_ : ndarray (n_features, n_features)
        diag(√max(ŵ, 0)), so that ``components_.T @ components_`` = diag(max(ŵ, 0)), the projection of
        the MAP metric diag(ŵ) onto the PSD cone.
    """

    def __init__(
        self,
        alpha: float = 1.0,
        num_constraints: int = 400,
        max_iter: int = 50,
        tol: float = 1e-8,
        random_state: int | None = 0,
    ) -> None:
        self.alpha = alpha
        self.num_constraints = num_constraints
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state

    def _fit(self, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        alpha = check_real("alpha", self.alpha, low=0.0, strict_low=True)
        max_iter = check_int("max_iter", self.max_iter, low=1)
        tol = check_real("tol", self.tol, low=0.0)
        rng = np.random.RandomState(self.random_state)
        i, j, delta = self._draw_constraints(y, rng)
        Phi = pair_features(X[i], X[j])
        theta = np.zeros(X.shape[1] + 1)
        value, grad, hess = pair_objective(theta, Phi, delta, alpha)
        self.n_iter_ = 0
        for _ in range(max_iter):
            if np.max(np.abs(grad)) < tol:
                break
            step = np.linalg.solve(hess, grad)
            t = 1.0
            while t > 1e-10:  # backtracking: a Newton step can overshoot far from the optimum
                candidate = pair_objective(theta - t * step, Phi, delta, alpha)
                if candidate[0] <= value - 1e-4 * t * grad @ step:
                    break
                t /= 2
            theta = theta - t * step
            value, grad, hess = candidate
            self.n_iter_ += 1
        self.weights_, self.bias_ = theta[:-1], float(theta[-1])
        self.covariance_ = np.linalg.inv(hess)
        self.objective_ = value
        # The metric is the PSD projection of diag(ŵ): for a diagonal matrix, clip its entries at zero.
        self.n_clipped_ = int(np.sum(self.weights_ < 0))
        return np.diag(np.sqrt(np.clip(self.weights_, 0.0, None)))

    def predict_similarity(self, Xa, Xb, return_std: bool = False):
        """P(similar) of each pair (row of Xa, row of Xb) under the Laplace posterior (Eq. bayes-predictive).

        The logit u = b − wᵀφ is Gaussian with mean μ and variance s² = aᵀH⁻¹a, a = (−φ, 1); the
        probability is approximated by σ(μ / √(1 + πs²/8)). ``return_std`` also returns s.
        """
        check_is_fitted(self)
        Xa, Xb = self._validate(Xa, reset=False), self._validate(Xb, reset=False)
        A = _design(pair_features(Xa, Xb))
        mean = A @ np.append(self.weights_, self.bias_)
        std = np.sqrt(np.einsum("pi,ij,pj->p", A, self.covariance_, A))
        prob = expit(mean / np.sqrt(1 + np.pi * std**2 / 8))
        return (prob, std) if return_std else prob

    def sample_weights(self, n_samples: int, random_state: int | None = 0) -> np.ndarray:
        """Draws of θ = (w, b) from the Laplace posterior, one row each."""
        check_is_fitted(self)
        n_samples = check_int("n_samples", n_samples, low=1)
        rng = np.random.default_rng(random_state)
        theta = np.append(self.weights_, self.bias_)
        return rng.multivariate_normal(theta, self.covariance_, size=n_samples)
