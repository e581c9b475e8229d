"""Checkers for the exercises of Part III: call one with your answer to see whether it is right."""

from __future__ import annotations

import numpy as np

from scratchbook.book import report_check

__all__ = [
    "check_fa_posterior",
    "check_ppca_closed_form",
    "check_reconstruction_weights",
    "check_noise_fixed_point",
]


# --- Factor analysis and probabilistic PCA (chapters 1 and 2) ---------------------------------


def _small_factor_problem(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A small centred data set with loadings Λ (d×q, the book's layout) and noise variances ψ."""
    rng = np.random.default_rng(seed)
    n, d, q = 12, 5, 2
    Lam = rng.normal(size=(d, q))
    psi = rng.uniform(0.2, 1.0, size=d)
    X = rng.normal(size=(n, q)) @ Lam.T + rng.normal(size=(n, d)) * np.sqrt(psi)
    return X - X.mean(axis=0), Lam, psi


def check_fa_posterior(fn) -> bool:
    """Check ``fn(Xc, Lam, psi) -> (means (n×q), cov (q×q))``, the posterior of the factors."""
    from scratchbook.book import call_or_none
    from scratchbook.latent.factor_analysis import fa_posterior

    Xc, Lam, psi = _small_factor_problem()
    answer = call_or_none(fn, Xc, Lam, psi)
    if answer is None:
        return False
    if not isinstance(answer, tuple) or len(answer) != 2:
        print("✗ fn must return a pair (means, cov).")
        return False
    means, cov = fa_posterior(Xc, Lam.T, psi)
    ok_cov = report_check("posterior covariance Σ_z", answer[1], cov, hint="Σ_z = (I + ΛᵀΨ⁻¹Λ)⁻¹ does not depend on x.")
    ok_mean = report_check(
        "posterior means E[z|x]",
        answer[0],
        means,
        hint="One row per sample: Σ_z ΛᵀΨ⁻¹ (x − μ), stacked as an n×q array.",
    )
    return ok_cov and ok_mean


def check_ppca_closed_form(fn) -> bool:
    """Check ``fn(X, q) -> (W (d×q), sigma2)``, the maximum-likelihood PPCA solution.

    W is compared through WWᵀ, which does not depend on the arbitrary rotation R.
    """
    from scratchbook.book import call_or_none
    from scratchbook.latent.ppca import ppca_closed_form

    Xc, _, _ = _small_factor_problem(seed=1)
    X = Xc + np.arange(Xc.shape[1])  # a non-zero mean, to be estimated
    q = 2
    answer = call_or_none(fn, X, q)
    if answer is None:
        return False
    if not isinstance(answer, tuple) or len(answer) != 2:
        print("✗ fn must return a pair (W, sigma2).")
        return False
    components, sigma2 = ppca_closed_form(Xc.T @ Xc / len(Xc), q)
    W = np.asarray(answer[0], dtype=float)
    ok_s = report_check(
        "σ²", answer[1], sigma2, hint="Use the 1/N covariance and average the d − q smallest eigenvalues."
    )
    if W.shape != (X.shape[1], q):
        print(f"✗ W: expected shape {(X.shape[1], q)}, got {W.shape}.")
        return False
    ok_w = report_check(
        "WWᵀ", W @ W.T, components.T @ components, hint="W = U_q (Λ_q − σ²I)^{1/2}, eigenvalues in decreasing order."
    )
    return ok_s and ok_w


# --- Locally linear embedding and its stochastic reconstruction (chapters 3 and 4) -------------


def _small_neighbourhoods(seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Two neighbourhoods (x, its k neighbours as k×d rows): one with k > d, one with k < d."""
    rng = np.random.default_rng(seed)
    cases = []
    for k, d in ((6, 3), (4, 7)):
        x = rng.normal(size=d)
        cases.append((x, x + 0.5 * rng.normal(size=(k, d))))
    return cases


def check_reconstruction_weights(fn) -> bool:
    """Check ``fn(x, neighbors, reg) -> w (k,)``: LLE's regularised weights rebuilding x from its neighbours."""
    from scratchbook.book import call_or_none
    from scratchbook.latent.lle import reconstruction_weights

    ok = True
    for x, nbrs in _small_neighbourhoods():
        k, d = nbrs.shape
        answer = call_or_none(fn, x, nbrs, 1e-3)
        if answer is None:
            return False
        expected = reconstruction_weights(x[None, :], nbrs[None, :, :], 1e-3)[0]
        ok &= report_check(
            f"weights with k={k} neighbours in d={d}",
            answer,
            expected,
            rtol=1e-6,
            atol=1e-9,
            hint="G = (neighbours − x)(neighbours − x)ᵀ, add reg·tr(G) to its diagonal, "
            "solve G w = 1, divide by the sum.",
        )
    return bool(ok)


def check_noise_fixed_point(fn) -> bool:
    """Check ``fn(x, neighbors, reg) -> sigma2``: the noise variance at which EM for one point stops moving."""
    from scratchbook.book import call_or_none
    from scratchbook.latent.lle import local_gram
    from scratchbook.latent.stochastic_lle import slr_em

    ok = True
    for x, nbrs in _small_neighbourhoods(seed=1):
        k, d = nbrs.shape
        answer = call_or_none(fn, x, nbrs, 1e-3)
        if answer is None:
            return False
        M, lam = local_gram(x[None, :], nbrs[None, :, :], 1e-3)
        sigma2 = slr_em(M, lam, d, max_iter=2000, tol=0.0)[2][0]  # EM run to its fixed point
        ok &= report_check(
            f"fixed point of σ² with k={k}, d={d}",
            answer,
            sigma2,
            rtol=1e-6,
            atol=0.0,
            hint="Set σ² on both sides of the M-step equal and solve; the answer uses "
            "the LLE weights, the reconstruction error and λ.",
        )
    return bool(ok)
