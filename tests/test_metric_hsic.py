"""Fisher-HSIC: HSIC from its definition, optimality of the eigenvectors, the estimator API.

Oracles that do not use the package's formulas: HSIC by a double loop over the pairs with explicitly
centred kernels and by Gretton et al.'s three-term sum (1e-10 relative); A and S_w built from their
definitions (explicit centring matrix, NumPy's per-class covariance). scikit-learn's estimator checks
run once, over every learner, in ``test_metric_contract.py``.
"""

from __future__ import annotations

import numpy as np
import pytest

from scratchbook.metric.hsic import FisherHSIC, hsic, label_kernel


def _hsic_by_sums(K, L):
    """Gretton et al.'s three-term form of the biased HSIC, rescaled from 1/n² to 1/(n − 1)²."""
    n = len(K)
    v = (K * L).sum() / n**2 + K.sum() * L.sum() / n**4 - 2 * (K @ L).sum() / n**3
    return v * n**2 / (n - 1) ** 2


def _hsic_by_pairs(K, L):
    """HSIC = Σ_ij K̃_ij L̃_ij / (n − 1)², a double loop over the pairs of samples, where
    K̃_ij = K_ij − (row mean i) − (column mean j) + (grand mean) is K centred on both sides."""
    n = len(K)
    row_K, col_K, all_K = K.mean(axis=1), K.mean(axis=0), K.mean()
    row_L, col_L, all_L = L.mean(axis=1), L.mean(axis=0), L.mean()
    total = 0.0
    for i in range(n):
        for j in range(n):
            Kc = K[i, j] - row_K[i] - col_K[j] + all_K
            Lc = L[j, i] - row_L[j] - col_L[i] + all_L  # tr(K̃ L̃) = Σ_ij K̃_ij L̃_ji
            total += Kc * Lc
    return total / (n - 1) ** 2


@pytest.mark.parametrize("n", [2, 5, 12])
def test_hsic_equals_the_double_loop_over_pairs(n):
    rng = np.random.default_rng(n)
    A, B = rng.normal(size=(n, 3)), rng.normal(size=(n, 2))
    K = A @ A.T
    L = np.exp(-((B[:, None] - B[None]) ** 2).sum(-1)) + 0.3 * rng.normal(size=(n, n))  # not symmetric
    assert hsic(K, L) == pytest.approx(_hsic_by_pairs(K, L), rel=1e-10, abs=1e-12)


def test_hsic_equals_its_definition():
    rng = np.random.default_rng(0)
    A, B = rng.normal(size=(20, 3)), rng.normal(size=(20, 2))
    K, L = A @ A.T, np.exp(-((B[:, None] - B[None]) ** 2).sum(-1))
    assert hsic(K, L) == pytest.approx(_hsic_by_sums(K, L))
    assert hsic(K, L) == pytest.approx(hsic(L, K))


def test_hsic_of_independent_and_dependent_data():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(400, 1))
    linear = lambda z: z @ z.T  # noqa: E731
    independent = hsic(linear(x), linear(rng.normal(size=(400, 1))))
    dependent = hsic(linear(x), linear(x + 0.1 * rng.normal(size=(400, 1))))
    assert independent < 0.05 * dependent


def test_objective_is_the_hsic_of_the_projection(wine_all):
    X, y = wine_all
    model = FisherHSIC(n_components=2).fit(X, y)
    Z = model.transform(X)
    # HSIC of the projected data with the labels, computed from the kernel matrices, equals Σ λ_k
    assert hsic(Z @ Z.T, label_kernel(y)) == pytest.approx(model.eigenvalues_.sum(), rel=1e-8)


def test_eigenvectors_are_optimal_under_the_constraint(wine_all):
    X, y = wine_all
    model = FisherHSIC(n_components=2, reg=1e-6).fit(X, y)
    n, d = X.shape
    H = np.eye(n) - np.ones((n, n)) / n  # the centring matrix
    A = X.T @ H @ (y[:, None] == y[None, :]).astype(float) @ H @ X / (n - 1) ** 2  # Xᵀ H L H X / (n − 1)²
    np.testing.assert_allclose(FisherHSIC.hsic_matrix(X, y), A, atol=1e-12 * np.abs(A).max())
    Sw = sum(np.mean(y == c) * np.cov(X[y == c], rowvar=False, bias=True) for c in np.unique(y))
    Sw = Sw + 1e-6 * np.trace(Sw) / d * np.eye(d)
    U = model.components_.T
    np.testing.assert_allclose(U.T @ Sw @ U, np.eye(2), atol=1e-8)  # feasible
    best = np.trace(U.T @ A @ U)
    # any other feasible U (Uᵀ S_w U = I) does no better: random ones, and perturbations of the optimum
    R = np.linalg.cholesky(Sw)  # Sw = R Rᵀ; feasible U = R⁻ᵀ Q with orthonormal Q
    rng = np.random.default_rng(2)
    for scale in (None, 1e-3, 1e-1):
        for _ in range(50):
            if scale is None:
                Q = np.linalg.qr(rng.normal(size=(d, 2)))[0]
            else:
                Q = np.linalg.qr(R.T @ U + scale * rng.normal(size=(d, 2)))[0]
            V = np.linalg.solve(R.T, Q)
            np.testing.assert_allclose(V.T @ Sw @ V, np.eye(2), atol=1e-8)
            assert np.trace(V.T @ A @ V) <= best + 1e-10
    # and the first-order condition: A U = S_w U Λ
    np.testing.assert_allclose(A @ U, Sw @ U * model.eigenvalues_, atol=1e-10)


def test_default_number_of_directions_is_n_classes_minus_one(wine_all):
    X, y = wine_all
    model = FisherHSIC().fit(X, y)
    assert model.components_.shape == (len(np.unique(y)) - 1, X.shape[1])


def test_separates_classes_better_than_the_raw_features(wine_all):
    from sklearn.model_selection import cross_val_score
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline

    X, y = wine_all
    rng = np.random.default_rng(3)
    X_noisy = np.hstack([X, 3 * rng.normal(size=(len(X), 20))])  # 20 pure-noise features
    raw = cross_val_score(KNeighborsClassifier(5), X_noisy, y, cv=5).mean()
    learned = cross_val_score(make_pipeline(FisherHSIC(), KNeighborsClassifier(5)), X_noisy, y, cv=5).mean()
    assert learned > raw + 0.05


def test_bad_kernels_name_themselves():
    with pytest.raises(ValueError, match="K"):
        hsic(np.ones((3, 2)), np.ones((3, 3)))
    with pytest.raises(ValueError, match="same shape"):
        hsic(np.eye(3), np.eye(4))
