"""Distances and the PSD cone against scipy and independent constructions.

Tolerances: distances agree with scipy's ``cdist`` to 1e-9 (relative); the projection agrees with
the polar-decomposition formula (S + |S|)/2 to 1e-9 and beats every PSD candidate tried.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.linalg import polar
from scipy.spatial.distance import cdist

from scratchbook.metric import components_from_metric, mahalanobis_distances, project_psd
from scratchbook.metric.checks import check_mahalanobis, check_project_psd


def random_psd(rng, d, rank=None):
    U = rng.normal(size=(rank or d, d))
    return U.T @ U


def random_symmetric(rng, d):
    B = rng.normal(size=(d, d))
    return (B + B.T) / 2


@pytest.mark.parametrize("d, rank", [(2, 2), (5, 5), (8, 3)])
def test_mahalanobis_matches_scipy(d, rank):
    rng = np.random.default_rng(d)
    X, Y, M = rng.normal(size=(20, d)), rng.normal(size=(7, d)), random_psd(rng, d, rank)
    expected = cdist(X, Y, "mahalanobis", VI=M)
    np.testing.assert_allclose(mahalanobis_distances(X, Y, M), expected, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(mahalanobis_distances(X, Y, M, squared=True), expected**2, rtol=1e-9, atol=1e-12)


def test_mahalanobis_defaults_and_self_distances():
    rng = np.random.default_rng(0)
    X, M = rng.normal(size=(15, 4)), random_psd(rng, 4)
    np.testing.assert_allclose(mahalanobis_distances(X), cdist(X, X), rtol=1e-9, atol=1e-12)
    D = mahalanobis_distances(X, None, M)
    assert np.all(np.diag(D) == 0.0)
    np.testing.assert_allclose(D, D.T, rtol=1e-12)
    np.testing.assert_allclose(D, cdist(X, X, "mahalanobis", VI=M), rtol=1e-9, atol=1e-12)


def test_inverse_covariance_metric_is_euclidean_after_whitening():
    # The classical Mahalanobis distance (M = Σ⁻¹) is the Euclidean distance of whitened data.
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 3)) @ rng.normal(size=(3, 3))
    cov = np.cov(X, rowvar=False)
    lam, U = np.linalg.eigh(cov)
    Z = X @ U / np.sqrt(lam)
    np.testing.assert_allclose(
        mahalanobis_distances(X[:10], X[10:20], np.linalg.inv(cov)), cdist(Z[:10], Z[10:20]), rtol=1e-9
    )


@pytest.mark.parametrize("d, rank", [(3, 3), (6, 2)])
def test_components_factor_the_metric(d, rank):
    M = random_psd(np.random.default_rng(d), d, rank)
    L = components_from_metric(M)
    np.testing.assert_allclose(L.T @ L, M, atol=1e-10)
    norms = np.linalg.norm(L, axis=1)
    assert np.all(np.diff(norms) <= 1e-12)  # rows ordered by decreasing eigenvalue


@pytest.mark.parametrize("d", [2, 4, 7])
def test_project_psd_matches_polar_formula(d):
    S = random_symmetric(np.random.default_rng(d), d)
    abs_S = polar(S)[1]  # |S| = (S²)^{1/2}, from the polar decomposition (no eigen-clipping)
    np.testing.assert_allclose(project_psd(S), (S + abs_S) / 2, atol=1e-9)


def test_project_psd_is_the_nearest_psd_matrix():
    rng = np.random.default_rng(3)
    for _ in range(5):
        M = rng.normal(size=(5, 5))  # not even symmetric
        P = project_psd(M)
        assert np.linalg.eigvalsh(P).min() >= -1e-12
        best = np.linalg.norm(M - P)
        candidates = [random_psd(rng, 5, r) for r in (1, 3, 5)]
        candidates += [project_psd(P + eps * random_symmetric(rng, 5)) for eps in (1e-1, 1e-3, 1e-5)]
        candidates += [P * s for s in (0.9, 1.1)] + [np.zeros((5, 5))]
        for C in candidates:
            assert np.linalg.norm(M - C) >= best - 1e-12


def test_project_psd_leaves_psd_matrices_alone_and_is_idempotent():
    rng = np.random.default_rng(4)
    M = random_psd(rng, 4, 2)
    np.testing.assert_allclose(project_psd(M), M, atol=1e-12)
    P = project_psd(random_symmetric(rng, 4))
    np.testing.assert_allclose(project_psd(P), P, atol=1e-12)


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda X, M: mahalanobis_distances(X[0], X, M), ValueError, "X must be 2-D"),
        (lambda X, M: mahalanobis_distances(X, X[:, :2], M), ValueError, "Y must have as many columns"),
        (lambda X, M: mahalanobis_distances(np.where(X > 1, np.nan, X), X, M), ValueError, "X contains NaN"),
        (lambda X, M: mahalanobis_distances(X, X, M[:2]), ValueError, "M must be a square matrix"),
        (lambda X, M: mahalanobis_distances(X, X, M[:2, :2]), ValueError, r"M must be 3×3"),
        (lambda X, M: mahalanobis_distances(X, X, M + np.triu(M, 1)), ValueError, "M must be symmetric"),
        (lambda X, M: mahalanobis_distances(X, X, -M), ValueError, "M must be positive semidefinite"),
        (lambda X, M: mahalanobis_distances(X, X, "identity"), TypeError, "M must be an array of numbers"),
        (lambda X, M: project_psd(np.ones((2, 3))), ValueError, "M must be a square matrix"),
        (lambda X, M: project_psd(np.array([[1.0, np.inf], [0.0, 1.0]])), ValueError, "M contains NaN or infinity"),
    ],
)
def test_bad_input_names_the_argument(call, error, match):
    rng = np.random.default_rng(0)
    X, M = rng.normal(size=(5, 3)), random_psd(rng, 3)
    with pytest.raises(error, match=match):
        call(X, M)


def test_checkers_accept_right_answers_and_reject_wrong_ones(capsys):
    assert check_mahalanobis(lambda X, Y, M: cdist(X, Y, "mahalanobis", VI=M))
    assert not check_mahalanobis(lambda X, Y, M: cdist(X, Y, "mahalanobis", VI=M) ** 2)
    assert check_project_psd(lambda M: (M + polar(M)[1]) / 2)
    assert not check_project_psd(lambda M: np.abs(M))

    def not_done(*args):
        raise NotImplementedError

    assert not check_mahalanobis(not_done) and not check_project_psd(not_done)
    assert "Not implemented yet" in capsys.readouterr().out
