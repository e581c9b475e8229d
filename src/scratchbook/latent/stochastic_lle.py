"""Stochastic linear reconstruction for LLE (chapter "Stochastic linear reconstruction").

Ghojogh et al. (2022) treat LLE's reconstruction weights as latent factors: x_i is modelled given
its k neighbours, the columns of X̆_i (d×k; ``neighbors[i].T`` in the code), through weights w_i
drawn from a Gaussian, and expectation-maximization fits the model. Their own choices (a zero-mean
prior, the global mean, a free prior covariance per point) are in ``paper_slr``; for k ≥ d their
likelihood has no maximum. The version implemented here chooses differently, so that the model is
well posed and its link with LLE is exact:

* the weights live on the plane Σ_j w_ij = 1 (LLE's constraint); their prior is centred on equal
  weights 1/k with covariance Ω_i = (σ_i²/λ_i) Π, Π = I − 11ᵀ/k the projector onto that plane;
* x_i | w_i ~ N(X̆_i w_i, σ_i² I): isotropic noise, one variance per point;
* λ_i = reg · tr G_i is LLE's ridge (Eq. (lle-reg)); EM learns σ_i², and with it Ω_i.

Then, with M_i = G_i + λ_i I (chapter equations in brackets):

* the posterior of w_i is N(w̄_i, σ_i² P_i), w̄_i = M_i⁻¹1 / 1ᵀM_i⁻¹1 (exactly LLE's weights) and
  P_i = M_i⁻¹ − M_i⁻¹11ᵀM_i⁻¹ / 1ᵀM_i⁻¹1 (Eq. (slr-posterior));
* the M-step is σ_i² ← (E‖x_i − X̆_i w_i‖² + λ_i E‖w_i − 1/k‖²) / (d + k − 1) (Eq. (slr-m-step));
* the marginal is x_i ~ N(x̄_i, σ_i²(I + N_iN_iᵀ/λ_i)), N_i = X̆_i − x̄_i1ᵀ the centred
  neighbours; EM never decreases its log-density (Eq. (slr-marginal)). The sum over points is a
  pseudo-likelihood: each point is a response in its own term and a regressor in its neighbours'.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from scratchbook._validation import check_int, check_real
from scratchbook.latent.lle import ARPACK_DEFAULTS, LLE, knn_indices, lle_embedding, local_gram, weight_matrix

__all__ = [
    "StochasticLLE",
    "weight_posterior",
    "noise_m_step",
    "marginal_terms",
    "marginal_loglike",
    "slr_em",
    "sample_weights",
]


def weight_posterior(M: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Posterior means w̄_i (n×k) and covariances per unit noise P_i (n×k×k), Eq. (slr-posterior)."""
    Minv = np.linalg.inv(M)
    s = Minv.sum(axis=2)  # M⁻¹1
    c = s.sum(axis=1)  # 1ᵀM⁻¹1
    mean = s / c[:, None]  # = LLE's weights, Eq. (lle-weights-closed)
    P = Minv - s[:, :, None] * s[:, None, :] / c[:, None, None]
    return mean, P


def noise_m_step(mean: np.ndarray, cov: np.ndarray, M: np.ndarray, lam: np.ndarray, d: int) -> np.ndarray:
    """M-step, Eq. (slr-m-step): new σ_i² from the posterior mean and covariance of each w_i."""
    k = mean.shape[1]
    G = M - lam[:, None, None] * np.eye(k)  # the unregularised Gram matrices G_i
    # E‖x_i − X̆_i w_i‖² = w̄ᵀG w̄ + tr(G Cov) and E‖w_i − 1/k‖² = ‖w̄ − 1/k‖² + tr Cov
    exp_recon = np.einsum("ij,ijl,il->i", mean, G, mean) + np.einsum("ijl,ilj->i", G, cov)
    exp_spread = np.sum((mean - 1 / k) ** 2, axis=1) + np.trace(cov, axis1=1, axis2=2)
    return np.maximum((exp_recon + lam * exp_spread) / (d + k - 1), 1e-12 * lam)


def marginal_terms(mean: np.ndarray, M: np.ndarray, lam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(x_i − x̄_i)ᵀC_i⁻¹(x_i − x̄_i) and log det C_i, C_i = I + N_iN_iᵀ/λ_i, Eqs. (slr-quad), (slr-logdet).

    These are the parts of log N(x_i; x̄_i, σ_i² C_i) free of σ_i², computed from k×k matrices.
    """
    k = mean.shape[1]
    G = M - lam[:, None, None] * np.eye(k)
    quad = np.einsum("ij,ijl,il->i", mean, G, mean) + lam * np.sum((mean - 1 / k) ** 2, axis=1)
    c = np.linalg.inv(M).sum(axis=(1, 2))  # 1ᵀM⁻¹1
    logdet = np.linalg.slogdet(M)[1] + np.log(c / k) - (k - 1) * np.log(lam)
    return quad, logdet


def marginal_loglike(quad: np.ndarray, logdet: np.ndarray, sigma2: np.ndarray, d: int) -> np.ndarray:
    """log N(x_i; x̄_i, σ_i² C_i) of each point from :func:`marginal_terms`, Eq. (slr-marginal)."""
    return -0.5 * (d * np.log(2 * np.pi * sigma2) + logdet + quad / sigma2)


def slr_em(
    M: np.ndarray, lam: np.ndarray, d: int, *, max_iter: int, tol: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, bool]:
    """EM for the stochastic linear reconstruction; returns w̄, P, σ², loglike per iteration, converged.

    The start σ_i² = λ_i makes the prior covariance Ω_i = Π, unit variance on the plane. The
    posterior mean and P do not depend on σ_i², so the E-step only rescales the covariance.
    """
    mean, P = weight_posterior(M)
    quad, logdet = marginal_terms(mean, M, lam)
    sigma2 = lam.copy()
    loglike, previous = [], marginal_loglike(quad, logdet, sigma2, d).mean()
    for _ in range(max_iter):
        cov = sigma2[:, None, None] * P  # E-step: q(w_i) = N(w̄_i, σ_i² P_i)
        sigma2 = noise_m_step(mean, cov, M, lam, d)  # M-step
        loglike.append(marginal_loglike(quad, logdet, sigma2, d).mean())
        if loglike[-1] - previous < tol:
            return mean, P, sigma2, np.array(loglike), True
        previous = loglike[-1]
    return mean, P, sigma2, np.array(loglike), False


def sample_weights(mean: np.ndarray, cov: np.ndarray, n_draws: int, rng) -> np.ndarray:
    """Draws (n_draws×n×k) from N(mean_i, cov_i) for each row i, via the eigendecomposition of cov_i."""
    values, vectors = np.linalg.eigh(cov)
    root = vectors * np.sqrt(np.clip(values, 0, None))[:, None, :]  # cov_i = root_i root_iᵀ
    z = rng.standard_normal((n_draws,) + mean.shape)
    return mean + np.einsum("ijl,sil->sij", root, z)


class StochasticLLE(LLE):
    """LLE whose reconstruction weights are latent Gaussian factors fitted by EM (Ghojogh et al., 2022).

    Parameters
    ----------
    n_neighbors : int, default=5
        Number k of neighbours from which each point is rebuilt.
    n_components : int, default=2
        Dimension of the embedding.
    reg : float, default=1e-3
        λ_i = reg · tr G_i is the ratio of the noise variance to the prior variance of the weights
        (must be > 0); it is LLE's ridge, Eq. (lle-reg).
    max_iter : int, default=300
        Maximum number of EM iterations.
    tol : float, default=1e-10
        EM stops when the mean log-likelihood per point gains less than ``tol``.
    eigen_solver : {"auto", "dense", "arpack"}, default="auto"
        As in :class:`~scratchbook.latent.lle.LLE`; arpack keeps scikit-learn's default tolerance.
    random_state : int, RandomState or None, default=None
        Seed of arpack's starting vector and of the sampled weights.

    Attributes
    ----------
    weights_mean_ : ndarray of shape (n_samples, n_neighbors)
        Posterior means of the weights, equal to LLE's weights (``weights_`` is the same array).
    weights_cov_ : ndarray of shape (n_samples, n_neighbors, n_neighbors)
        Posterior covariances σ_i² P_i of the weights, Eq. (slr-posterior).
    noise_variance_ : ndarray of shape (n_samples,)
        The noise variances σ_i²; the prior covariance is Ω_i = (σ_i²/λ_i) Π.
    ridge_ : ndarray of shape (n_samples,)
        The ridges λ_i.
    loglike_ : ndarray of shape (n_iterations,)
        Mean marginal log-likelihood per point after each EM iteration, Eq. (slr-marginal).
    n_iter_ : int
        Number of EM iterations run.
    embedding_ : ndarray of shape (n_samples, n_components)
        LLE's embedding of the posterior-mean weights.
    reconstruction_error_, neighbors_, X_fit_, n_features_in_
        As in :class:`~scratchbook.latent.lle.LLE`.
    """

    def __init__(
        self, n_neighbors=5, n_components=2, reg=1e-3, max_iter=300, tol=1e-10, eigen_solver="auto", random_state=None
    ):
        self.n_neighbors = n_neighbors
        self.n_components = n_components
        self.reg = reg
        self.max_iter = max_iter
        self.tol = tol
        self.eigen_solver = eigen_solver
        self.random_state = random_state

    def fit(self, X, y=None):
        """Find the neighbours, run EM for the posterior of the weights, embed with the posterior means."""
        X = self._validate(X)
        check_real("reg", self.reg, low=0.0, strict_low=True)
        self.X_fit_ = X
        self.neighbors_ = knn_indices(X, self.n_neighbors)
        M, self.ridge_ = local_gram(X, X[self.neighbors_], self.reg)
        mean, P, sigma2, self.loglike_, converged = slr_em(
            M, self.ridge_, X.shape[1], max_iter=self.max_iter, tol=self.tol
        )
        self.weights_mean_ = self.weights_ = mean
        self.noise_variance_ = sigma2
        self.weights_cov_ = sigma2[:, None, None] * P
        self.n_iter_ = len(self.loglike_)
        if not converged:
            warnings.warn(
                f"EM did not converge in max_iter={self.max_iter} iterations.", ConvergenceWarning, stacklevel=2
            )
        self._embed(mean, *ARPACK_DEFAULTS)  # tol and max_iter are EM's here
        return self

    def sample_weights(self, n_draws: int = 1, random_state=None) -> np.ndarray:
        """Weights drawn from their posterior, (n_draws, n, k); ``random_state=None``: the estimator's."""
        check_is_fitted(self)
        n_draws = check_int("n_draws", n_draws, low=1)
        rng = check_random_state(self.random_state if random_state is None else random_state)
        draws = sample_weights(self.weights_mean_, self.weights_cov_, n_draws, rng)
        # remove rounding off the plane Σ_j w_j = 1
        return draws - (draws.sum(axis=2, keepdims=True) - 1) / draws.shape[2]

    def sample_embeddings(self, n_draws: int = 3, random_state=None) -> np.ndarray:
        """Embeddings (n_draws×n×n_components) of posterior draws of the weights, signs matched to ``embedding_``."""
        draws = self.sample_weights(n_draws, random_state)
        rng = check_random_state(self.random_state if random_state is None else random_state)
        out = np.empty((n_draws,) + self.embedding_.shape)
        for s, weights in enumerate(draws):
            W = weight_matrix(self.neighbors_, weights, len(weights))
            Y, _ = lle_embedding(W, self.n_components, self.eigen_solver, *ARPACK_DEFAULTS, rng)
            out[s] = Y * np.where(np.sum(Y * self.embedding_, axis=0) < 0, -1.0, 1.0)
        return out
