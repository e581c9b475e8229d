"""Chapter 2.6 learners against oracles that do not restate the code: finite differences for every
gradient, the definition of the adversary's step, the optimality of the generalized eigenproblems, and
scikit-learn's LDA for the kernel Fisher map with a linear kernel."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.metrics.pairwise import rbf_kernel

from scratchbook.metric.more_spectral import (
    IML,
    LLMA,
    AdversarialSML,
    KernelFisher,
    adversarial_differences,
    iml_gradient,
    iml_loss,
    kernel_fisher_matrices,
    llma_gradient,
    llma_objective,
    make_turning,
    neighbour_pairs,
    pair_directions,
)


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 4))
    y = np.r_[np.zeros(30, int), np.ones(7, int), 2 * np.ones(3, int)]  # imbalanced classes
    X[y == 1] += 1.5
    return X, y


def test_neighbour_pairs_are_the_nearest_by_brute_force(data):
    X, y = data
    i_s, j_s, i_d, j_d = neighbour_pairs(X, y, 2)
    for a in range(len(X)):
        d = np.linalg.norm(X - X[a], axis=1)
        same = np.flatnonzero((y == y[a]) & (np.arange(len(X)) != a))
        other = np.flatnonzero(y != y[a])
        assert set(j_s[i_s == a]) == set(same[np.argsort(d[same])[:2]])
        assert set(j_d[i_d == a]) == set(other[np.argsort(d[other])[:2]])


@pytest.mark.parametrize("balance", [True, False])
def test_iml_gradient_matches_finite_differences(data, balance):
    X, y = data
    pairs = neighbour_pairs(X, y, 3)
    rng = np.random.default_rng(1)
    B = rng.normal(size=(4, 4))
    M = B @ B.T / 4
    kw = dict(margin=1.0, reg=0.3, balance=balance)
    G = iml_gradient(M, X, y, pairs, **kw)
    h = 1e-6
    for _ in range(6):
        E = rng.normal(size=(4, 4))
        E = (E + E.T) / 2
        fd = (iml_loss(M + h * E, X, y, pairs, **kw) - iml_loss(M - h * E, X, y, pairs, **kw)) / (2 * h)
        assert abs(fd - np.sum(G * E)) < 1e-5 * max(1, abs(fd))


def test_iml_balance_weighs_every_class_equally(data):
    X, y = data
    pairs = neighbour_pairs(X, y, 3)
    # With M = 0 every dissimilar hinge is 1 + margin and no similar one is active: the loss is then
    # Σ weights × (1 + margin), i.e. (1 + margin) in both weightings; per class it is 1/3 when balanced.
    M = np.zeros((4, 4))
    for balance in (True, False):
        assert np.isclose(iml_loss(M, X, y, pairs, margin=1.0, reg=0.0, balance=balance), 2.0)
    i_d = pairs[2]
    for c in range(3):
        keep = tuple(p[np.isin(np.arange(len(p)), np.flatnonzero(y[pairs[0]] == c))] for p in pairs[:2])
        keep_d = (i_d[y[i_d] == c], pairs[3][y[i_d] == c])
        # the class's own loss, scaled by its share 1/C, from the definition
        alone = iml_loss(M, X[:], y, (*keep, *keep_d), margin=1.0, reg=0.0, balance=True)
        assert np.isclose(alone, 2.0)  # one class present: its weight is 1


def test_iml_decreases_its_loss_and_is_psd(data):
    X, y = data
    model = IML(max_iter=50).fit(X, y)
    assert model.loss_[-1] < model.loss_[0]
    assert np.linalg.eigvalsh(model.get_mahalanobis_matrix()).min() > -1e-10


def test_llma_gradient_matches_finite_differences_and_vanishes_at_the_fit(data):
    X, y = data
    model = LLMA(reg=0.5).fit(X, y)
    K = rbf_kernel(X, X, gamma=model.gamma_)
    i, j, _, _ = neighbour_pairs(X, y, 3)
    rng = np.random.default_rng(2)
    W = rng.normal(size=X.shape) * 0.1
    G = llma_gradient(W, X, K, i, j, 0.5)
    h = 1e-6
    for _ in range(5):
        E = rng.normal(size=X.shape)
        fd = (llma_objective(W + h * E, X, K, i, j, 0.5) - llma_objective(W - h * E, X, K, i, j, 0.5)) / (2 * h)
        assert abs(fd - np.sum(G * E)) < 1e-5 * max(1, abs(fd))
    W_fit = model.components_
    assert np.abs(llma_gradient(W_fit, X, K, i, j, 0.5)).max() < 1e-8
    np.testing.assert_allclose(model.transform(X), X + K @ W_fit)
    # any perturbation of the fitted W raises the (convex) objective
    f0 = llma_objective(W_fit, X, K, i, j, 0.5)
    assert all(llma_objective(W_fit + 1e-3 * rng.normal(size=X.shape), X, K, i, j, 0.5) > f0 for _ in range(5))


def test_llma_local_metric_is_the_jacobian_by_finite_differences(data):
    X, y = data
    model = LLMA(reg=0.5).fit(X, y)
    x = X[:3] + 0.1
    h = 1e-6
    J = np.stack(
        [(model.transform(x + h * e) - model.transform(x - h * e)) / (2 * h) for e in np.eye(4)], axis=2
    )  # m×d(out)×d(in)
    np.testing.assert_allclose(model.local_metric(x), np.einsum("mij,mik->mjk", J, J), rtol=1e-6, atol=1e-8)


def test_adversarial_step_is_best_on_its_ball(data):
    rng = np.random.default_rng(3)
    B = rng.normal(size=(4, 4))
    M = B @ B.T
    D = rng.normal(size=(5, 4))
    eps = 0.3
    step = adversarial_differences(D, M, eps, +1) - D
    np.testing.assert_allclose(np.linalg.norm(step, axis=1), eps)
    gain = np.einsum("pi,ij,pj->p", D, M, step)  # first-order change / 2
    for _ in range(200):
        u = rng.normal(size=(5, 4))
        u *= eps / np.linalg.norm(u, axis=1, keepdims=True)
        assert np.all(np.einsum("pi,ij,pj->p", D, M, u) <= gain + 1e-12)
    assert np.all(np.einsum("pi,ij,pj->p", D, M, adversarial_differences(D, M, eps, -1) - D) <= -gain + 1e-12)


def test_pair_directions_solve_and_maximize_the_ratio(data):
    X, y = data
    i_s, j_s, i_d, j_d = neighbour_pairs(X, y, 3)
    Ds, Dd = X[i_s] - X[j_s], X[i_d] - X[j_d]
    lam, A = pair_directions(Ds, Dd, 4, 0.0 + 1e-12)
    Ss, Sd = Ds.T @ Ds / len(Ds), Dd.T @ Dd / len(Dd)
    np.testing.assert_allclose(Sd @ A, Ss @ A * lam, atol=1e-8)
    rng = np.random.default_rng(4)
    ratios = [(a @ Sd @ a) / (a @ Ss @ a) for a in rng.normal(size=(500, 4))]
    assert max(ratios) <= lam[0] + 1e-9 and min(ratios) >= lam[-1] - 1e-9


def test_adversarial_sml_with_no_adversary_is_the_plain_pair_learner(data):
    X, y = data
    a = AdversarialSML(epsilon=0.0).fit(X, y)
    b = AdversarialSML(n_rounds=0).fit(X, y)
    np.testing.assert_allclose(np.abs(a.components_), np.abs(b.components_), atol=1e-8)


def test_kernel_fisher_with_a_linear_kernel_gives_lda_distances():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(60, 3)) @ rng.normal(size=(3, 3))
    y = np.repeat([0, 1, 2], 20)
    X[y == 1, 0] += 2
    X[y == 2, 1] += 2
    Z = KernelFisher(kernel="linear", reg=1e-9).fit(X, y).transform(X)
    Z_lda = LinearDiscriminantAnalysis(solver="eigen").fit(X, y).transform(X)
    d = np.linalg.norm(Z[:, None] - Z[None], axis=-1)[np.triu_indices(60, 1)]
    d_lda = np.linalg.norm(Z_lda[:, None] - Z_lda[None], axis=-1)[np.triu_indices(60, 1)]
    ratio = d / d_lda
    assert ratio.std() / ratio.mean() < 1e-4  # the same geometry up to one scale


def test_kernel_fisher_solves_its_eigenproblem(data):
    X, y = data
    model = KernelFisher(gamma=0.5, reg=1e-2).fit(X, y)
    K = rbf_kernel(X, X, gamma=0.5)
    Sb, Sw = kernel_fisher_matrices(K, y)
    Sw = Sw + 1e-2 * np.trace(Sw) / len(Sw) * np.eye(len(Sw))
    A = model.components_.T
    np.testing.assert_allclose(Sb @ A, Sw @ A * model.eigenvalues_, atol=1e-6 * np.abs(Sb).max())
    # the Fisher ratio of a projection, from its definition on the projected values
    z = K @ A[:, 0]
    mean = z.mean()
    between = sum((y == c).sum() * (z[y == c].mean() - mean) ** 2 for c in range(3))
    within = sum(((z[y == c] - z[y == c].mean()) ** 2).sum() for c in range(3))
    np.testing.assert_allclose(between, A[:, 0] @ Sb @ A[:, 0], rtol=1e-8)
    np.testing.assert_allclose(within, A[:, 0] @ kernel_fisher_matrices(K, y)[1] @ A[:, 0], rtol=1e-8)


def test_make_turning_has_the_stated_geometry():
    X, y = make_turning(4000, length=2.0, gap=0.5, noise=0.1, spread=3.0, random_state=1)
    assert X.shape == (4000, 3) and np.bincount(y).tolist() == [2000, 2000]
    np.testing.assert_array_equal(make_turning(50, random_state=3)[0], make_turning(50, random_state=3)[0])
    assert 0 <= X[:, 2].min() and X[:, 2].max() < 2.0
    # oracle: rotate features 0-1 back by θ = πt/length; the classes must sit at ±gap along u(t), with
    # the stated spreads; in the raw plane the class means nearly coincide (they differ by 2·gap·(0, 2/π))
    theta = np.pi * X[:, 2] / 2.0
    along = X[:, 0] * np.cos(theta) + X[:, 1] * np.sin(theta)
    across = -X[:, 0] * np.sin(theta) + X[:, 1] * np.cos(theta)
    for c, sign in ((0, -1), (1, 1)):
        assert abs(along[y == c].mean() - sign * 0.5) < 0.01
        assert abs(along[y == c].std() - 0.1) < 0.005
        assert abs(across[y == c].std() - 3.0) < 0.15
    np.testing.assert_allclose(X[y == 1, :2].mean(0) - X[y == 0, :2].mean(0), [0, 2 / np.pi], atol=0.2)


@pytest.mark.parametrize(
    "kwargs, match", [({"n_samples": 2}, "n_samples"), ({"length": 0}, "length"), ({"gap": -1}, "gap")]
)
def test_make_turning_names_bad_arguments(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make_turning(**kwargs)
