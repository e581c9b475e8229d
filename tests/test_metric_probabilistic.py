"""MCML, NCA and ITML against scikit-learn, finite differences and closed forms.

Tolerances: NCA's loss and gradient equal scikit-learn's to 1e-8 (relative); analytic gradients
agree with central finite differences to 1e-5 (relative); ITML's Bregman projections reach the
optimum a generic constrained solver (SLSQP) finds to 1e-6; a fitted NCA matches scikit-learn's
fitted map to 1e-6 from the same start, and the plain NCA listing equals scikit-learn's loss and
gradient to 1e-8. What every learner shares is tested once, over all of them, in
``test_metric_contract.py``.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.stats import entropy
from sklearn.neighbors import NeighborhoodComponentsAnalysis as SkNCA

from scratchbook.metric import MCML, NCA, sample_pairs
from scratchbook.metric.checks import check_bregman_step, check_nca_objective
from scratchbook.metric.itml import bregman_step, itml_solve, logdet_divergence
from scratchbook.metric.mcml import collapse_targets, mcml_objective_grad
from scratchbook.metric.nca import nca_loss_grad, nca_objective_plain


def sklearn_loss_grad(L, X, y):
    nca = SkNCA(verbose=0)
    nca.n_iter_ = 1  # the method prints a header on its first call otherwise
    return nca._loss_grad_lbfgs(L.ravel(), X, y[:, None] == y[None, :], -1.0)


def finite_difference(f, A, eps=1e-6):
    grad = np.zeros_like(A)
    for idx in np.ndindex(A.shape):
        E = np.zeros_like(A)
        E[idx] = eps
        grad[idx] = (f(A + E) - f(A - E)) / (2 * eps)
    return grad


# --- NCA ------------------------------------------------------------------------------------


@pytest.mark.parametrize("k, scale", [(2, 0.3), (4, 1.0), (6, 0.1)])
def test_nca_loss_grad_equals_sklearn(wine, k, scale):
    X, _, y, _ = wine
    L = scale * np.random.default_rng(k).normal(size=(k, X.shape[1]))
    loss, grad = nca_loss_grad(L, X, y[:, None] == y[None, :])
    ref_loss, ref_grad = sklearn_loss_grad(L, X, y)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-8)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-8, atol=1e-8 * np.abs(ref_grad).max())


def test_nca_gradient_matches_finite_differences():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(25, 4)), rng.integers(0, 3, size=25)
    same = y[:, None] == y[None, :]
    L = 0.5 * rng.normal(size=(3, 4))
    numeric = finite_difference(lambda A: nca_loss_grad(A, X, same)[0], L)
    np.testing.assert_allclose(nca_loss_grad(L, X, same)[1].reshape(L.shape), numeric, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("n_components", [None, 2])
def test_nca_fit_matches_sklearn_from_the_same_start(wine, n_components):
    X, _, y, _ = wine
    init = "identity" if n_components is None else "pca"
    ours = NCA(n_components, init=init, random_state=0).fit(X, y)
    ref = SkNCA(n_components, init=init, random_state=0).fit(X, y)
    # The PCA start's rows are defined up to sign; compare maps through the learned metric.
    np.testing.assert_allclose(ours.get_mahalanobis_matrix(), ref.components_.T @ ref.components_, atol=1e-6)
    np.testing.assert_allclose(ours.loss_, sklearn_loss_grad(ref.components_, X, y)[0], rtol=1e-8)


# --- MCML -----------------------------------------------------------------------------------


def test_mcml_objective_is_the_sum_of_kl_divergences():
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(12, 3)), np.array([0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3])  # class 3 is a singleton
    M = rng.normal(size=(3, 3))
    M = M.T @ M
    total = 0.0
    for i in range(len(X)):
        others = [j for j in range(len(X)) if j != i]
        d = np.array([(X[i] - X[j]) @ M @ (X[i] - X[j]) for j in others])
        p = np.exp(-d) / np.exp(-d).sum()
        p0 = (y[others] == y[i]).astype(float)
        if p0.sum() > 0:
            total += entropy(p0 / p0.sum(), p)
    np.testing.assert_allclose(mcml_objective_grad(M, X, collapse_targets(y))[0], total, rtol=1e-10)


def test_mcml_gradient_matches_finite_differences():
    rng = np.random.default_rng(2)
    X, y = rng.normal(size=(20, 3)), rng.integers(0, 2, size=20)
    P0 = collapse_targets(y)
    B = rng.normal(size=(3, 3))
    M = B.T @ B + np.eye(3)  # interior of the cone: the objective is smooth there
    numeric = finite_difference(lambda A: mcml_objective_grad((A + A.T) / 2, X, P0)[0], M)
    np.testing.assert_allclose(mcml_objective_grad(M, X, P0)[1], numeric, rtol=1e-5, atol=1e-8)


def test_mcml_objective_never_increases(wine):
    X, _, y, _ = wine
    model = MCML(max_iter=30, tol=0.0).fit(X, y)
    f = np.asarray(model.objective_)
    assert len(f) == 31 and f[-1] < 0.5 * f[0]
    assert np.all(np.diff(f) <= 1e-9 * f[:-1])


# --- ITML -----------------------------------------------------------------------------------


def test_logdet_divergence_from_eigenvalues():
    rng = np.random.default_rng(3)
    B, C = rng.normal(size=(4, 4)), rng.normal(size=(4, 4))
    A, A0 = B @ B.T + np.eye(4), C @ C.T + np.eye(4)
    lam = np.linalg.eigvals(np.linalg.solve(A0, A)).real  # eigenvalues of A₀⁻¹A, all > 0
    np.testing.assert_allclose(logdet_divergence(A, A0), np.sum(lam - np.log(lam) - 1), rtol=1e-10)
    assert abs(logdet_divergence(A0, A0)) < 1e-12


@pytest.mark.parametrize("delta, ratio", [(1, 0.3), (-1, 3.0)])
def test_bregman_step_without_slack_is_the_logdet_projection(delta, ratio):
    # With γ → ∞ the step enforces vᵀAv = ξ exactly; the LogDet projection onto that hyperplane is
    # characterised by A⁻¹ − A₀⁻¹ being a multiple of vvᵀ (its Lagrange condition).
    rng = np.random.default_rng(4)
    B = rng.normal(size=(5, 5))
    A0, v = B @ B.T + np.eye(5), rng.normal(size=5)
    xi = ratio * (v @ A0 @ v)
    A, new_xi, lam = bregman_step(A0.copy(), v, delta, xi, 1e6, 1e12)
    np.testing.assert_allclose(v @ A @ v, xi, rtol=1e-8)
    np.testing.assert_allclose(new_xi, xi, rtol=1e-8)
    diff = np.linalg.inv(A) - np.linalg.inv(A0)
    coef = (v @ diff @ v) / (v @ v) ** 2
    np.testing.assert_allclose(diff, coef * np.outer(v, v), atol=1e-9 * np.abs(diff).max())
    assert np.linalg.eigvalsh(A).min() > 0


def test_bregman_step_does_nothing_to_a_satisfied_constraint_with_zero_dual():
    rng = np.random.default_rng(5)
    A, v = np.eye(3), rng.normal(size=3)
    out = bregman_step(A, v, 1, 2.0 * (v @ v), 0.0, 1.0)  # similar pair already closer than ξ
    np.testing.assert_array_equal(out[0], A)
    assert out[2] == 0.0


def solve_itml_with_slsqp(V, delta, bounds, gamma):
    """The ITML problem, Eq. (itml-problem), by a generic solver: A = LLᵀ (L lower triangular) and
    log(ξ/ξ₀) as variables, D_ld(A, I) + γ Σ D_ld(ξ_c, ξ₀_c) as objective (γ = None: no slack)."""
    d, m = V.shape[1], len(V)
    tri = np.tril_indices(d)
    n_tri = len(tri[0])

    def unpack(t):
        L = np.zeros((d, d))
        L[tri] = t[:n_tri]
        return L @ L.T, (np.exp(t[n_tri:]) if gamma else np.ones(m))

    def objective(t):
        A, ratio = unpack(t)
        value = np.trace(A) - np.linalg.slogdet(A)[1] - d
        return value + (gamma * np.sum(ratio - np.log(ratio) - 1) if gamma else 0.0)

    def margin(t, c):  # ≥ 0 when constraint c holds: δ (ξ_c − v_cᵀ A v_c)
        A, ratio = unpack(t)
        return delta[c] * (bounds[c] * ratio[c] - V[c] @ A @ V[c])

    constraints = [{"type": "ineq", "fun": margin, "args": (c,)} for c in range(m)]
    start = np.r_[np.eye(d)[tri], np.zeros(m if gamma else 0)]
    result = minimize(
        objective, start, constraints=constraints, method="SLSQP", options={"ftol": 1e-15, "maxiter": 2000}
    )
    return unpack(result.x)[0]


@pytest.mark.parametrize("seed", [0, 1])
def test_itml_without_slack_matches_a_generic_solver(seed):
    # Bounds taken from a PD matrix A*: the hard-constrained problem is feasible.
    rng = np.random.default_rng(seed)
    V, delta = rng.normal(size=(5, 3)), np.array([1, 1, -1, -1, -1])
    B = rng.normal(size=(3, 3))
    bounds = np.einsum("ij,jk,ik->i", V, B @ B.T + 0.5 * np.eye(3), V)
    A, _, converged = itml_solve(V, delta, bounds, np.eye(3), gamma=1e10, max_iter=100_000, tol=1e-12)
    assert converged
    np.testing.assert_allclose(A, solve_itml_with_slsqp(V, delta, bounds, None), atol=1e-6)


@pytest.mark.parametrize("seed", [0, 1])
def test_itml_with_slack_matches_a_generic_solver(seed):
    # Demanding bounds (similar pairs to 0.3×, dissimilar to 3× their distance) traded off with γ = 2.
    rng = np.random.default_rng(seed)
    V, delta = rng.normal(size=(6, 3)), np.array([1, 1, 1, -1, -1, -1])
    bounds = np.where(delta == 1, 0.3, 3.0) * np.sum(V**2, axis=1)
    A, _, converged = itml_solve(V, delta, bounds, np.eye(3), gamma=2.0, max_iter=100_000, tol=1e-13)
    assert converged
    np.testing.assert_allclose(A, solve_itml_with_slsqp(V, delta, bounds, 2.0), atol=1e-6)


def test_sample_pairs_respects_labels():
    y = np.repeat(np.arange(4), 5)
    i, j, delta = sample_pairs(y, 101, np.random.RandomState(0))
    assert len(i) == 101 and np.sum(delta == 1) == 50
    assert np.all(i != j)
    assert np.all((y[i] == y[j]) == (delta == 1))


def test_checkers_accept_right_answers_and_reject_wrong_ones(capsys):
    def nca_objective(L, X, y):
        loss, grad = sklearn_loss_grad(L, X, y)
        return -loss, -grad.reshape(L.shape)

    assert check_nca_objective(nca_objective)
    assert not check_nca_objective(lambda L, X, y: (nca_objective(L, X, y)[0], 2 * nca_objective(L, X, y)[1]))

    def reader_bregman_step(A, v, delta, xi, lam, gamma):  # from Eqs. (itml-inverse), (itml-alpha), no Sherman-Morrison
        p = v @ A @ v
        alpha = min(lam, delta * gamma / (gamma + 1) * (1 / p - 1 / xi))
        A_new = np.linalg.inv(np.linalg.inv(A) - delta * alpha * np.outer(v, v))
        return A_new, 1 / (1 / xi + delta * alpha / gamma), lam - alpha

    assert check_bregman_step(reader_bregman_step)
    assert not check_bregman_step(lambda A, v, d, xi, lam, g: reader_bregman_step(A, v, -d, xi, lam, g))

    def not_done(*args):
        raise NotImplementedError

    assert not check_nca_objective(not_done) and not check_bregman_step(not_done)
    assert "Not implemented yet" in capsys.readouterr().out


@pytest.mark.parametrize("k", [2, 13])
def test_plain_nca_objective_equals_sklearn(wine, k):
    X, _, y, _ = wine
    L = 0.3 * np.random.default_rng(k).normal(size=(k, X.shape[1]))
    f, grad = nca_objective_plain(L, X, y)
    loss, ref_grad = sklearn_loss_grad(L, X, y)
    assert f == pytest.approx(-loss, rel=1e-10)
    np.testing.assert_allclose(grad.ravel(), -ref_grad, rtol=1e-8, atol=1e-10 * np.abs(ref_grad).max())
