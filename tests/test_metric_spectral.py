"""MMC, RCA, DCA, LMNN and GMML against closed forms, scipy's eigensolver and finite differences.

Tolerances: RCA's map equals the inverse square root of the within-class covariance computed here to
1e-10; DCA's rows solve the generalized eigenproblem of scipy.linalg.eigh to 1e-8 (relative); GMML's
metric satisfies M S M = D to 1e-8 (relative); LMNN's gradient agrees with central finite differences
to 1e-6 (relative), and the plain LMNN listing equals the screened one to 1e-10; MMC ends with
Σ_S d_M² = 1 to 1e-8; the Riemannian distance equals the norm of scipy's matrix logarithm to 1e-10,
and S⁻¹ #_t D minimizes the weighted squared Riemannian distances. What every learner shares is tested
once, over all of them, in ``test_metric_contract.py``.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import scipy.optimize
from scipy.spatial.distance import cdist
from sklearn.decomposition import KernelPCA
from sklearn.neighbors import KNeighborsClassifier

from scratchbook.metric import DCA, GMML, MMC, RCA, KernelRCA
from scratchbook.metric.checks import check_geometric_mean, check_rca_map
from scratchbook.metric.dca import between_chunklet_scatter
from scratchbook.metric.gmml import geometric_mean, pair_scatter, riemannian_distance
from scratchbook.metric.lmnn import lmnn_loss_grad, lmnn_loss_grad_plain, target_neighbors
from scratchbook.metric.mmc import mmc_objective_grad
from scratchbook.metric.rca import inverse_sqrt, make_chunklets, within_chunklet_covariance


def within_class_covariance(X, y):
    """The oracle: Σ_c (n_c / n) Cov_c with NumPy's biased per-class covariance (the package's one
    implementation, ``rca.within_chunklet_covariance``, subtracts scatter-added chunklet means instead)."""
    return sum(np.mean(y == c) * np.cov(X[y == c], rowvar=False, bias=True) for c in np.unique(y))


def random_spd(rng, d: int, floor: float = 1.0) -> np.ndarray:
    """BBᵀ + floor·I for a standard normal d×d matrix B: symmetric, eigenvalues at least ``floor``."""
    B = rng.normal(size=(d, d))
    return B @ B.T + floor * np.eye(d)


def test_rca_is_the_inverse_square_root_of_the_within_class_covariance(wine):
    X, _, y, _ = wine
    C = within_class_covariance(X, y)
    lam, V = np.linalg.eigh(C)
    expected = V @ np.diag(lam**-0.5) @ V.T
    np.testing.assert_allclose(RCA().fit(X, y).components_, expected, atol=1e-10 * np.abs(expected).max())
    np.testing.assert_allclose(RCA().fit(X, y).get_mahalanobis_matrix(), np.linalg.inv(C), rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("ddof", [0, 1])
def test_within_chunklet_covariance_pools_numpys_per_class_covariances(wine, ddof):
    X, _, y, _ = wine
    chunks = make_chunklets(y, 10, 5, np.random.RandomState(0))  # some points in no chunklet
    for labels in (y, chunks):
        ids = np.unique(labels[labels >= 0])
        sizes = np.array([np.sum(labels == c) for c in ids])
        pooled = sum((n - ddof) * np.cov(X[labels == c], rowvar=False, ddof=ddof) for c, n in zip(ids, sizes))
        expected = pooled / (sizes.sum() - ddof * len(ids))
        np.testing.assert_allclose(
            within_chunklet_covariance(X, labels, ddof=ddof), expected, rtol=1e-12, atol=1e-14 * np.abs(expected).max()
        )
    with pytest.raises(ValueError, match="ddof = 5 leaves no degrees of freedom"):
        within_chunklet_covariance(X, chunks, ddof=5)


def test_rca_chunklets_are_disjoint_and_inside_one_class():
    y = np.repeat(np.arange(3), 7)
    chunks = make_chunklets(y, 8, 3, np.random.RandomState(0))
    ids = np.unique(chunks[chunks >= 0])
    assert len(ids) == 6  # two chunklets of 3 fit in each class of 7
    for c in ids:
        assert np.sum(chunks == c) == 3 and len(np.unique(y[chunks == c])) == 1


def test_dca_rows_solve_the_generalized_eigenproblem(wine):
    X, _, y, _ = wine
    model = DCA(reg=1e-6).fit(X, y)
    Cw = within_class_covariance(X, y)
    Cw += 1e-6 * np.trace(Cw) / 13 * np.eye(13)
    means = np.array([X[y == c].mean(axis=0) for c in range(3)])
    Cb = sum(np.outer(means[a] - means[b], means[a] - means[b]) for a, b in [(0, 1), (0, 2), (1, 2)]) / 3
    np.testing.assert_allclose(between_chunklet_scatter(X, y, np.arange(3)), Cb, atol=1e-12)
    lam, A = scipy.linalg.eigh(Cb, Cw)
    top = np.argsort(lam)[::-1][:2]  # C_b has rank c − 1 = 2
    assert model.components_.shape == (2, 13)
    np.testing.assert_allclose(model.eigenvalues_, lam[top], rtol=1e-8)
    for a, value in zip(model.components_, lam[top]):
        np.testing.assert_allclose(Cb @ a, value * Cw @ a, atol=1e-8 * np.linalg.norm(Cb @ a))
        np.testing.assert_allclose(a @ Cw @ a, 1.0, rtol=1e-8)
    np.testing.assert_allclose(np.abs(model.components_ @ Cw @ A[:, top]), np.eye(2), atol=1e-8)


@pytest.mark.parametrize("t", [0.5, 0.25])
def test_gmml_solves_the_geometric_mean_equation(wine, t):
    X, _, y, _ = wine
    model = GMML(t=t, reg=1e-3, random_state=0).fit(X, y)
    i, j, delta = model.constraints_  # the pairs the fit drew
    S, D = pair_scatter(X, i[delta == 1], j[delta == 1]), pair_scatter(X, i[delta == -1], j[delta == -1])
    eye = 1e-3 * np.trace(S) / 13 * np.eye(13)
    S, D = S + eye, D + eye
    M = model.get_mahalanobis_matrix()
    if t == 0.5:  # the Riccati equation M S M = D
        np.testing.assert_allclose(M @ S @ M, D, atol=1e-8 * np.abs(D).max())
    # In general: S^{1/2} M S^{1/2} = (S^{1/2} D S^{1/2})^t, computed here with scipy's sqrtm.
    Sh = np.real(scipy.linalg.sqrtm(S))
    lam, V = np.linalg.eigh(Sh @ D @ Sh)
    np.testing.assert_allclose(Sh @ M @ Sh, (V * lam**t) @ V.T, atol=1e-8 * lam.max() ** t)


def test_geometric_mean_endpoints_and_symmetry():
    rng = np.random.default_rng(0)
    A, B = random_spd(rng, 4), random_spd(rng, 4)
    np.testing.assert_allclose(geometric_mean(A, B, 0.0), A, atol=1e-10)
    np.testing.assert_allclose(geometric_mean(A, B, 1.0), B, atol=1e-9)
    np.testing.assert_allclose(geometric_mean(A, B, 0.5), geometric_mean(B, A, 0.5), atol=1e-9)


def test_lmnn_gradient_matches_finite_differences():
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(40, 4)), np.repeat(np.arange(3), [14, 13, 13])
    targets = target_neighbors(X, y, 3)
    L = np.eye(4) + 0.3 * rng.normal(size=(4, 4))
    loss, grad = lmnn_loss_grad(L, X, y, targets, 0.4)
    numeric = np.zeros_like(L)
    for idx in np.ndindex(L.shape):
        E = np.zeros_like(L)
        E[idx] = 1e-6
        numeric[idx] = (
            lmnn_loss_grad(L + E, X, y, targets, 0.4)[0] - lmnn_loss_grad(L - E, X, y, targets, 0.4)[0]
        ) / 2e-6
    np.testing.assert_allclose(grad.reshape(L.shape), numeric, rtol=1e-6, atol=1e-6 * np.abs(numeric).max())


def test_lmnn_loss_equals_the_triplet_sum():
    rng = np.random.default_rng(2)
    X, y = rng.normal(size=(20, 3)), np.repeat(np.arange(2), 10)
    targets = target_neighbors(X, y, 2)
    L = rng.normal(size=(2, 3))
    Z = X @ L.T
    d = cdist(Z, Z, "sqeuclidean")
    pull = sum(d[i, j] for i in range(20) for j in targets[i])
    push = sum(
        max(0.0, 1 + d[i, j] - d[i, l]) for i in range(20) for j in targets[i] for l in range(20) if y[l] != y[i]
    )
    np.testing.assert_allclose(lmnn_loss_grad(L, X, y, targets, 0.3)[0], 0.7 * pull + 0.3 * push, rtol=1e-12)
    # Targets are the nearest same-class points, nearest first.
    D = cdist(X, X, "sqeuclidean")
    for i in range(20):
        same = [j for j in np.argsort(D[i]) if y[j] == y[i] and j != i]
        assert list(targets[i]) == same[:2]


def test_mmc_constraint_is_active_at_the_end_and_the_objective_rises(wine):
    X, _, y, _ = wine
    model = MMC(random_state=0).fit(X, y)
    i, j, delta = model.constraints_
    V = X[i] - X[j]
    M = model.get_mahalanobis_matrix()
    similar = np.einsum("ij,jk,ik->i", V[delta == 1], M, V[delta == 1]).sum()
    np.testing.assert_allclose(similar, 1.0, rtol=1e-8)
    assert np.all(np.diff(model.objective_) > 0) and len(model.objective_) > 2
    np.testing.assert_allclose(mmc_objective_grad(M, V[delta == -1])[0], model.objective_[-1], rtol=1e-8)


def test_mmc_gradient_matches_finite_differences():
    rng = np.random.default_rng(3)
    Vd = rng.normal(size=(15, 3))
    M = random_spd(rng, 3)
    numeric = np.zeros_like(M)
    for idx in np.ndindex(M.shape):
        E = np.zeros_like(M)
        E[idx] = 1e-6
        numeric[idx] = (mmc_objective_grad(M + E, Vd)[0] - mmc_objective_grad(M - E, Vd)[0]) / 2e-6
    np.testing.assert_allclose(mmc_objective_grad(M, Vd)[1], numeric, rtol=1e-6, atol=1e-8)


def test_kernel_rca_features_are_kernel_pca_and_the_metric_lives_on_them(wine):
    X, X_test, y, y_test = wine
    model = KernelRCA(gamma=0.05).fit(X, y)
    F = model.features(X_test)
    ref = KernelPCA(F.shape[1], kernel="rbf", gamma=0.05).fit(X).transform(X_test)
    # Kernel PCA coordinates are defined up to the sign of each axis: compare their inner products.
    np.testing.assert_allclose(F @ F.T, ref @ ref.T, atol=1e-9 * np.abs(ref @ ref.T).max())
    M = model.get_mahalanobis_matrix()
    assert np.linalg.eigvalsh(M).min() > 0
    V = F[:10, None, :] - F[None, 10:20, :]
    Z = model.transform(X_test)
    np.testing.assert_allclose(cdist(Z[:10], Z[10:20], "sqeuclidean"), np.einsum("ijk,kl,ijl->ij", V, M, V), rtol=1e-9)
    euclidean = KNeighborsClassifier(3).fit(X, y).score(X_test, y_test)
    assert KNeighborsClassifier(3).fit(model.transform(X), y).score(Z, y_test) >= euclidean


def test_kernel_rca_bad_parameters_name_the_argument(wine):
    X, _, y, _ = wine
    with pytest.raises(ValueError, match="gamma must be > 0"):
        KernelRCA(gamma=0.0).fit(X, y)
    with pytest.raises(ValueError, match="n_components must be <="):
        KernelRCA(n_components=10_000).fit(X, y)


def test_checkers_accept_right_answers_and_reject_wrong_ones(capsys):
    def reader_geometric_mean(A, B, t):  # written independently, with scipy's matrix powers
        root = scipy.linalg.sqrtm(A).real
        inv_root = np.linalg.inv(root)
        return root @ scipy.linalg.fractional_matrix_power(inv_root @ B @ inv_root, t).real @ root

    assert check_geometric_mean(reader_geometric_mean)
    assert not check_geometric_mean(lambda A, B, t: reader_geometric_mean(B, A, t))
    assert not check_geometric_mean(lambda A, B, t: reader_geometric_mean(A, B, 1 - t))

    def reader_rca_map(X, chunks):  # written independently: centre each chunklet, then scipy's sqrtm
        used = chunks >= 0
        R = np.concatenate([X[chunks == c] - X[chunks == c].mean(axis=0) for c in np.unique(chunks[used])])
        return np.linalg.inv(scipy.linalg.sqrtm(R.T @ R / used.sum()).real)

    assert check_rca_map(reader_rca_map)
    assert not check_rca_map(lambda X, chunks: inverse_sqrt(np.cov(X.T)))

    def not_done(*args):
        raise NotImplementedError

    assert not check_geometric_mean(not_done) and not check_rca_map(not_done)
    assert "Not implemented yet" in capsys.readouterr().out


def test_plain_lmnn_loss_and_gradient_equal_the_screened_ones():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(40, 4))
    y = np.repeat([0, 1, 2, 3], 10)
    targets = target_neighbors(X, y, 3)
    for L in (np.eye(4), np.eye(4) + 0.3 * rng.normal(size=(4, 4)), rng.normal(size=(2, 4))):
        f_plain, g_plain = lmnn_loss_grad_plain(L, X, y, targets, mu=0.4)
        f_fast, g_fast = lmnn_loss_grad(L, X, y, targets, mu=0.4)
        assert f_plain == pytest.approx(f_fast, rel=1e-12)
        np.testing.assert_allclose(g_plain, g_fast, rtol=1e-10, atol=1e-10 * np.abs(g_fast).max())


def test_riemannian_distance_is_the_norm_of_the_matrix_logarithm():
    rng = np.random.default_rng(5)
    A, B = random_spd(rng, 4), random_spd(rng, 4)
    inv_root = np.linalg.inv(scipy.linalg.sqrtm(A).real)
    expected = np.linalg.norm(scipy.linalg.logm(inv_root @ B @ inv_root).real)
    assert riemannian_distance(A, B) == pytest.approx(expected, rel=1e-10)
    assert riemannian_distance(A, A) == pytest.approx(0.0, abs=1e-10)


@pytest.mark.parametrize("t", [0.2, 0.5, 0.8])
def test_weighted_geometric_mean_minimizes_the_weighted_riemannian_objective(t):
    rng = np.random.default_rng(6)
    A, B = random_spd(rng, 3, floor=0.5), random_spd(rng, 3, floor=0.5)

    def objective(W):
        return (1 - t) * riemannian_distance(W, A) ** 2 + t * riemannian_distance(W, B) ** 2

    G = geometric_mean(A, B, t)
    for _ in range(20):
        E = 0.01 * rng.normal(size=(3, 3))
        assert objective(G + (E + E.T) / 2) > objective(G)


def test_weighting_the_trace_terms_only_rescales_the_midpoint():
    rng = np.random.default_rng(7)
    S, D = random_spd(rng, 3), random_spd(rng, 3)
    a, b = 0.3, 0.7

    def objective(W):
        return a * np.trace(W @ S) + b * np.trace(np.linalg.solve(W, D))

    def slope(W, E, h=1e-6):  # central finite difference along a symmetric direction E
        return (objective(W + h * E) - objective(W - h * E)) / (2 * h)

    rescaled = np.sqrt(b / a) * geometric_mean(np.linalg.inv(S), D, 0.5)
    weighted = geometric_mean(np.linalg.inv(S), D, b)
    directions = [(E + E.T) / 2 for E in rng.normal(size=(5, 3, 3))]
    assert max(abs(slope(rescaled, E)) for E in directions) < 1e-6
    assert max(abs(slope(weighted, E)) for E in directions) > 1e-2


def test_relative_ridge_adds_a_multiple_of_the_mean_eigenvalue_and_rescues_a_zero_matrix():
    from scratchbook.metric._base import relative_ridge

    C = np.diag([4.0, 1.0, 1.0])
    assert np.allclose(relative_ridge(C, 0.5), C + 0.5 * 2.0 * np.eye(3))  # mean eigenvalue (4+1+1)/3 = 2
    assert np.allclose(relative_ridge(10 * C, 0.5), 10 * relative_ridge(C, 0.5))  # scale-free
    assert np.allclose(relative_ridge(np.zeros((2, 2)), 0.1), 0.1 * np.eye(2))
    assert np.array_equal(C, np.diag([4.0, 1.0, 1.0]))  # the input is left alone
