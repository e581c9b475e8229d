"""The stochastic linear reconstruction as Ghojogh et al. (2022) state it (chapter "Stochastic linear reconstruction").

Their model, in the chapter's symbols (X̆_i is d×k, the neighbours of x_i as columns; the code stores
their rows, ``neighbors[i]``, k×d):

* a zero-mean prior on the weights, w_i ~ N(0, Ω_i), with no sum-to-one constraint;
* x_i = X̆_i w_i + μ + ε_i, with μ the mean of the whole data set and ε_i ~ N(0, σ² I_d), the noise
  shared by all points (isotropic here, the PPCA case);
* EM: the E-step is the Gaussian posterior of w_i; the M-step sets Ω_i to the posterior second
  moment E[w_i w_iᵀ] and σ² to the mean expected squared residual.

Each point has its own Ω_i (k(k+1)/2 numbers) for one observation x_i. When X̆_i has rank d (typical
for k ≥ d) the likelihood has no maximum, and EM follows a path on which σ² → 0 and the
log-likelihood grows without bound (exercise slr-ex-2). :class:`PaperStochasticLLE` runs that EM for
a fixed number of iterations, and stops early, with a warning, once σ² has collapsed.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from scratchbook._validation import check_int, check_real
from scratchbook.latent.lle import ARPACK_DEFAULTS, LLE, knn_indices

__all__ = ["PaperStochasticLLE", "zero_mean_posterior", "zero_mean_m_step", "zero_mean_loglike", "paper_slr_em"]


def _gain(neighbors: np.ndarray, Omega: np.ndarray, sigma2: float) -> np.ndarray:
    """ΩX̆ᵀ(X̆ΩX̆ᵀ + σ²I_d)⁻¹ (n×k×d), through a d×d solve or, when d > k, the k×k one (ΩX̆ᵀX̆ + σ²I_k)⁻¹ΩX̆ᵀ."""
    n, k, d = neighbors.shape
    OXt = Omega @ neighbors  # ΩX̆ᵀ, n×k×d
    if d <= k:
        C = neighbors.transpose(0, 2, 1) @ OXt + sigma2 * np.eye(d)
        return np.linalg.solve(C, OXt.transpose(0, 2, 1)).transpose(0, 2, 1)  # C is symmetric
    return np.linalg.inv(OXt @ neighbors.transpose(0, 2, 1) + sigma2 * np.eye(k)) @ OXt


def zero_mean_posterior(R: np.ndarray, neighbors: np.ndarray, Omega: np.ndarray, sigma2: float):
    """Posterior means m_i (n×k) and covariances S_i (n×k×k) of w_i given r_i = x_i − μ, Eq. (slr-paper-posterior).

    ``R`` is n×d, ``neighbors`` n×k×d, ``Omega`` n×k×k; ``sigma2 = 0`` gives the noise-free posterior.
    """
    K = _gain(neighbors, Omega, sigma2)
    mean = np.einsum("nkd,nd->nk", K, R)
    cov = Omega - K @ neighbors.transpose(0, 2, 1) @ Omega
    return mean, cov


def zero_mean_m_step(R: np.ndarray, neighbors: np.ndarray, mean: np.ndarray, cov: np.ndarray):
    """M-step, Eq. (slr-paper-m-step): Ω_i = E[w_i w_iᵀ] and σ² = mean of E‖r_i − X̆_i w_i‖² per coordinate."""
    Omega = cov + mean[:, :, None] * mean[:, None, :]
    residual = R - np.einsum("nkd,nk->nd", neighbors, mean)
    spread = np.sum(cov * (neighbors @ neighbors.transpose(0, 2, 1)))  # Σ_i tr(X̆_i S_i X̆_iᵀ) = Σ_i tr(S_i X̆_iᵀX̆_i)
    return Omega, float((np.sum(residual**2) + spread) / R.size)


def zero_mean_loglike(R: np.ndarray, neighbors: np.ndarray, Omega: np.ndarray, sigma2: float) -> np.ndarray:
    """log N(r_i; 0, Σ_i) of each point, Σ_i = X̆_iΩ_iX̆_iᵀ + σ²I, Eq. (slr-paper-marginal).

    For d > k, Sylvester's and Woodbury's identities move both terms to k×k matrices.
    """
    n, k, d = neighbors.shape
    if d <= k:
        C = neighbors.transpose(0, 2, 1) @ Omega @ neighbors + sigma2 * np.eye(d)
        logdet = np.linalg.slogdet(C)[1]
        quad = np.einsum("nd,nd->n", R, np.linalg.solve(C, R[:, :, None])[:, :, 0])
    else:
        logdet = (d - k) * np.log(sigma2) + np.linalg.slogdet(
            Omega @ neighbors @ neighbors.transpose(0, 2, 1) + sigma2 * np.eye(k)
        )[1]
        fitted = np.einsum("nkd,nk->nd", neighbors, np.einsum("nkd,nd->nk", _gain(neighbors, Omega, sigma2), R))
        quad = np.einsum("nd,nd->n", R, R - fitted) / sigma2  # rᵀC⁻¹r = (‖r‖² − rᵀX̆Kr)/σ²
    return -0.5 * (d * np.log(2 * np.pi) + logdet + quad)


def paper_slr_em(R: np.ndarray, neighbors: np.ndarray, *, max_iter: int, min_noise: float):
    """EM of the paper's model from Ω_i = I, σ² = mean r²: m, S, Ω, σ², loglike, σ² path, means path.

    Stops after ``max_iter`` iterations or when σ² < ``min_noise`` (the likelihood is then unbounded).
    """
    n, k = neighbors.shape[:2]
    Omega, sigma2 = np.repeat(np.eye(k)[None], n, axis=0), float(np.mean(R**2))
    loglike, noise, means = [], [sigma2], []
    for _ in range(max_iter):
        mean, cov = zero_mean_posterior(R, neighbors, Omega, sigma2)  # E-step
        means.append(mean)
        Omega, sigma2 = zero_mean_m_step(R, neighbors, mean, cov)  # M-step
        loglike.append(zero_mean_loglike(R, neighbors, Omega, sigma2).mean())
        noise.append(sigma2)
        if sigma2 < min_noise:
            break
    return mean, cov, Omega, sigma2, np.array(loglike), np.array(noise), np.array(means)


class PaperStochasticLLE(LLE):
    """The stochastic linear reconstruction of Ghojogh et al. (2022) as they state it, then LLE's embedding step.

    Parameters
    ----------
    n_neighbors : int, default=5
        Number k of neighbours from which each point is rebuilt.
    n_components : int, default=2
        Dimension of the embedding.
    max_iter : int, default=30
        Number of EM iterations (the likelihood has no maximum for k ≥ d, so EM has no natural end).
    min_noise : float, default=1e-8
        EM stops, with a :class:`~sklearn.exceptions.ConvergenceWarning`, once σ² falls below
        ``min_noise`` times the mean squared centred coordinate.
    eigen_solver, tol, random_state
        As in :class:`~scratchbook.latent.lle.LLE`.

    Attributes
    ----------
    weights_mean_ : ndarray of shape (n_samples, n_neighbors)
        Posterior means of the weights after the last E-step (``weights_`` is the same array).
    weights_cov_ : ndarray of shape (n_samples, n_neighbors, n_neighbors)
        Their posterior covariances.
    prior_cov_ : ndarray of shape (n_samples, n_neighbors, n_neighbors)
        The fitted prior covariances Ω_i.
    noise_variance_ : float
        The fitted σ².
    loglike_, noise_path_, weights_path_ : ndarray
        Mean log-likelihood per point after each iteration, σ² before and after each iteration, and
        the posterior means at each E-step.
    mean_ : ndarray of shape (n_features,)
        The data mean μ.
    embedding_, reconstruction_error_, neighbors_, X_fit_, n_features_in_
        As in :class:`~scratchbook.latent.lle.LLE`, for the posterior-mean weights.
    """

    def __init__(
        self,
        n_neighbors=5,
        n_components=2,
        max_iter=30,
        min_noise=1e-8,
        eigen_solver="auto",
        tol=1e-6,
        random_state=None,
    ):
        self.n_neighbors = n_neighbors
        self.n_components = n_components
        self.max_iter = max_iter
        self.min_noise = min_noise
        self.eigen_solver = eigen_solver
        self.tol = tol
        self.random_state = random_state

    def fit(self, X, y=None):
        """Find the neighbours, run the paper's EM for the weights, embed with the posterior means."""
        X = self._validate(X)
        max_iter = check_int("max_iter", self.max_iter, low=1)
        min_noise = check_real("min_noise", self.min_noise, low=0.0)
        self.X_fit_, self.mean_ = X, X.mean(axis=0)
        self.neighbors_ = knn_indices(X, self.n_neighbors)
        R = X - self.mean_
        mean, cov, Omega, sigma2, self.loglike_, self.noise_path_, self.weights_path_ = paper_slr_em(
            R, X[self.neighbors_], max_iter=max_iter, min_noise=min_noise * float(np.mean(R**2))
        )
        self.weights_mean_ = self.weights_ = mean
        self.weights_cov_, self.prior_cov_, self.noise_variance_ = cov, Omega, sigma2
        self.n_iter_ = len(self.loglike_)
        if self.n_iter_ < max_iter:
            warnings.warn(
                f"the noise variance collapsed below min_noise after {self.n_iter_} iterations: "
                "the likelihood of this model has no maximum",
                ConvergenceWarning,
                stacklevel=2,
            )
        self._embed(mean, self.tol, ARPACK_DEFAULTS[1])  # max_iter is EM's here, tol arpack's
        return self

    def transform(self, X):
        """Not defined: the paper's model has no out-of-sample rule for the weights."""
        raise NotImplementedError("PaperStochasticLLE embeds its training points only (use embedding_)")
