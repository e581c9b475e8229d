"""Factor analysis and probabilistic PCA against scikit-learn, scipy and the closed forms.

Tolerances: log-likelihoods computed two ways from the same parameters agree to 1e-10 (relative);
fitted models agree with scikit-learn's to 1e-6 in mean log-likelihood per sample, which needs
both EM runs converged far below that (tol 1e-12 here, 1e-10 on the total for scikit-learn).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.linalg import subspace_angles
from scipy.stats import multivariate_normal
from sklearn.decomposition import PCA
from sklearn.decomposition import FactorAnalysis as SkFactorAnalysis
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.estimator_checks import parametrize_with_checks

from scratchbook.datasets import make_factor_data
from scratchbook.latent import PPCA, FactorAnalysis
from scratchbook.latent.factor_analysis import fa_e_step, fa_loglike, fa_m_step, fa_posterior
from scratchbook.latent.ppca import ppca_closed_form

TIGHT = dict(tol=1e-12, max_iter=100_000)


@pytest.fixture(scope="module")
def synthetic():
    return make_factor_data(n_samples=800, n_features=12, n_components=3, random_state=0).data


@pytest.fixture(scope="module")
def wine_X(wine_all):
    return wine_all[0]  # the features alone: factor analysis is unsupervised


def sklearn_fa(X, q):
    return SkFactorAnalysis(q, tol=1e-10, max_iter=100_000, svd_method="lapack").fit(X)


def centred_cov(X):
    Xc = X - X.mean(axis=0)
    return Xc, Xc.T @ Xc / len(X)


# --- log-likelihood and posterior formulas ---------------------------------------------------


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # parameters are replaced
def test_fa_loglike_matches_scipy_logpdf():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 6)) @ rng.normal(size=(6, 6))
    components, psi = rng.normal(size=(2, 6)), rng.uniform(0.3, 2.0, size=6)
    Xc, S = centred_cov(X)
    cov = components.T @ components + np.diag(psi)
    oracle = multivariate_normal(X.mean(axis=0), cov).logpdf(X)
    np.testing.assert_allclose(fa_loglike(S, components, psi), oracle.mean(), rtol=1e-10)

    fa = FactorAnalysis(2).fit(X)
    fa.components_, fa.noise_variance_ = components, psi
    np.testing.assert_allclose(fa.score_samples(X), oracle, rtol=1e-10)
    np.testing.assert_allclose(fa.get_covariance(), cov, rtol=1e-12)


def test_fa_posterior_matches_gaussian_conditioning():
    # Joint of (z, x) is Gaussian with cross-covariance Λᵀ: E[z|x] = ΛᵀC⁻¹x, Cov = I − ΛᵀC⁻¹Λ.
    rng = np.random.default_rng(1)
    components, psi = rng.normal(size=(3, 7)), rng.uniform(0.2, 1.0, size=7)
    Xc = rng.normal(size=(20, 7))
    C = components.T @ components + np.diag(psi)
    means, cov = fa_posterior(Xc, components, psi)
    np.testing.assert_allclose(means, Xc @ np.linalg.solve(C, components.T), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(cov, np.eye(3) - components @ np.linalg.solve(C, components.T), atol=1e-12)


def test_fa_em_step_matches_per_sample_sums():
    # The E/M steps work with S only; compare with the textbook sums over samples.
    rng = np.random.default_rng(2)
    Xc, S = centred_cov(rng.normal(size=(40, 5)) @ rng.normal(size=(5, 5)))
    components, psi = rng.normal(size=(2, 5)), rng.uniform(0.5, 1.5, size=5)
    means, cov = fa_posterior(Xc, components, psi)
    sum_xz = sum(np.outer(x, m) for x, m in zip(Xc, means))
    sum_zz = sum(cov + np.outer(m, m) for m in means)
    Lam = sum_xz @ np.linalg.inv(sum_zz)
    psi_new = np.diag(Xc.T @ Xc - Lam @ sum_xz.T) / len(Xc)
    new_components, new_psi = fa_m_step(S, *fa_e_step(S, components, psi))
    np.testing.assert_allclose(new_components, Lam.T, rtol=1e-10)
    np.testing.assert_allclose(new_psi, psi_new, rtol=1e-10)


# --- factor analysis against scikit-learn ----------------------------------------------------


@pytest.mark.parametrize("data, q", [("synthetic", 3), ("wine_X", 2)])
def test_fa_matches_sklearn(data, q, request):
    X = request.getfixturevalue(data)
    ours, ref = FactorAnalysis(q, random_state=0, **TIGHT).fit(X), sklearn_fa(X, q)
    assert abs(ours.score(X) - ref.score(X)) < 1e-6
    # No Heywood case: every noise variance stays well above 0, so the optimum is interior.
    assert ours.noise_variance_.min() > 0.05
    np.testing.assert_allclose(ours.noise_variance_, ref.noise_variance_, rtol=1e-3)
    np.testing.assert_allclose(ours.get_covariance(), ref.get_covariance(), atol=1e-3)


def test_fa_params_in_sklearn_give_same_score_and_transform(synthetic):
    ours = FactorAnalysis(3, random_state=0).fit(synthetic)
    ref = SkFactorAnalysis(3).fit(synthetic)
    ref.components_, ref.noise_variance_, ref.mean_ = ours.components_, ours.noise_variance_, ours.mean_
    X_new = make_factor_data(n_samples=50, n_features=12, n_components=3, random_state=9).data
    np.testing.assert_allclose(ours.score(X_new), ref.score(X_new), rtol=1e-10)
    np.testing.assert_allclose(ours.score_samples(X_new), ref.score_samples(X_new), rtol=1e-10)
    np.testing.assert_allclose(ours.transform(X_new), ref.transform(X_new), rtol=1e-9, atol=1e-12)


def test_fa_loglike_never_decreases(wine_X):
    fa = FactorAnalysis(3, random_state=0, **TIGHT).fit(wine_X)
    ll = np.asarray(fa.loglike_)
    assert fa.n_iter_ == len(ll) > 100  # a long run, so the test has something to check
    assert np.all(np.diff(ll) >= -1e-9 * np.abs(ll[:-1]))
    np.testing.assert_allclose(ll[-1], fa.score(wine_X), rtol=1e-10)


def test_fa_rotation_is_not_identified(synthetic):
    # Different starts give different loadings but the same model covariance ΛΛᵀ + Ψ.
    a = FactorAnalysis(3, random_state=0, **TIGHT).fit(synthetic)
    b = FactorAnalysis(3, random_state=1, **TIGHT).fit(synthetic)
    assert np.abs(a.components_ - b.components_).max() > 0.1
    np.testing.assert_allclose(a.get_covariance(), b.get_covariance(), atol=1e-4)


def test_fa_warns_when_not_converged(synthetic):
    with pytest.warns(UserWarning, match="max_iter"):
        FactorAnalysis(3, max_iter=2, random_state=0).fit(synthetic)


# --- probabilistic PCA -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def isotropic():
    return make_factor_data(n_samples=600, n_features=10, n_components=3, noise_variance=0.3, random_state=1).data


def test_ppca_closed_form_matches_tipping_bishop(isotropic):
    X, q = isotropic, 3
    N, d = X.shape
    # eigenvalues of the 1/N covariance, from the singular values of the centred data
    lam = np.linalg.svd(X - X.mean(axis=0), compute_uv=False) ** 2 / N
    sigma2 = lam[q:].mean()
    loglike_tb = -0.5 * (d * np.log(2 * np.pi) + np.log(lam[:q]).sum() + (d - q) * np.log(sigma2) + d)
    model = PPCA(q).fit(X)
    np.testing.assert_allclose(model.noise_variance_, sigma2, rtol=1e-10)
    np.testing.assert_allclose(model.score(X), loglike_tb, rtol=1e-10)
    oracle = multivariate_normal(X.mean(axis=0), model.get_covariance()).logpdf(X).mean()
    np.testing.assert_allclose(model.score(X), oracle, rtol=1e-10)
    np.testing.assert_allclose(model.loglike_[-1], loglike_tb, rtol=1e-10)


def test_ppca_em_converges_to_closed_form(isotropic):
    closed = PPCA(3).fit(isotropic)
    em = PPCA(3, method="em", random_state=0, **TIGHT).fit(isotropic)
    assert abs(em.score(isotropic) - closed.score(isotropic)) < 1e-8
    assert subspace_angles(em.components_.T, closed.components_.T).max() < 1e-4
    np.testing.assert_allclose(em.noise_variance_, closed.noise_variance_, rtol=1e-6)
    assert np.all(np.diff(em.loglike_) >= -1e-9 * np.abs(em.loglike_[:-1]))


def test_ppca_against_sklearn_pca(isotropic):
    X, q = isotropic, 3
    N, d = X.shape
    c = N / (N - 1)  # sklearn's covariance uses 1/(N−1): every eigenvalue is c times ours
    ours, pca = PPCA(q).fit(X), PCA(q).fit(X)
    np.testing.assert_allclose(pca.noise_variance_ / c, ours.noise_variance_, rtol=1e-10)
    gap = -0.5 * d * np.log(c) - 0.5 * d * (1 / c - 1)
    np.testing.assert_allclose(pca.score(X), ours.score(X) + gap, rtol=1e-10)
    # Fitting on data whose spread is scaled by sqrt(c) gives exactly sklearn's model.
    mean = X.mean(axis=0)
    rescaled = PPCA(q).fit(mean + (X - mean) * np.sqrt(c))
    np.testing.assert_allclose(rescaled.get_covariance(), pca.get_covariance(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(rescaled.score(X), pca.score(X), rtol=1e-10)
    assert subspace_angles(ours.components_.T, pca.components_.T).max() < 1e-8


def test_ppca_closed_form_function_is_rotation_canonical():
    rng = np.random.default_rng(4)
    Xc, S = centred_cov(rng.normal(size=(30, 6)) * np.arange(1, 7))
    components, sigma2 = ppca_closed_form(S, 2)
    lam, U = np.linalg.eigh(S)
    expected = U[:, -2:] @ np.diag(lam[-2:] - lam[:-2].mean()) @ U[:, -2:].T
    np.testing.assert_allclose(components.T @ components, expected, atol=1e-12)
    gram = components @ components.T  # rows orthogonal: R = I in Eq. (ppca-w)
    np.testing.assert_allclose(gram, np.diag(np.diag(gram)), atol=1e-12)


# --- scikit-learn estimator contract, bad input, determinism ---------------------------------


# All checks run; scikit-learn itself skips check_array_api_input (it needs SCIPY_ARRAY_API=1 and
# an estimator that declares array API support, which these numpy-only estimators do not).
@parametrize_with_checks([FactorAnalysis(random_state=0), PPCA(), PPCA(method="em", random_state=0)])
def test_sklearn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # some checks use max_iter too small to converge
        check(estimator)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # random data, short runs
@pytest.mark.parametrize("Estimator", [FactorAnalysis, PPCA])
def test_bad_input_names_the_argument(Estimator):
    X = np.random.default_rng(0).normal(size=(20, 4))
    with pytest.raises(ValueError, match="Input X contains NaN"):
        Estimator(2).fit(np.where(X > 1.5, np.nan, X))
    with pytest.raises(ValueError, match="Input X contains infinity"):
        Estimator(2).fit(np.where(X > 1.5, np.inf, X))
    with pytest.raises(ValueError, match="X must be 2-D"):
        Estimator(2).fit(X[:, 0])
    with pytest.raises(ValueError, match="n_components must be <= n_features = 4"):
        Estimator(5).fit(X)
    with pytest.raises(ValueError, match="max_iter must be >= 1"):
        Estimator(2, max_iter=0).fit(X)
    with pytest.raises(ValueError, match="tol must be >= 0"):
        Estimator(2, tol=-1.0).fit(X)
    with pytest.raises(TypeError, match="n_components must be an int"):
        Estimator(1.5).fit(X)
    with pytest.raises(ValueError, match="X has 3 features"):
        Estimator(2).fit(X).transform(X[:, :3])


def test_ppca_specific_bad_input():
    X = np.random.default_rng(0).normal(size=(20, 4))
    with pytest.raises(ValueError, match="method must be one of"):
        PPCA(2, method="svd").fit(X)
    with pytest.raises(ValueError, match="n_components must be < n_features"):
        PPCA(4).fit(X)


@pytest.mark.parametrize("Estimator, kw", [(FactorAnalysis, {}), (PPCA, {"method": "em"})])
def test_same_random_state_same_output(Estimator, kw, synthetic):
    a = Estimator(3, random_state=7, **kw).fit(synthetic)
    b = Estimator(3, random_state=7, **kw).fit(synthetic)
    np.testing.assert_array_equal(a.components_, b.components_)
    np.testing.assert_array_equal(a.noise_variance_, b.noise_variance_)
    np.testing.assert_array_equal(a.transform(synthetic), b.transform(synthetic))


# --- the ELBO view of EM and the behaviour under rescaling ----------------------------------


def _random_params(rng, d, q):
    return rng.normal(size=(q, d)), rng.uniform(0.3, 1.5, size=d)


def test_fa_elbo_touches_the_loglike_at_the_posterior_and_lies_below_elsewhere():
    from scratchbook.latent.factor_analysis import fa_elbo, fa_woodbury

    rng = np.random.default_rng(0)
    X = make_factor_data(n_samples=300, n_features=6, n_components=2, random_state=1).data
    _, S = centred_cov(X)
    comp_a, psi_a = _random_params(rng, 6, 2)
    W_psi, cov_z, _ = fa_woodbury(comp_a, psi_a)
    B = cov_z @ W_psi
    assert fa_elbo(S, comp_a, psi_a, B, cov_z) == pytest.approx(fa_loglike(S, comp_a, psi_a), abs=1e-10)
    for _ in range(5):  # any other parameters: the bound with q from (comp_a, psi_a) is strictly below
        comp_b, psi_b = _random_params(rng, 6, 2)
        assert fa_elbo(S, comp_b, psi_b, B, cov_z) < fa_loglike(S, comp_b, psi_b) - 1e-6


def test_fa_elbo_matches_a_monte_carlo_estimate():
    from scratchbook.latent.factor_analysis import fa_elbo

    rng = np.random.default_rng(2)
    d, q, n, draws = 4, 2, 40, 4000
    Xc = rng.normal(size=(n, d))
    Xc -= Xc.mean(axis=0)
    S = Xc.T @ Xc / n
    comp, psi = _random_params(rng, d, q)
    B, cov_z = rng.normal(size=(q, d)) * 0.3, np.array([[0.5, 0.1], [0.1, 0.3]])  # any Gaussian q
    total = 0.0
    for x in Xc:
        z = rng.multivariate_normal(B @ x, cov_z, size=draws)
        log_joint = multivariate_normal(np.zeros(d), np.diag(psi)).logpdf(x - z @ comp)
        log_joint += multivariate_normal(np.zeros(q), np.eye(q)).logpdf(z)
        total += np.mean(log_joint - multivariate_normal(B @ x, cov_z).logpdf(z))
    assert fa_elbo(S, comp, psi, B, cov_z) == pytest.approx(total / n, abs=0.03)


def test_fa_follows_a_change_of_units_and_ppca_does_not(synthetic):
    # oracle: the likelihood identity D(ΛΛᵀ + Ψ)D = (DΛ)(DΛ)ᵀ + DΨD, so the rescaled fit is the fit rescaled
    scale = np.ones(synthetic.shape[1])
    scale[0] = 10.0
    fa = [FactorAnalysis(3, random_state=0, **TIGHT).fit(X) for X in (synthetic, synthetic * scale)]
    pp = [PPCA(3).fit(X) for X in (synthetic, synthetic * scale)]
    expected = scale[:, None] * fa[0].get_covariance() * scale[None, :]
    np.testing.assert_allclose(fa[1].get_covariance(), expected, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(fa[1].noise_variance_, fa[0].noise_variance_ * scale**2, rtol=1e-5)
    angle = subspace_angles(pp[1].components_.T, (pp[0].components_ * scale).T).max()
    assert np.degrees(angle) > 0.1  # PPCA's subspace turns (an equivariant fit would give ~1e-12)


def test_fa_em_warns_when_the_loglike_goes_down(monkeypatch, synthetic):
    import scratchbook.latent.factor_analysis as fa_module

    _, S = centred_cov(synthetic)
    start = (np.random.default_rng(0).normal(size=(3, S.shape[0])), np.diag(S) / 2)
    true_step = fa_module.fa_m_step
    monkeypatch.setattr(fa_module, "fa_m_step", lambda *a: (true_step(*a)[0] * 3.0, true_step(*a)[1]))  # a bad step
    with pytest.warns(RuntimeWarning, match="decreased"):
        fa_module.fa_em(S, *start, max_iter=5, tol=-np.inf)


@pytest.mark.parametrize("noise_variance", [np.ones(5), np.ones((6, 1)), [[0.5]]])
def test_make_factor_data_names_a_noise_vector_of_the_wrong_shape(noise_variance):
    with pytest.raises(ValueError, match="noise_variance.*n_features = 6"):
        make_factor_data(n_samples=10, n_features=6, n_components=2, noise_variance=noise_variance)


def test_make_factor_data_spreads_a_scalar_or_keeps_a_vector_of_noise_variances():
    psi = np.linspace(0.2, 0.7, 6)
    assert np.array_equal(make_factor_data(n_features=6, noise_variance=psi, random_state=0).noise_variance, psi)
    assert np.array_equal(
        make_factor_data(n_features=6, noise_variance=0.3, random_state=0).noise_variance, np.full(6, 0.3)
    )
