"""Run Part II's digits comparison under one protocol; save the split-by-split 3-NN accuracies.

    python scripts/make_metric_results.py [--splits 10] [--out chapters/metric/data/digits_knn.json]

Every learner of :func:`scratchbook.metric.experiments.digits_learners` (three Euclidean baselines and
the nine learners of chapters 2 and 3, each a pipeline from the raw pixels) is fitted on 600 digits
and scored by 3-NN on the other 1197, on the same stratified random splits, through
:func:`scratchbook.metric.experiments.evaluate`. On one CPU thread the defaults take about a minute.
The file holds the accuracies (one list per learner, in split order) and every setting needed to make
it again.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from sklearn.datasets import load_digits

from scratchbook.metric.experiments import digits_learners, evaluate

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", type=int, default=10)
    parser.add_argument("--train-size", type=int, default=600)
    parser.add_argument("--neighbors", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "chapters" / "metric" / "data" / "digits_knn.json")
    args = parser.parse_args()

    digits = load_digits()
    start = time.perf_counter()
    scores = evaluate(
        digits_learners(),
        digits.data,
        digits.target,
        n_splits=args.splits,
        train_size=args.train_size,
        n_neighbors=args.neighbors,
        random_state=0,
    )
    result = {
        "what": "3-NN test accuracy on the digits, one value per split; made by scripts/make_metric_results.py",
        "settings": {
            "n_splits": args.splits,
            "train_size": args.train_size,
            "n_neighbors": args.neighbors,
            "random_state": 0,
        },
        "accuracy": {name: [round(float(a), 6) for a in acc] for name, acc in scores.items()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"{len(scores)} learners x {args.splits} splits in {time.perf_counter() - start:.0f} s -> {args.out}")


if __name__ == "__main__":
    main()
