"""The paper's stochastic linear reconstruction (zero-mean prior, global mean) against direct computations."""

import warnings

import numpy as np
import pytest
from scipy.stats import multivariate_normal
from sklearn.datasets import make_swiss_roll
from sklearn.exceptions import ConvergenceWarning

from scratchbook.latent.lle import knn_indices
from scratchbook.latent.paper_slr import (
    PaperStochasticLLE,
    paper_slr_em,
    zero_mean_loglike,
    zero_mean_m_step,
    zero_mean_posterior,
)


def _problem(n=60, d=3, k=6, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * [3.0, 2.0, 1.0][:d] if d == 3 else rng.normal(size=(n, d))
    R = X - X.mean(axis=0)
    nb = X[knn_indices(X, k)]
    A = rng.normal(size=(n, k, k))
    Omega = A @ A.transpose(0, 2, 1) / k + 0.1 * np.eye(k)
    return R, nb, Omega


@pytest.mark.parametrize("d,k", [(3, 6), (8, 4)])  # both branches: d×d and k×k solves
def test_posterior_matches_the_precision_form(d, k):
    # independent route: S = (Ω⁻¹ + X̆ᵀX̆/σ²)⁻¹, m = S X̆ᵀ r / σ², point by point
    R, nb, Omega = _problem(d=d, k=k)
    sigma2 = 0.7
    mean, cov = zero_mean_posterior(R, nb, Omega, sigma2)
    for i in range(len(R)):
        Xi = nb[i].T  # d×k
        S = np.linalg.inv(np.linalg.inv(Omega[i]) + Xi.T @ Xi / sigma2)
        np.testing.assert_allclose(cov[i], S, atol=1e-10)
        np.testing.assert_allclose(mean[i], S @ Xi.T @ R[i] / sigma2, atol=1e-10)


@pytest.mark.parametrize("d,k", [(3, 6), (8, 4)])
def test_loglike_matches_scipy(d, k):
    R, nb, Omega = _problem(n=20, d=d, k=k)
    ll = zero_mean_loglike(R, nb, Omega, 0.3)
    for i in range(len(R)):
        cov = nb[i].T @ Omega[i] @ nb[i] + 0.3 * np.eye(R.shape[1])
        assert ll[i] == pytest.approx(multivariate_normal(np.zeros(R.shape[1]), cov).logpdf(R[i]), rel=1e-10)


def _expected_complete_loglike(R, nb, mean, cov, Omega, sigma2):
    """Q(Ω, σ²) = Σ_i E[log N(r_i; X̆_i w, σ²I) + log N(w; 0, Ω_i)] under q(w_i) = N(mean_i, cov_i), written out."""
    n, d = R.shape
    total = 0.0
    for i in range(n):
        Xi, m, S = nb[i].T, mean[i], cov[i]
        e_res = np.sum((R[i] - Xi @ m) ** 2) + np.trace(Xi @ S @ Xi.T)
        e_ww = S + np.outer(m, m)
        total += -0.5 * (d * np.log(2 * np.pi * sigma2) + e_res / sigma2)
        total += -0.5 * (
            len(m) * np.log(2 * np.pi) + np.linalg.slogdet(Omega[i])[1] + np.trace(np.linalg.solve(Omega[i], e_ww))
        )
    return total


def test_m_step_is_a_stationary_point_of_q_by_finite_differences():
    R, nb, Omega = _problem(n=15)
    mean, cov = zero_mean_posterior(R, nb, Omega, 0.5)
    Omega_new, s2_new = zero_mean_m_step(R, nb, mean, cov)
    h = 1e-6
    q = lambda O, s: _expected_complete_loglike(R, nb, mean, cov, O, s)  # noqa: E731
    assert abs((q(Omega_new, s2_new + h) - q(Omega_new, s2_new - h)) / (2 * h)) < 1e-4
    rng = np.random.default_rng(1)
    E = rng.normal(size=Omega.shape)
    E = E + E.transpose(0, 2, 1)
    assert abs((q(Omega_new + h * E, s2_new) - q(Omega_new - h * E, s2_new)) / (2 * h)) < 1e-4
    # and it is a maximum: a step in either direction lowers Q
    assert q(Omega_new, s2_new) > max(q(Omega_new, 1.1 * s2_new), q(Omega_new + 1e-2 * E, s2_new))


def test_em_never_decreases_the_likelihood_and_the_noise_collapses_for_k_at_least_d():
    X = make_swiss_roll(300, random_state=0)[0]
    R = X - X.mean(axis=0)
    mean, cov, Omega, s2, ll, noise, means = paper_slr_em(R, X[knn_indices(X, 8)], max_iter=25, min_noise=0.0)
    assert np.diff(ll).min() > -1e-9
    assert noise[-1] < 1e-3 * noise[0]  # k = 8 ≥ d = 3: σ² → 0 (exercise slr-ex-2)
    assert ll[-1] > ll[0] + 5
    assert np.abs(means[-1] - means[0]).max() > 1e-2  # EM moves the weights


def test_noise_settles_when_k_below_d():
    rng = np.random.default_rng(0)
    Z = rng.normal(size=(200, 2))
    X = np.tanh(Z @ rng.normal(size=(2, 12))) + 0.1 * rng.normal(size=(200, 12))  # d = 12 > k = 4
    R = X - X.mean(axis=0)
    *_, ll, noise, _ = paper_slr_em(R, X[knn_indices(X, 4)], max_iter=60, min_noise=0.0)
    assert np.diff(ll).min() > -1e-9
    assert 0.005 < noise[-1] < 0.02  # settles near the true noise variance 0.1² ...
    assert abs(noise[-1] / noise[-2] - 1) < 1e-3  # ... and stays there


def test_estimator_warns_when_the_noise_collapses_and_rejects_transform():
    X = make_swiss_roll(200, random_state=0)[0]
    with pytest.warns(ConvergenceWarning, match="no maximum"):
        model = PaperStochasticLLE(n_neighbors=8, max_iter=200, min_noise=1e-6, eigen_solver="dense").fit(X)
    assert model.n_iter_ < 200 and model.embedding_.shape == (200, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        PaperStochasticLLE(n_neighbors=8, max_iter=3, eigen_solver="dense").fit(X)
    with pytest.raises(NotImplementedError):
        model.transform(X)
    with pytest.raises(ValueError, match="max_iter"):
        PaperStochasticLLE(max_iter=0).fit(X)
