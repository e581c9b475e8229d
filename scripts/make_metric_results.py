"""Run Part II's two k-NN comparisons under one protocol; save the split-by-split 3-NN accuracies.

    python scripts/make_metric_results.py [--splits 10] [--out chapters/metric/data/knn_scores.json]

Digits: every learner of :func:`scratchbook.metric.experiments.digits_learners` (three Euclidean
baselines and the nine learners of chapters 2 and 3, each a pipeline from the raw pixels) is fitted
on 600 digits and scored by 3-NN on the other 1197. Noisy features: every learner of
:func:`scratchbook.metric.experiments.noisy_learners` on :func:`make_noisy_features` (300 points,
half for training). Both go through :func:`scratchbook.metric.experiments.evaluate`, so every learner
of a data set sees the same stratified random splits. On one CPU thread the defaults take about two
minutes. The file holds the accuracies (one list per learner, in split order) and every setting
needed to make it again; the chapters recompute the first split of a few rows and check them.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from sklearn.datasets import load_digits

from scratchbook.metric.experiments import digits_learners, evaluate, make_noisy_features, noisy_learners

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", type=int, default=10)
    parser.add_argument("--out", type=Path, default=ROOT / "chapters" / "metric" / "data" / "knn_scores.json")
    args = parser.parse_args()

    digits = load_digits()
    X_noisy, y_noisy = make_noisy_features(random_state=0)
    runs = {
        "digits": (digits_learners(), digits.data, digits.target, 600),
        "noisy": (noisy_learners(), X_noisy, y_noisy, 150),
    }
    result = {
        "what": "3-NN test accuracy, one value per split; made by scripts/make_metric_results.py",
        "settings": {},
        "accuracy": {},
    }
    start = time.perf_counter()
    for data, (learners, X, y, train_size) in runs.items():
        settings = {"n_splits": args.splits, "train_size": train_size, "n_neighbors": 3, "random_state": 0}
        scores = evaluate(learners, X, y, **settings)
        result["settings"][data] = settings
        result["accuracy"][data] = {name: [round(float(a), 6) for a in acc] for name, acc in scores.items()}
        print(f"{data}: {len(scores)} learners x {args.splits} splits, {time.perf_counter() - start:.0f} s so far")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
