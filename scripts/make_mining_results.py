"""Train chapter 4's triplet embeddings of digits with each mining strategy over several seeds; save the scores.

    python scripts/make_mining_results.py [--seeds 5] [--out chapters/metric/data/mining_scores.json]

Two experiments, both with the 64 → 32 → 16 network of :func:`scratchbook.metric.experiments.train_triplet_net`
(margin 0.2, 150 Adam steps on 6 × 8 batches), pixels scaled to [0, 1] and the digits split in two
stratified halves (``random_state=0``):

* ``seen``: trained on the training half, all ten classes; the score is the 5-NN test accuracy of the
  embedding on the other half.
* ``unseen``: trained on the training half of the digits 0–6 only; the score is Recall@1 among the
  test images of 7, 8 and 9, classes the network never saw (with the same score for the raw pixels).

It also trains the 2-D embeddings the chapter draws on a circle (random, batch-hard and semi-hard
triplets with margin 0.2, and semi-hard with margins 0, 0.5 and 1; seed 0) and saves their weights in
``chapters/metric/data/circle_nets.pt``. On one CPU thread the defaults take a minute or two. The
chapter trains one of the runs again and checks it against the file.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier

from scratchbook.metric.experiments import loo_knn_accuracy, mining_scores, train_triplet_net

ROOT = Path(__file__).resolve().parents[1]
STRATEGIES = ["random", "batch_hard", "semi_hard", "distance_weighted"]
FIRST_UNSEEN = 7  # the unseen-class runs train on the digits below it; the others are held out
CIRCLE_NETS = [
    ("random", 0.2),
    ("batch_hard", 0.2),
    ("semi_hard", 0.2),
    ("semi_hard", 0.0),
    ("semi_hard", 0.5),
    ("semi_hard", 1.0),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--circle-only", action="store_true", help="only the 2-D nets; keep the scores file")
    parser.add_argument("--out", type=Path, default=ROOT / "chapters" / "metric" / "data" / "mining_scores.json")
    args = parser.parse_args()

    digits = load_digits()
    X, y = digits.data / 16, digits.target
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.5, stratify=y, random_state=0)
    seen, unseen = y_train < FIRST_UNSEEN, y_test >= FIRST_UNSEEN
    start = time.perf_counter()
    result = {
        "what": "triplet embeddings of digits per mining strategy and seed; made by scripts/make_mining_results.py",
        "settings": {
            "seeds": list(range(args.seeds)),
            "out": 16,
            "margin": 0.2,
            "steps": 150,
            "split_seed": 0,
            "first_unseen": FIRST_UNSEEN,
        },
        "seen": {m: [] for m in STRATEGIES},
        "unseen": {m: [] for m in STRATEGIES},
        "pixels": {
            "knn5": float(KNeighborsClassifier(5).fit(X_train, y_train).score(X_test, y_test)),
            "recall1_unseen": loo_knn_accuracy(X_test[unseen], y_test[unseen], n_neighbors=1),
        },
    }
    for mining in [] if args.circle_only else STRATEGIES:
        for seed in range(args.seeds):
            net, _ = train_triplet_net(X_train, y_train, mining, seed)
            result["seen"][mining].append(mining_scores(net, X_train, y_train, X_test, y_test)["knn5"])
            net, _ = train_triplet_net(X_train[seen], y_train[seen], mining, seed)
            scores = mining_scores(
                net, X_train[seen], y_train[seen], X_test[~unseen], y_test[~unseen], X_test[unseen], y_test[unseen]
            )
            result["unseen"][mining].append(scores["recall1_unseen"])
        print(f"{mining}: {time.perf_counter() - start:.0f} s so far", flush=True)
    if not args.circle_only:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1) + "\n")
        print(f"-> {args.out}")
    circle = {}
    for mining, margin in CIRCLE_NETS:
        net, _ = train_triplet_net(X_train, y_train, mining, 0, out=2, margin=margin)
        circle[f"{mining}, margin {margin}"] = net.state_dict()
    torch.save(circle, args.out.parent / "circle_nets.pt")
    print(f"-> {args.out.parent / 'circle_nets.pt'} ({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
