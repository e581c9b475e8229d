"""Run chapter 2.6's learners on the digits under Part II's protocol; save the split-by-split 3-NN accuracies.

    python scripts/make_more_spectral_results.py [--splits 10] [--out chapters/metric/data/more_spectral_digits.json]

The same protocol and splits as ``scripts/make_metric_results.py`` (600 training digits, 3-NN on the
other 1197, ``random_state=0``): the raw-pixel Euclidean baseline and the whitened PCA baseline of
:func:`scratchbook.metric.experiments.digits_learners`, then IML (balanced and not), LLMA, the
adversarial spectral learner at three radii and kernel Fisher, each after the whitened PCA. About a
minute on one CPU thread.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from sklearn.datasets import load_digits
from sklearn.pipeline import make_pipeline

from scratchbook.metric.experiments import _whitened_pca, digits_learners, evaluate
from scratchbook.metric.more_spectral import IML, LLMA, AdversarialSML, KernelFisher

ROOT = Path(__file__).resolve().parents[1]


def learners() -> dict:
    """The two baselines and the chapter's learners, each a pipeline from the raw pixels."""
    whitened = lambda last: lambda: make_pipeline(*_whitened_pca(30), last())  # noqa: E731
    return {
        **digits_learners(["Euclidean, pixels", "whitened PCA 30"]),
        "IML": whitened(IML),
        "IML, unbalanced": whitened(lambda: IML(balance=False)),
        "LLMA": whitened(LLMA),
        "adversarial, eps 0": whitened(lambda: AdversarialSML(epsilon=0.0)),
        "adversarial, eps 0.1": whitened(lambda: AdversarialSML(epsilon=0.1)),
        "adversarial, eps 0.4": whitened(lambda: AdversarialSML(epsilon=0.4)),
        "kernel Fisher": whitened(KernelFisher),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", type=int, default=10)
    parser.add_argument("--out", type=Path, default=ROOT / "chapters" / "metric" / "data" / "more_spectral_digits.json")
    args = parser.parse_args()
    digits = load_digits()
    settings = {"n_splits": args.splits, "train_size": 600, "n_neighbors": 3, "random_state": 0}
    start = time.perf_counter()
    scores = evaluate(learners(), digits.data, digits.target, **settings)
    result = {
        "what": "3-NN test accuracy, one value per split; made by scripts/make_more_spectral_results.py",
        "settings": {"digits": settings},
        "accuracy": {"digits": {name: [round(float(a), 6) for a in acc] for name, acc in scores.items()}},
    }
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"{len(scores)} learners x {args.splits} splits in {time.perf_counter() - start:.0f} s -> {args.out}")


if __name__ == "__main__":
    main()
