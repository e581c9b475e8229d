"""Run chapter 4.1's label-regularization experiment over many seeds; save the seed-by-seed accuracies.

    python scripts/make_kd_seeds.py [--seeds 15] [--out chapters/compact/data/kd_seeds.npz]

Each seed calls :func:`scratchbook.compact.distillation.compare_regularizers`: a new draw of 100
labelled digits, new initializations and mini-batches, a student trained from scratch and one
pre-trained without labels (masked pixels) on all training digits, each without regularization, with
label smoothing, teacher-free KD, KD from a wider MLP pre-trained in the same way
(:func:`~scratchbook.compact.distillation.kd_teacher`) and self-distillation. On one CPU thread the
defaults take a few minutes. The file holds an accuracy table (seeds × students × methods), the KD
teacher's own accuracy per seed, the first seed's teacher logits on the test digits, and every
setting needed to make it again.
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

from scratchbook.compact.distillation import (
    METHODS,
    PRETRAIN_STEPS,
    STUDENTS,
    TEACHER_HIDDEN,
    compare_regularizers,
    kd_teacher,
)
from scratchbook.compact.tasks import digits_few_labels
from scratchbook.compact.training import predict

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
    teacher_acc = np.full(args.seeds, np.nan)
    start = time.perf_counter()
    for seed in range(args.seeds):
        result = compare_regularizers(seed, METHODS, args.n_labelled, args.hidden, args.steps)
        for i, student in enumerate(STUDENTS):
            acc[seed, i] = [result[student, method] for method in METHODS]
        teacher_acc[seed] = result["teacher", "KD"]
        print(
            f"seed {seed:2d}  teacher {teacher_acc[seed]:.3f}  "
            + "  ".join(f"{s[:3]}/{m[:5]} {result[s, m]:.3f}" for s in STUDENTS for m in METHODS),
            flush=True,
        )
    settings = {
        "command": shlex.join(["python", "scripts/make_kd_seeds.py", *sys.argv[1:]]),
        "seeds": args.seeds,
        "n_labelled": args.n_labelled,
        "hidden": args.hidden,
        "steps": args.steps,
        "pretrain_steps": PRETRAIN_STEPS,
        "teacher_hidden": TEACHER_HIDDEN,
        "students": list(STUDENTS),
        "methods": list(METHODS),
        "torch": torch.__version__,
        "seconds": round(time.perf_counter() - start, 1),
    }
    data = digits_few_labels(args.n_labelled, random_state=0)  # the first seed's teacher again, for its soft targets
    teacher = kd_teacher(data.X_unlabelled, data.X_train, data.y_train, 0, steps=args.steps)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        args.out,
        accuracy=acc.astype(np.float32),
        teacher_accuracy=teacher_acc.astype(np.float32),
        teacher_test_logits_seed0=predict(teacher, data.X_test).astype(np.float32),
        settings=json.dumps(settings),
    )
    print(f"wrote {args.out} in {settings['seconds']:.0f} s")


if __name__ == "__main__":
    main()
