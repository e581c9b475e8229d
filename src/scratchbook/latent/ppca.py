"""Probabilistic PCA: factor analysis with isotropic noise Ψ = σ²I (chapter "Probabilistic PCA").

How scikit-learn's ``PCA.score`` differs: it evaluates the same Gaussian N(μ, WWᵀ + σ²I), but
``PCA`` estimates the covariance with 1/(N−1) where maximum likelihood uses 1/N. Each eigenvalue
of its covariance is c = N/(N−1) times ours, so its ``noise_variance_`` is c·σ², its W is
sqrt(c)·W and its model covariance is c·C. On the training data tr(C⁻¹S) = d at the optimum, so
log det grows by d·log c and the trace term shrinks to d/c, and::

    PCA.score(X) = PPCA.score(X) − (d/2)·log(c) − (d/2)·(1/c − 1)

Fitting ``PPCA`` to the data spread out by sqrt(c) about its mean reproduces sklearn's model.
"""

from __future__ import annotations

import numpy as np

from scratchbook._validation import check_option
from scratchbook.latent.factor_analysis import MIN_VARIANCE, FactorAnalysis, fa_loglike

__all__ = ["PPCA", "ppca_closed_form"]


def ppca_closed_form(S: np.ndarray, n_components: int) -> tuple[np.ndarray, float]:
    """Maximum-likelihood Wᵀ (q×d) and σ² from the eigenvectors of S, Eqs. (ppca-w), (ppca-sigma)."""
    eigval, eigvec = np.linalg.eigh(S)
    eigval, eigvec = eigval[::-1], eigvec[:, ::-1]  # descending order
    sigma2 = max(eigval[n_components:].mean(), MIN_VARIANCE)  # mean of the discarded eigenvalues
    U = eigvec[:, :n_components]
    U = U * np.sign(U[np.abs(U).argmax(axis=0), np.arange(n_components)])  # largest entry positive
    scale = np.sqrt(np.maximum(eigval[:n_components] - sigma2, 0.0))
    return (U * scale).T, float(sigma2)


class PPCA(FactorAnalysis):
    """Probabilistic PCA x = Wz + μ + ε, ε ~ N(0, σ²I), by the closed form or by EM.

    Parameters
    ----------
    n_components : int or None, default=None
        Dimension q of the latent space, below n_features; ``None`` means n_features − 1.
    method : {"closed_form", "em"}, default="closed_form"
        Eigen-decomposition of the sample covariance (Tipping & Bishop), or EM from a random start.
    max_iter : int, default=1000
        Maximum number of EM iterations (the closed form ignores it).
    tol : float, default=1e-8
        EM stops when the mean log-likelihood per sample gains less than ``tol``.
    random_state : int, RandomState or None, default=None
        Seed of the random start of EM.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        Wᵀ, one row per latent dimension; the closed form returns orthogonal rows (R = I).
    noise_variance_ : float
        The isotropic noise variance σ².
    mean_, n_iter_, loglike_
        As in :class:`~scratchbook.latent.factor_analysis.FactorAnalysis` (the closed form counts
        as one iteration).

    ``transform`` (posterior mean), ``score``, ``score_samples`` and ``get_covariance`` are those of
    :class:`~scratchbook.latent.factor_analysis.FactorAnalysis`, of which PPCA is the special case
    Ψ = σ²I.
    """

    def __init__(self, n_components=None, method="closed_form", max_iter=1000, tol=1e-8, random_state=None):
        self.n_components = n_components
        self.method = method
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state

    def _check_params(self, n_features: int) -> int:
        """Check the hyper-parameters; q must leave at least one discarded direction for σ²."""
        check_option("method", self.method, ("closed_form", "em"))
        q = super()._check_params(n_features)
        if self.n_components is None:
            return n_features - 1
        if q == n_features:
            raise ValueError(
                "n_components must be < n_features for PPCA (σ² is the mean of the discarded "
                f"eigenvalues), got n_components = {q} and n_features = {n_features}"
            )
        return q

    def fit(self, X, y=None):
        """Fit W, σ² and μ by maximum likelihood."""
        X = self._validate(X, reset=True)
        q = self._check_params(X.shape[1])
        S = self._sample_covariance(X)
        if self.method == "closed_form":
            self.components_, self.noise_variance_ = ppca_closed_form(S, q)
            self.n_iter_ = 1
            self.loglike_ = np.array([fa_loglike(S, self.components_, self._psi())])
        else:
            components, psi = self._start(S, q)
            self._fit_em(S, components, np.full_like(psi, psi.mean()), isotropic=True)
            self.noise_variance_ = float(self.noise_variance_[0])
        return self
