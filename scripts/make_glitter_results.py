"""Distil a small student with no augmentation, all k₂, random k₁ and Glitter k₁; save accuracy and cost.

    python scripts/make_glitter_results.py [--seeds 15] [--steps 300] [--out chapters/compact/data/glitter_results.npz]

The task is :func:`digits_glitter_task`: a 64 → 128 → 10 teacher trained on the upright training digits,
``--n-labelled`` of them, each with a fixed pool of ``--k2`` augmentations. A 64 → 32 → 10 student is
distilled from the teacher on them (:func:`distill_with_pool`) for every strategy and seed. Each seed
draws the student's initialization, its mini-batches and the random selection; the teacher, the
labelled subset and the pool stay fixed. The file holds the test accuracies (strategies × seeds), the
student's forward and backward sample passes, the wall time of each run (one CPU thread; a few minutes
in all) and every setting. Chapter 4.4 loads it.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from scratchbook.compact import accuracy
from scratchbook.compact.glitter import digits_glitter_task, distill_with_pool

ROOT = Path(__file__).resolve().parents[1]
# name -> (strategy, k1)
STRATEGIES = {
    "no augmentation": ("none", 1),
    "all k2": ("all", 1),
    "random k1=1": ("random", 1),
    "Glitter k1=1": ("glitter", 1),
    "random k1=2": ("random", 2),
    "Glitter k1=2": ("glitter", 2),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=15)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--teacher-steps", type=int, default=300)
    parser.add_argument("--n-labelled", type=int, default=200)
    parser.add_argument("--k2", type=int, default=16)
    parser.add_argument("--out", type=Path, default=ROOT / "chapters" / "compact" / "data" / "glitter_results.npz")
    args = parser.parse_args()

    task = digits_glitter_task(args.n_labelled, args.k2, args.teacher_steps)
    teacher, X, y, pool = task.teacher, task.X, task.y, task.pool
    names = list(STRATEGIES)
    acc = np.zeros((len(names), args.seeds))
    seconds = np.zeros((len(names), args.seeds))
    passes = np.zeros((len(names), 2), dtype=np.int64)
    for i, name in enumerate(names):
        strategy, k1 = STRATEGIES[name]
        for seed in range(args.seeds):
            start = time.perf_counter()
            student, loss = distill_with_pool(teacher, X, y, pool, strategy, k1, steps=args.steps, random_state=seed)
            seconds[i, seed] = time.perf_counter() - start
            acc[i, seed] = accuracy(student, task.X_test, task.y_test)
        passes[i] = loss.forward_, loss.backward_
        print(
            f"{name:16s} accuracy {acc[i].mean():.4f} ± {acc[i].std():.4f}   forward {passes[i, 0]:>8d}   "
            f"backward {passes[i, 1]:>8d}   {seconds[i].mean():.2f} s per run"
        )
    settings = dict(
        vars(args),
        out=args.out.name,
        hidden=32,
        teacher=[64, 128, 10],
        batch_size=32,
        temperature=2.0,
        alpha=0.5,
        lr=1e-2,
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(
        args.out,
        names=np.array(names),
        acc=acc,
        seconds=seconds,
        passes=passes,
        teacher_acc=accuracy(teacher, task.X_test, task.y_test),
        settings=json.dumps(settings),
    )
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
