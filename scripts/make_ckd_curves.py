"""Distil a noisy 1-D teacher with plain KD, Annealing KD and continuation KD; save the students' distances.

    python scripts/make_ckd_curves.py [--steps 2000] [--seeds 15] [--out chapters/compact/data/ckd_curves.npz]

The teacher is :func:`scratchbook.compact.continuation.noisy_teacher`, sin(3x) + 0.15·sin(12x). Each
student (a 1 → 32 → 32 → 1 MLP, full-batch Adam on 128 points, one CPU thread) is trained by
:func:`~scratchbook.compact.continuation.distill_1d` with T_max ∈ {1, 8} and margins m = c·A² for
c ∈ {0, 0.25, 0.5, 1, 2, 4} (A the noise amplitude). Every ``--eval-every`` steps the root-mean-square
distance of the student to the smooth curve sin(3x) and to the teacher is measured on 2,001 points
of [−1, 1]. The defaults (15 seeds, 180 runs) took about six minutes on a busy 2-core machine. The
chapter on continuation KD loads the file; it holds every setting needed to make it again.
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

from scratchbook.compact.continuation import distill_1d, noisy_teacher
from scratchbook.compact.training import predict

ROOT = Path(__file__).resolve().parents[1]
T_MAXES = (1, 8)
MARGIN_FACTORS = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--seeds", type=int, default=15)
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument("--amplitude", type=float, default=0.15)
    parser.add_argument("--frequency", type=float, default=12.0)
    parser.add_argument("--out", type=Path, default=ROOT / "chapters" / "compact" / "data" / "ckd_curves.npz")
    args = parser.parse_args()

    grid = np.linspace(-1.0, 1.0, 2001)[:, None]
    smooth = noisy_teacher(grid[:, 0], 0.0)
    teacher = noisy_teacher(grid[:, 0], args.amplitude, args.frequency)
    n_eval = args.steps // args.eval_every
    shape = (len(T_MAXES), len(MARGIN_FACTORS), args.seeds)
    d_smooth, d_teacher = np.zeros(shape + (n_eval,)), np.zeros(shape + (n_eval,))
    final = np.zeros(shape + (401,), dtype=np.float32)
    start = time.time()
    for i, T_max in enumerate(T_MAXES):
        for j, c in enumerate(MARGIN_FACTORS):
            for seed in range(args.seeds):

                def record(step, model, i=i, j=j, seed=seed):
                    if (step + 1) % args.eval_every == 0:
                        out = predict(model, grid)[:, 0]
                        k = (step + 1) // args.eval_every - 1
                        d_smooth[i, j, seed, k] = np.sqrt(np.mean((out - smooth) ** 2))
                        d_teacher[i, j, seed, k] = np.sqrt(np.mean((out - teacher) ** 2))

                model = distill_1d(
                    T_max,
                    c * args.amplitude**2,
                    steps=args.steps,
                    random_state=seed,
                    amplitude=args.amplitude,
                    frequency=args.frequency,
                    callback=record,
                )
                final[i, j, seed] = predict(model, grid[::5])[:, 0]
                print(
                    f"T_max={T_max} m={c}·A² seed={seed}: to smooth {d_smooth[i, j, seed, -1]:.4f}, "
                    f"to teacher {d_teacher[i, j, seed, -1]:.4f} ({time.time() - start:.0f} s)",
                    flush=True,
                )
    settings = {
        "command": shlex.join(["python", "scripts/make_ckd_curves.py", *sys.argv[1:]]),
        "steps": args.steps,
        "seeds": args.seeds,
        "eval_every": args.eval_every,
        "amplitude": args.amplitude,
        "frequency": args.frequency,
        "anneal_fraction": 0.5,
        "n_train": 128,
        "hidden": 32,
        "lr": 1e-2,
        "optimizer": "Adam, full batch",
        "num_threads": 1,
        "torch": torch.__version__,
        "seconds": round(time.time() - start),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        args.out,
        T_max=np.array(T_MAXES),
        margin_factor=np.array(MARGIN_FACTORS),
        steps=np.arange(1, n_eval + 1) * args.eval_every,
        d_smooth=d_smooth,
        d_teacher=d_teacher,
        x=grid[::5, 0],
        final=final,
        settings=json.dumps(settings),
    )
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
