"""Run chapter 4.1's label-regularization experiment over many seeds; save the seed-by-seed accuracies.

    python scripts/make_kd_seeds.py [--seeds 15] [--out chapters/compact/data/kd_seeds.npz]

Each seed calls :func:`scratchbook.compact.distillation.compare_regularizers`: a new draw of 100
labelled digits, new initializations and mini-batches, a student trained from scratch and one
pre-trained without labels (masked pixels) on all training digits, each without regularization, with
label smoothing, teacher-free KD, KD from a larger MLP and self-distillation. On one CPU thread the
defaults take a few minutes. The
file holds an accuracy table (seeds × students × methods) and every setting needed to make it again.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from scratchbook.compact.distillation import METHODS, PRETRAIN_STEPS, STUDENTS, compare_regularizers

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=15, help="seeds 0, 1, …, seeds − 1")
    parser.add_argument("--n-labelled", type=int, default=100)
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--out", type=Path, default=ROOT / "chapters" / "compact" / "data" / "kd_seeds.npz")
    args = parser.parse_args()

    acc = np.full((args.seeds, len(STUDENTS), len(METHODS)), np.nan)
    start = time.perf_counter()
    for seed in range(args.seeds):
        result = compare_regularizers(seed, METHODS, args.n_labelled, args.hidden, args.steps)
        for i, student in enumerate(STUDENTS):
            acc[seed, i] = [result[student, method] for method in METHODS]
        print(
            f"seed {seed:2d}  " + "  ".join(f"{s[:3]}/{m[:5]} {result[s, m]:.3f}" for s in STUDENTS for m in METHODS),
            flush=True,
        )
    settings = {
        "command": f"python scripts/make_kd_seeds.py --seeds {args.seeds} --n-labelled {args.n_labelled} "
        f"--hidden {args.hidden} --steps {args.steps}",
        "seeds": args.seeds,
        "n_labelled": args.n_labelled,
        "hidden": args.hidden,
        "steps": args.steps,
        "pretrain_steps": PRETRAIN_STEPS,
        "students": list(STUDENTS),
        "methods": list(METHODS),
        "torch": torch.__version__,
        "seconds": round(time.perf_counter() - start, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, accuracy=acc.astype(np.float32), settings=json.dumps(settings))
    print(f"wrote {args.out} in {settings['seconds']:.0f} s")


if __name__ == "__main__":
    main()
