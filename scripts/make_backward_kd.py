"""Distil the 1-D teacher of chapter 4.2 with plain KD, backward-pass KD and two random controls; save the errors.

    python scripts/make_backward_kd.py [--seeds 15] [--out chapters/compact/data/backward_kd.npz]

For each number of training points in ``--n-train`` and each seed, four students are trained with
:func:`scratchbook.compact.backward_kd.distill_few_points` (one CPU thread, the chapter's settings)
and compared with the teacher on a grid of 401 points of [−1, 1]. The file holds, per (method, n_train),
the mean squared teacher–student error over the grid for every seed, the squared error along the grid
averaged over the seeds, and the settings. On one CPU thread the defaults take a few minutes.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch

from scratchbook.compact.backward_kd import distill_few_points, wiggly_teacher
from scratchbook.compact.training import predict

ROOT = Path(__file__).resolve().parents[1]
METHODS = ("kd", "bkd", "random", "matched")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=15)
    parser.add_argument("--n-train", type=int, nargs="+", default=[6, 8, 12, 16])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--step-size", type=float, default=0.04)
    parser.add_argument("--n-steps", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "chapters" / "compact" / "data" / "backward_kd.npz")
    args = parser.parse_args()

    start = time.time()
    teacher = wiggly_teacher()
    grid = np.linspace(-1, 1, 401, dtype=np.float32)[:, None]
    t_grid = predict(teacher, grid)
    arrays = {"grid": grid[:, 0], "teacher": t_grid[:, 0]}
    for n in args.n_train:
        for method in METHODS:
            errors, curves = [], []
            for seed in range(args.seeds):
                student, _ = distill_few_points(teacher, n, method, args.step_size, args.n_steps, args.steps, seed)
                sq = (predict(student, grid) - t_grid)[:, 0] ** 2
                errors.append(sq.mean())
                curves.append(sq)
            arrays[f"{method}_{n}_error"] = np.array(errors)
            arrays[f"{method}_{n}_curve"] = np.mean(curves, axis=0)
            print(
                f"n_train={n:2d} {method:7s} grid error {np.mean(errors):.4f} ± {np.std(errors, ddof=1):.4f}",
                flush=True,
            )
    settings = {
        "command": shlex.join(["python", "scripts/make_backward_kd.py", *sys.argv[1:]]),
        "seeds": list(range(args.seeds)),
        "n_train": args.n_train,
        "methods": list(METHODS),
        "steps": args.steps,
        "step_size": args.step_size,
        "n_steps": args.n_steps,
        "torch": torch.__version__,
        "seconds": round(time.time() - start, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, settings=json.dumps(settings), **arrays)
    print(f"saved {args.out} in {settings['seconds']} s")


if __name__ == "__main__":
    main()
