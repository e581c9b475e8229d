"""Chapter 4.6's fixed-rank models again, trained as long as DyLoRA; save the seed-by-seed results.

    python scripts/make_adapters_equal_steps.py [--seeds 15] [--steps 600]
        [--out chapters/compact/data/adapters_equal_steps.npz]

``scripts/make_adapters.py`` trains LoRA and the baselines for 300 steps and DyLoRA and nested dropout
for 600. Each seed here calls :func:`scratchbook.compact.experiments.compare_adapters_equal_steps`:
the same task, pre-trained network and seeds, with training from scratch, the output layer only, full
fine-tuning and LoRA at each rank (truncated and SVD-truncated at every rank) trained for ``--steps``,
frozen DyLoRA-8 again (the chapter checks that it repeats the stored run), and, for LoRA-8, frozen
DyLoRA-8 and nested dropout, the overlap of each adapter's rank-b column space with the top-b
singular subspace of its rank-8 update. The results file
holds the tables (seeds × models, seeds × models × ranks, seeds × adapters × layers × ranks) and every
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

from scratchbook.compact.distillation import PRETRAIN_STEPS
from scratchbook.compact.experiments import (
    ADAPTER_EQUAL_CURVES,
    ADAPTER_OVERLAP,
    ADAPTER_SINGLE,
    compare_adapters_equal_steps,
)

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=15, help="seeds 0, 1, …, seeds − 1")
    parser.add_argument("--r", type=int, default=8)
    parser.add_argument("--alpha", type=float, default=1.0)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--out", type=Path, default=ROOT / "chapters" / "compact" / "data" / "adapters_equal_steps.npz")
    args = parser.parse_args()
    single = np.full((args.seeds, len(ADAPTER_SINGLE)), np.nan)
    curves = np.full((args.seeds, len(ADAPTER_EQUAL_CURVES), args.r), np.nan)
    overlap = np.full((args.seeds, len(ADAPTER_OVERLAP), 2, args.r - 1), np.nan)
    start = time.perf_counter()
    for seed in range(args.seeds):
        one, many, shared = compare_adapters_equal_steps(seed, r=args.r, alpha=args.alpha, steps=args.steps)
        single[seed] = [one[name] for name in ADAPTER_SINGLE]
        curves[seed] = [many[name] for name in ADAPTER_EQUAL_CURVES]
        overlap[seed] = [shared[name] for name in ADAPTER_OVERLAP]
        print(f"seed {seed:2d}  " + "  ".join(f"{k} {v:.3f}" for k, v in one.items()), flush=True)
    settings = {
        "command": shlex.join(["python", "scripts/make_adapters_equal_steps.py", *sys.argv[1:]]),
        "seeds": args.seeds,
        "n_labelled": 100,
        "hidden": 32,
        "r": args.r,
        "alpha": args.alpha,
        "steps": args.steps,
        "pretrain_steps": PRETRAIN_STEPS,
        "single": list(ADAPTER_SINGLE),
        "curves": list(ADAPTER_EQUAL_CURVES),
        "overlap": list(ADAPTER_OVERLAP),
        "overlap_layers": ["0", "2"],
        "torch": torch.__version__,
        "seconds": round(time.perf_counter() - start, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        args.out,
        single=single.astype(np.float32),
        curves=curves.astype(np.float32),
        overlap=overlap.astype(np.float32),
        settings=json.dumps(settings),
    )
    print(f"wrote {args.out} in {settings['seconds']:.0f} s")


if __name__ == "__main__":
    main()
