"""Factor analysis fitted by expectation-maximization (chapter "Factor analysis").

The model is x = Λz + μ + ε with z ~ N(0, I_q) and ε ~ N(0, Ψ), Ψ diagonal, so that
x ~ N(μ, ΛΛᵀ + Ψ). Following scikit-learn, ``components_`` stores Λᵀ (shape q×d, one row
per factor). Every step works with the d×d sample covariance S and q×q solves only: one
EM iteration costs O(d²q), whatever the number of samples.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from scratchbook._validation import check_int, check_n_components, check_real, check_X

__all__ = [
    "FactorAnalysis",
    "fa_woodbury",
    "fa_posterior",
    "fa_e_step",
    "fa_m_step",
    "fa_loglike",
    "fa_elbo",
    "fa_score_samples",
    "fa_em",
]

MIN_VARIANCE = 1e-12  # floor on noise variances, so Ψ⁻¹ exists even in a Heywood case
Array = np.ndarray


def fa_woodbury(components: Array, psi: Array) -> tuple[Array, Array, float]:
    """Return ΛᵀΨ⁻¹ (q×d), Σ_z (q×q) and log det(ΛΛᵀ + Ψ): Eqs. (fa-woodbury), (fa-post-cov)."""
    W_psi = components / psi
    cov_z = np.linalg.inv(np.eye(len(components)) + W_psi @ components.T)
    logdet = np.sum(np.log(psi)) - np.linalg.slogdet(cov_z)[1]
    return W_psi, cov_z, logdet


def fa_posterior(Xc: Array, components: Array, psi: Array) -> tuple[Array, Array]:
    """Posterior means E[z|x] of centred rows Xc (n×q) and covariance Σ_z, Eq. (fa-post-mean)."""
    W_psi, cov_z, _ = fa_woodbury(components, psi)
    return Xc @ (cov_z @ W_psi).T, cov_z


def fa_e_step(S: Array, components: Array, psi: Array) -> tuple[Array, Array]:
    """E-step, Eq. (fa-estep): sample means of (x−μ)E[z|x]ᵀ (d×q) and of E[zzᵀ|x] (q×q)."""
    W_psi, cov_z, _ = fa_woodbury(components, psi)
    B = cov_z @ W_psi  # E[z|x] = B (x − μ)
    S_Bt = S @ B.T  # mean of (x − μ) E[z|x]ᵀ
    Ezz = cov_z + B @ S_Bt  # mean of E[zzᵀ|x] = Σ_z + E[z|x] E[z|x]ᵀ
    return S_Bt, Ezz


def fa_m_step(S: Array, S_Bt: Array, Ezz: Array) -> tuple[Array, Array]:
    """M-step, Eqs. (fa-m-lambda) and (fa-m-psi): new Λᵀ (q×d) and new diagonal of Ψ (d,)."""
    components = np.linalg.solve(Ezz, S_Bt.T)  # Λ = S_Bt Ezz⁻¹, stored as Λᵀ
    psi = np.diag(S) - np.sum(components * S_Bt.T, axis=0)  # diag(S − Λ S_Btᵀ)
    return components, np.maximum(psi, MIN_VARIANCE)


def fa_loglike(S: Array, components: Array, psi: Array) -> float:
    """Mean log-likelihood per sample from the sample covariance S, Eq. (fa-loglike)."""
    W_psi, cov_z, logdet = fa_woodbury(components, psi)
    trace = np.sum(np.diag(S) / psi) - np.sum(cov_z * (W_psi @ S @ W_psi.T))  # tr(C⁻¹S)
    return -0.5 * (len(psi) * np.log(2 * np.pi) + logdet + trace)


def fa_elbo(S: Array, components: Array, psi: Array, B: Array, cov_z: Array) -> float:
    """Mean lower bound E_r[log p(x, z)] + H(r) per sample for r(z_i) = N(B(x_i − μ), cov_z), Eq. (fa-elbo).

    With B and cov_z the posterior's at the same (components, psi) the bound equals ``fa_loglike``.
    """
    q, d = components.shape
    Lam = components.T
    BS = B @ S  # mean of E_r[z](x − μ)ᵀ, q×d
    Ezz = cov_z + BS @ B.T  # mean of E_r[zzᵀ]
    residual = np.diag(S) - 2 * np.einsum("jq,qj->j", Lam, BS) + np.einsum("jq,qr,jr->j", Lam, Ezz, Lam)
    e_lik = -0.5 * (d * np.log(2 * np.pi) + np.sum(np.log(psi)) + np.sum(residual / psi))
    e_prior = -0.5 * (q * np.log(2 * np.pi) + np.trace(Ezz))
    entropy = 0.5 * (q * (1 + np.log(2 * np.pi)) + np.linalg.slogdet(cov_z)[1])
    return float(e_lik + e_prior + entropy)


def fa_score_samples(Xc: Array, components: Array, psi: Array) -> Array:
    """Log-density of each centred row of Xc under N(0, ΛΛᵀ + Ψ), Eq. (fa-marginal)."""
    W_psi, cov_z, logdet = fa_woodbury(components, psi)
    P = Xc @ W_psi.T  # n×q
    maha = np.sum(Xc**2 / psi, axis=1) - np.sum((P @ cov_z) * P, axis=1)
    return -0.5 * (len(psi) * np.log(2 * np.pi) + logdet + maha)


def fa_em(
    S: Array, components: Array, psi: Array, *, max_iter: int, tol: float, isotropic: bool = False
) -> tuple[Array, Array, Array, bool]:
    """Iterate E- and M-steps until the mean log-likelihood gains less than ``tol``.

    ``isotropic=True`` replaces Ψ by σ²I after each M-step (probabilistic PCA). Returns the
    parameters, the log-likelihood after each iteration and whether the tolerance was reached.
    """
    loglike, previous = [], fa_loglike(S, components, psi)
    for _ in range(max_iter):
        components, psi = fa_m_step(S, *fa_e_step(S, components, psi))
        if isotropic:
            psi = np.full_like(psi, psi.mean())
        loglike.append(fa_loglike(S, components, psi))
        if loglike[-1] - previous < -1e-9 * (1 + abs(previous)):  # EM cannot go down: rounding or a bug
            warnings.warn(f"the log-likelihood decreased by {previous - loglike[-1]:.3g}", RuntimeWarning, stacklevel=2)
        if loglike[-1] - previous < tol:
            return components, psi, np.array(loglike), True
        previous = loglike[-1]
    return components, psi, np.array(loglike), False


class FactorAnalysis(TransformerMixin, BaseEstimator):
    """Factor analysis x = Λz + μ + ε, ε ~ N(0, Ψ) with Ψ diagonal, fitted by EM.

    Parameters
    ----------
    n_components : int or None, default=None
        Number of factors q; ``None`` means q = n_features.
    max_iter : int, default=1000
        Maximum number of EM iterations.
    tol : float, default=1e-8
        Stop when the mean log-likelihood per sample gains less than ``tol`` in one iteration.
    random_state : int, RandomState or None, default=None
        Seed of the random starting loadings.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        The loadings Λᵀ, one row per factor.
    noise_variance_ : ndarray of shape (n_features,)
        The diagonal of Ψ.
    mean_ : ndarray of shape (n_features,)
        The sample mean, the maximum-likelihood μ.
    n_iter_ : int
        Number of EM iterations run.
    loglike_ : ndarray of shape (``n_iter_``,)
        Mean log-likelihood per sample after each iteration (scikit-learn's ``loglike_`` holds the
        total over samples instead).
    """

    def __init__(self, n_components=None, max_iter=1000, tol=1e-8, random_state=None):
        self.n_components = n_components
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state

    def _check_params(self, n_features: int) -> int:
        """Check the hyper-parameters and return the number of components."""
        check_int("max_iter", self.max_iter, low=1)
        check_real("tol", self.tol, low=0.0)
        return check_n_components(self.n_components, n_features)

    def _validate(self, X, reset: bool) -> Array:
        """scikit-learn's input checks (NaN, inf, n_features), after naming X when it is not 2-D."""
        return check_X(self, X, reset=reset, min_samples=2 if reset else 1)

    def _sample_covariance(self, X: Array) -> Array:
        """Store the mean of X as ``mean_`` and return the 1/N sample covariance S."""
        self.mean_ = X.mean(axis=0)
        Xc = X - self.mean_
        return Xc.T @ Xc / len(X)

    def _start(self, S: Array, q: int) -> tuple[Array, Array]:
        """Random loadings explaining about half of each feature's variance; Ψ the other half."""
        rng = check_random_state(self.random_state)
        half = np.maximum(np.diag(S) / 2, MIN_VARIANCE)
        return rng.standard_normal((q, len(S))) * np.sqrt(half / max(q, 1)), half

    def _fit_em(self, S: Array, components: Array, psi: Array, isotropic: bool) -> None:
        """Run EM from a start, store the fitted attributes, warn if ``tol`` was not reached."""
        self.components_, self.noise_variance_, self.loglike_, converged = fa_em(
            S, components, psi, max_iter=self.max_iter, tol=self.tol, isotropic=isotropic
        )
        self.n_iter_ = len(self.loglike_)
        if not converged:
            message = f"EM did not converge in max_iter={self.max_iter} iterations"
            warnings.warn(message, ConvergenceWarning, stacklevel=3)

    def fit(self, X, y=None):
        """Fit Λ, Ψ and μ by maximum likelihood with EM."""
        X = self._validate(X, reset=True)
        q = self._check_params(X.shape[1])
        S = self._sample_covariance(X)
        self._fit_em(S, *self._start(S, q), isotropic=False)
        return self

    def _psi(self) -> Array:
        """The diagonal of Ψ as a vector (a scalar σ² is broadcast, for PPCA)."""
        return np.broadcast_to(self.noise_variance_, self.mean_.shape).astype(float)

    def transform(self, X):
        """Posterior mean E[z|x] of the factors, Eq. (fa-post-mean)."""
        check_is_fitted(self)
        X = self._validate(X, reset=False)
        return fa_posterior(X - self.mean_, self.components_, self._psi())[0]

    def score_samples(self, X):
        """Log-likelihood of each sample under the fitted model."""
        check_is_fitted(self)
        X = self._validate(X, reset=False)
        return fa_score_samples(X - self.mean_, self.components_, self._psi())

    def score(self, X, y=None):
        """Mean log-likelihood per sample."""
        return float(np.mean(self.score_samples(X)))

    def get_covariance(self):
        """Model covariance ΛΛᵀ + Ψ of the data."""
        check_is_fitted(self)
        return self.components_.T @ self.components_ + np.diag(self._psi())
