"""Part III against scikit-learn: fit times measured in the same run, on the same data, as ratios.

    python benchmarks/bench_latent.py [--repeats 20]

FA and PPCA at n=2000, d=30 (q=3, data drawn from the factor model); LLE and stochastic LLE on a
2000-point swiss roll (k=10), with the paper's stochastic reconstruction run for 30 EM iterations.
Each time is the best of ``--repeats`` fits. Both factor analyses stop
at the same tolerance: scikit-learn's ``tol`` applies to the total log-likelihood, ours to the mean
per sample, so ours gets ``tol / n``. Target: every ratio (ours / scikit-learn) below 2. PPCA by
EM has no scikit-learn counterpart; its row, against PCA's direct solution, shows what iterating costs.
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Callable

from sklearn.datasets import make_swiss_roll
from sklearn.decomposition import PCA
from sklearn.decomposition import FactorAnalysis as SkFactorAnalysis
from sklearn.exceptions import ConvergenceWarning
from sklearn.manifold import LocallyLinearEmbedding

from scratchbook.datasets import make_factor_data
from scratchbook.latent import LLE, PPCA, FactorAnalysis, PaperStochasticLLE, StochasticLLE


def best_time(fit: Callable[[], object], repeats: int) -> float:
    """Smallest wall time of ``repeats`` calls, in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fit()
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args(argv)
    n, d, q, tol, k = 2000, 30, 3, 1e-2, 10
    X = make_factor_data(n_samples=n, n_features=d, n_components=q, random_state=0).data
    roll = make_swiss_roll(n, random_state=0)[0]
    rows = [
        (
            "FactorAnalysis (EM)",
            lambda: FactorAnalysis(q, tol=tol / n, random_state=0).fit(X),
            "FactorAnalysis(svd_method='lapack')",
            lambda: SkFactorAnalysis(q, tol=tol, svd_method="lapack").fit(X),
        ),
        (
            "FactorAnalysis (EM)",
            lambda: FactorAnalysis(q, tol=tol / n, random_state=0).fit(X),
            "FactorAnalysis (randomized)",
            lambda: SkFactorAnalysis(q, tol=tol, random_state=0).fit(X),
        ),
        ("PPCA (closed form)", lambda: PPCA(q).fit(X), "PCA", lambda: PCA(q).fit(X)),
        (
            "PPCA (EM; iterative)",
            lambda: PPCA(q, method="em", tol=tol / n, random_state=0).fit(X),
            "PCA",
            lambda: PCA(q).fit(X),
        ),
        (
            "LLE (arpack)",
            lambda: LLE(k, eigen_solver="arpack", random_state=0).fit(roll),
            "LocallyLinearEmbedding (arpack)",
            lambda: LocallyLinearEmbedding(n_neighbors=k, eigen_solver="arpack", random_state=0).fit(roll),
        ),
        (
            "LLE (dense)",
            lambda: LLE(k, eigen_solver="dense").fit(roll),
            "LocallyLinearEmbedding (dense)",
            lambda: LocallyLinearEmbedding(n_neighbors=k, eigen_solver="dense").fit(roll),
        ),
        (
            "StochasticLLE (EM + arpack)",
            lambda: StochasticLLE(k, random_state=0).fit(roll),
            "LocallyLinearEmbedding (arpack)",
            lambda: LocallyLinearEmbedding(n_neighbors=k, eigen_solver="arpack", random_state=0).fit(roll),
        ),
        (
            "PaperStochasticLLE (30 EM)",
            lambda: PaperStochasticLLE(k, max_iter=30, random_state=0).fit(roll),
            "LocallyLinearEmbedding (arpack)",
            lambda: LocallyLinearEmbedding(n_neighbors=k, eigen_solver="arpack", random_state=0).fit(roll),
        ),
    ]
    warnings.simplefilter("ignore", ConvergenceWarning)  # the paper's EM may stop early: sigma^2 collapses
    print(f"FA/PPCA: n={n}, d={d}, q={q}; LLE: swiss roll n={n}, k={k}; best of {args.repeats}")
    print(f"{'scratchbook':<28}{'time':>10}   {'scikit-learn':<36}{'time':>10}   ratio")
    for ours_name, ours, ref_name, ref in rows:
        t_ours, t_ref = best_time(ours, args.repeats), best_time(ref, args.repeats)
        print(f"{ours_name:<28}{t_ours * 1e3:8.1f}ms   {ref_name:<36}{t_ref * 1e3:8.1f}ms   {t_ours / t_ref:5.2f}")


if __name__ == "__main__":
    main()
