"""Distil teachers of growing width into one small student, plainly and annealed; save the accuracies.

    python scripts/make_ckd_capacity.py [--seeds 15] [--out chapters/compact/data/ckd_capacity.npz]

Each seed calls :func:`scratchbook.compact.continuation.capacity_gap_trial`: teachers 64 → w → w → 10
for every width of ``TEACHER_WIDTHS``, trained on every labelled training digit, each regressed by a
student 64 → 16 → 10 on the training digits without labels, with plain KD (T_max = 1) and with
Annealing KD (T_max = 8). The chapter on continuation KD loads the file; it holds every setting
needed to make it again, and the time the run took.
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

from scratchbook.compact.continuation import TEACHER_WIDTHS, capacity_gap_trial

ROOT = Path(__file__).resolve().parents[1]
KEYS = ("teacher", "logit_std", "plain KD", "Annealing KD")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=15, help="seeds 0, 1, …, seeds − 1")
    parser.add_argument("--student-hidden", type=int, default=16)
    parser.add_argument("--teacher-steps", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--T-max", type=int, default=8)
    parser.add_argument("--out", type=Path, default=ROOT / "chapters" / "compact" / "data" / "ckd_capacity.npz")
    args = parser.parse_args()

    table = {key: np.zeros((args.seeds, len(TEACHER_WIDTHS))) for key in KEYS}
    start = time.perf_counter()
    for seed in range(args.seeds):
        result = capacity_gap_trial(
            seed, TEACHER_WIDTHS, args.student_hidden, args.teacher_steps, args.steps, args.T_max
        )
        for key in KEYS:
            table[key][seed] = result[key]
        print(
            f"seed {seed:2d}  "
            + "  ".join(f"{key} {np.round(result[key], 3).tolist()}" for key in KEYS)
            + f"  ({time.perf_counter() - start:.0f} s)",
            flush=True,
        )
    settings = {
        "command": shlex.join(["python", "scripts/make_ckd_capacity.py", *sys.argv[1:]]),
        "seeds": args.seeds,
        "teacher_widths": list(TEACHER_WIDTHS),
        "student_hidden": args.student_hidden,
        "teacher_steps": args.teacher_steps,
        "steps": args.steps,
        "T_max": args.T_max,
        "torch": torch.__version__,
        "seconds": round(time.perf_counter() - start, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        args.out,
        widths=np.array(TEACHER_WIDTHS),
        **{key.replace(" ", "_"): table[key].astype(np.float32) for key in KEYS},
        settings=json.dumps(settings),
    )
    print(f"wrote {args.out} in {settings['seconds']:.0f} s")


if __name__ == "__main__":
    main()
