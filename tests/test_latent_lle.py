"""LLE and its stochastic linear reconstruction, against scikit-learn, scipy and closed forms.

Tolerances: embeddings agree with scikit-learn's to 1e-6 up to the sign of each column (an
eigenvector's sign is arbitrary); weights agree with independent least-squares solutions to 1e-9;
log-likelihoods agree with scipy's Gaussian log-density to 1e-8 (relative).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.linalg import null_space
from scipy.stats import multivariate_normal
from sklearn.datasets import make_s_curve, make_swiss_roll
from sklearn.exceptions import NotFittedError
from sklearn.manifold import LocallyLinearEmbedding
from sklearn.manifold._locally_linear import barycenter_weights
from sklearn.utils.estimator_checks import check_estimator

from scratchbook.latent import LLE, StochasticLLE
from scratchbook.latent.checks import check_noise_fixed_point, check_reconstruction_weights
from scratchbook.latent.lle import knn_indices, local_gram, reconstruction_weights
from scratchbook.latent.stochastic_lle import noise_m_step, slr_em, weight_posterior


def _data(name: str, n: int = 400) -> np.ndarray:
    if name == "swiss_roll":
        return make_swiss_roll(n, random_state=0)[0]
    if name == "s_curve":
        return make_s_curve(n, random_state=0)[0]
    return np.random.default_rng(0).normal(size=(n, 5))


def _align(Y: np.ndarray, Y_ref: np.ndarray) -> np.ndarray:
    """Flip the sign of each column of Y to match Y_ref."""
    return Y * np.where(np.sum(Y * Y_ref, axis=0) < 0, -1.0, 1.0)


def _kkt_weights(x: np.ndarray, nbrs: np.ndarray, reg: float) -> np.ndarray:
    """min ‖x − nbrsᵀw‖² + λ‖w‖² subject to Σw = 1, solved as one (k+1)×(k+1) KKT system."""
    k = len(nbrs)
    D = nbrs - x
    G = D @ D.T
    lam = reg * np.trace(G)
    kkt = np.block([[2 * (G + lam * np.eye(k)), np.ones((k, 1))], [np.ones((1, k)), np.zeros((1, 1))]])
    return np.linalg.solve(kkt, np.r_[np.zeros(k), 1.0])[:k]


# --- LLE against scikit-learn ------------------------------------------------------------------


@pytest.mark.parametrize("name,k", [("swiss_roll", 10), ("s_curve", 12), ("random", 8)])
def test_embedding_matches_sklearn_dense(name, k):
    X = _data(name)
    ours = LLE(n_neighbors=k, n_components=2, eigen_solver="dense").fit(X)
    ref = LocallyLinearEmbedding(n_neighbors=k, n_components=2, method="standard", eigen_solver="dense").fit(X)
    sign = np.where(np.sum(ours.embedding_ * ref.embedding_, axis=0) < 0, -1.0, 1.0)
    np.testing.assert_allclose(ours.embedding_ * sign, ref.embedding_, atol=1e-6)
    np.testing.assert_allclose(ours.reconstruction_error_, ref.reconstruction_error_, rtol=1e-6, atol=1e-12)
    X_new = X[:25] + 0.05 * np.random.default_rng(1).normal(size=(25, X.shape[1]))
    np.testing.assert_allclose(ours.transform(X_new) * sign, ref.transform(X_new), atol=1e-6)


def test_arpack_matches_sklearn_arpack_and_dense():
    X = _data("swiss_roll", n=600)
    ours = LLE(n_neighbors=10, eigen_solver="arpack", random_state=0).fit(X)
    ref = LocallyLinearEmbedding(n_neighbors=10, eigen_solver="arpack", random_state=0).fit(X)
    dense = LLE(n_neighbors=10, eigen_solver="dense").fit(X)
    np.testing.assert_allclose(_align(ours.embedding_, ref.embedding_), ref.embedding_, atol=1e-6)
    np.testing.assert_allclose(_align(ours.embedding_, dense.embedding_), dense.embedding_, atol=1e-5)
    np.testing.assert_allclose(ours.reconstruction_error_, ref.reconstruction_error_, rtol=1e-6)


def test_embedding_is_centred_and_orthonormal():
    Y = LLE(n_neighbors=10, eigen_solver="dense").fit_transform(_data("s_curve"))
    # orthogonal to the unit constant vector, up to the rounding that a small eigen-gap amplifies
    np.testing.assert_allclose(Y.sum(axis=0) / np.sqrt(len(Y)), 0.0, atol=1e-6)
    np.testing.assert_allclose(Y.T @ Y, np.eye(2), atol=1e-10)


def test_neighbours_exclude_the_point_and_match_brute_force():
    X = _data("random", n=120)
    ind = knn_indices(X, 6)
    dist = np.linalg.norm(X[:, None] - X[None], axis=2)
    np.fill_diagonal(dist, np.inf)
    np.testing.assert_array_equal(np.sort(ind, axis=1), np.sort(np.argsort(dist, axis=1)[:, :6], axis=1))


# --- reconstruction weights ----------------------------------------------------------------------


@pytest.mark.parametrize("name,k", [("swiss_roll", 10), ("random", 4)])
def test_weights_sum_to_one_and_solve_the_constrained_least_squares(name, k):
    X = _data(name, n=150)
    ind = knn_indices(X, k)
    W = reconstruction_weights(X, X[ind], reg=1e-3)
    np.testing.assert_allclose(W.sum(axis=1), 1.0, atol=1e-12)
    kkt = np.array([_kkt_weights(X[i], X[ind[i]], 1e-3) for i in range(len(X))])
    np.testing.assert_allclose(W, kkt, atol=1e-9)
    np.testing.assert_allclose(W, barycenter_weights(X, X, ind, reg=1e-3), atol=1e-9)


def test_weights_are_invariant_to_rotation_translation_and_scale():
    X = _data("random", n=80)
    ind = knn_indices(X, 4)
    Q = np.linalg.qr(np.random.default_rng(2).normal(size=(5, 5)))[0]
    Z = 3.0 * X @ Q + 7.0
    np.testing.assert_allclose(reconstruction_weights(Z, Z[ind]), reconstruction_weights(X, X[ind]), atol=1e-9)


# --- stochastic linear reconstruction -------------------------------------------------------------


@pytest.fixture(scope="module")
def slle():
    X = _data("swiss_roll", n=300)
    return X, StochasticLLE(n_neighbors=10, random_state=0, eigen_solver="dense").fit(X)


def test_em_objective_never_decreases(slle):
    _, model = slle
    ll = model.loglike_
    assert len(ll) > 5
    assert np.all(np.diff(ll) >= -1e-12 * np.abs(ll[:-1]).max()), np.diff(ll).min()
    assert ll[-1] > ll[0] + 0.1


def test_em_objective_is_the_gaussian_marginal(slle):
    """loglike_ is the mean of log N(x_i; x̄_i, σ_i²(I + N_iN_iᵀ/λ_i)), by scipy (N_i: the centred
    neighbours as columns)."""
    X, model = slle
    logpdf = []
    for i, ind in enumerate(model.neighbors_):
        Nc = X[ind] - X[ind].mean(axis=0)
        cov = model.noise_variance_[i] * (np.eye(X.shape[1]) + Nc.T @ Nc / model.ridge_[i])
        logpdf.append(multivariate_normal.logpdf(X[i], mean=X[ind].mean(axis=0), cov=cov))
    np.testing.assert_allclose(model.loglike_[-1], np.mean(logpdf), rtol=1e-8)


def test_posterior_mean_is_the_least_squares_weights_exactly(slle):
    X, model = slle
    kkt = np.array([_kkt_weights(X[i], X[ind], model.reg) for i, ind in enumerate(model.neighbors_)])
    np.testing.assert_allclose(model.weights_mean_, kkt, atol=1e-9)
    lle = LLE(n_neighbors=10, eigen_solver="dense").fit(X)
    np.testing.assert_allclose(_align(model.embedding_, lle.embedding_), lle.embedding_, atol=1e-8)


def test_posterior_matches_bayes_rule_in_plane_coordinates(slle):
    """Write w = 1/k + B u (B an orthonormal basis of the sum-to-one plane) and apply Bayes' rule to u."""
    X, model = slle
    k = model.n_neighbors
    B = null_space(np.ones((1, k)))
    for i in (0, 17, 123):
        nbrs = X[model.neighbors_[i]]
        A = nbrs.T @ B  # d×(k−1) loadings of u
        r = X[i] - nbrs.mean(axis=0)
        lam, s2 = model.ridge_[i], model.noise_variance_[i]
        prec = (A.T @ A + lam * np.eye(k - 1)) / s2  # posterior precision of u
        u_mean = np.linalg.solve(prec, A.T @ r / s2)
        np.testing.assert_allclose(model.weights_mean_[i], 1 / k + B @ u_mean, atol=1e-9)
        np.testing.assert_allclose(
            model.weights_cov_[i],
            B @ np.linalg.inv(prec) @ B.T,
            rtol=1e-6,
            atol=1e-9 * np.abs(model.weights_cov_[i]).max(),
        )


def test_m_step_fixed_point_and_rate():
    """σ² ← (q + (k−1)σ²)/(d+k−1): the fixed point is q/d and the error shrinks by (k−1)/(d+k−1)."""
    X = _data("swiss_roll", n=200)
    k, d = 8, X.shape[1]
    ind = knn_indices(X, k)
    M, lam = local_gram(X, X[ind], 1e-3)
    mean, P = weight_posterior(M)
    resid = X - np.einsum("ij,ijd->id", mean, X[ind])
    fixed = (np.sum(resid**2, axis=1) + lam * np.sum((mean - 1 / k) ** 2, axis=1)) / d
    s0 = lam.copy()
    s1 = noise_m_step(mean, s0[:, None, None] * P, M, lam, d)
    np.testing.assert_allclose((s1 - fixed) / (s0 - fixed), (k - 1) / (d + k - 1), rtol=1e-6)
    s_end = slr_em(M, lam, d, max_iter=500, tol=0.0)[2]
    np.testing.assert_allclose(s_end, fixed, rtol=1e-8)


def test_sampled_weights_follow_the_posterior(slle):
    _, model = slle
    draws = model.sample_weights(4000)
    np.testing.assert_allclose(draws.sum(axis=2), 1.0, atol=1e-12)
    i = 5
    mean, cov = model.weights_mean_[i], model.weights_cov_[i]
    se = np.sqrt(np.diag(cov) / len(draws))
    assert np.all(np.abs(draws[:, i].mean(axis=0) - mean) < 5 * se)
    np.testing.assert_allclose(np.cov(draws[:, i].T), cov, atol=0.15 * np.abs(cov).max())


def test_fixed_seed_gives_identical_output_and_other_seeds_differ():
    X = _data("s_curve", n=300)
    a = StochasticLLE(n_neighbors=10, random_state=3).fit(X)
    b = StochasticLLE(n_neighbors=10, random_state=3).fit(X)
    np.testing.assert_array_equal(a.embedding_, b.embedding_)
    np.testing.assert_array_equal(a.sample_embeddings(2), b.sample_embeddings(2))
    np.testing.assert_array_equal(a.sample_embeddings(2), a.sample_embeddings(2))
    other = a.sample_embeddings(2, random_state=4)
    assert np.abs(other - a.sample_embeddings(2)).max() > 1e-3


def test_sample_embeddings_are_aligned_in_sign(slle):
    _, model = slle
    Y = model.sample_embeddings(3)
    assert Y.shape == (3,) + model.embedding_.shape
    assert np.all(np.einsum("snc,nc->sc", Y, model.embedding_) >= 0)


# --- API, validation and the checkers ------------------------------------------------------------


@pytest.mark.parametrize("Estimator", [LLE, StochasticLLE])
def test_check_estimator(Estimator):
    expected = {}
    if Estimator is LLE:
        # LLE's max_iter caps arpack's iterations, and arpack does not report how many it used.
        expected["check_transformer_n_iter"] = "arpack does not report its iteration count"
    check_estimator(Estimator(), expected_failed_checks=expected)


@pytest.mark.parametrize("Estimator", [LLE, StochasticLLE])
@pytest.mark.parametrize(
    "params,match",
    [
        ({"n_neighbors": 30}, "n_neighbors"),
        ({"n_neighbors": 0}, "n_neighbors"),
        ({"n_components": 4}, "n_components"),
        ({"n_components": 0}, "n_components"),
        ({"reg": -1.0}, "reg"),
        ({"reg": float("nan")}, "reg"),
        ({"eigen_solver": "lobpcg"}, "eigen_solver"),
    ],
)
def test_bad_parameters_name_the_argument(Estimator, params, match):
    X = _data("random", n=30)[:, :3]
    with pytest.raises(ValueError, match=match):
        Estimator(**params).fit(X)


def test_more_bad_input():
    X = _data("random", n=30)
    with pytest.raises(TypeError, match="n_neighbors"):
        LLE(n_neighbors=2.5).fit(X)
    with pytest.raises(ValueError, match="n_components"):
        LLE(n_components=5, n_neighbors=2).fit(X[:5])  # n_components >= n_samples
    with pytest.raises(ValueError, match="reg"):
        StochasticLLE(reg=0.0).fit(X)  # the prior needs a positive precision
    for bad in (np.nan, np.inf):
        Xb = X.copy()
        Xb[3, 1] = bad
        with pytest.raises(ValueError, match="X"):
            LLE().fit(Xb)
    with pytest.raises(NotFittedError):
        LLE().transform(X)
    model = StochasticLLE().fit(X)
    with pytest.raises(ValueError, match="n_draws"):
        model.sample_embeddings(0)
    with pytest.raises(ValueError, match="features"):
        model.transform(X[:, :3])


def _reader_weights(x, nbrs, reg):
    D = nbrs - x
    G = D @ D.T
    w = np.linalg.solve(G + reg * np.trace(G) * np.eye(len(G)), np.ones(len(G)))
    return w / w.sum()


def _reader_sigma2(x, nbrs, reg):
    k, d = nbrs.shape
    w = _reader_weights(x, nbrs, reg)
    lam = reg * np.sum((nbrs - x) ** 2)
    return (np.sum((x - w @ nbrs) ** 2) + lam * np.sum((w - 1 / k) ** 2)) / d


def test_checkers_accept_right_and_reject_wrong_answers(capsys):
    assert check_reconstruction_weights(_reader_weights)
    assert not check_reconstruction_weights(lambda x, nbrs, reg: np.full(len(nbrs), 1 / len(nbrs)))
    assert check_noise_fixed_point(_reader_sigma2)
    assert not check_noise_fixed_point(lambda x, nbrs, reg: _reader_sigma2(x, nbrs, reg) * 1.01)

    def not_done(*args):
        raise NotImplementedError

    assert not check_reconstruction_weights(not_done)
    assert "Not implemented" in capsys.readouterr().out


def test_lle_rejects_n_components_not_below_n_neighbors():
    X = _data("random", n=30)
    with pytest.raises(ValueError, match="n_components must be < n_neighbors"):
        LLE(n_neighbors=3, n_components=3).fit(X)
    with pytest.raises(ValueError, match="n_neighbors"):
        StochasticLLE(n_neighbors=2, n_components=2).fit(X)


def test_unrolled_is_the_best_absolute_rank_correlation():
    from scratchbook.latent.lle import unrolled

    rng = np.random.default_rng(0)
    t = rng.uniform(size=200)
    Y = np.column_stack([rng.normal(size=200), -np.exp(3 * t) + 0.01 * rng.normal(size=200)])

    def ranks(v):  # ranks without ties, for continuous data
        r = np.empty(len(v))
        r[np.argsort(v)] = np.arange(len(v))
        return r

    expected = max(abs(np.corrcoef(ranks(Y[:, c]), ranks(t))[0, 1]) for c in range(2))
    assert unrolled(Y, t) == pytest.approx(expected, abs=1e-12)
    assert expected > 0.99  # the monotone second column wins
    with pytest.raises(ValueError, match="t"):
        unrolled(Y, t[:10])
