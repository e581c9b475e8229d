"""Run chapter 4.6's adapter experiment over many seeds; save the seed-by-seed accuracies.

    python scripts/make_adapters.py [--seeds 15] [--out chapters/compact/data/adapters.npz]
    python scripts/make_adapters.py --checkpoint   # only the pre-trained network of seed 0


Each seed calls :func:`scratchbook.compact.experiments.compare_adapters`: chapter 4.1's task (a new
draw of 100 labelled digits) and its denoising pre-training, then training from scratch, the output
layer only, full fine-tuning, LoRA at ranks 1, 2, 4, 8 (also on a random frozen base), and DyLoRA
and nested dropout at rank 8, evaluated at every rank. ``--checkpoint`` writes the pre-trained
network of seed 0 (``pretrained_seed0.pt``, a state dict), which chapters 4.5 and 4.6 load instead of
pre-training for 3,000 steps. The results file holds two accuracy tables
(seeds × models, and seeds × models × ranks) and every setting needed to make it again.
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

from scratchbook.compact.distillation import PRETRAIN_STEPS, denoising_pretrained_mlp
from scratchbook.compact.experiments import ADAPTER_CURVES, ADAPTER_SINGLE, compare_adapters
from scratchbook.compact.tasks import digits_few_labels

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=15, help="seeds 0, 1, …, seeds − 1")
    parser.add_argument("--r", type=int, default=8)
    parser.add_argument("--alpha", type=float, default=1.0)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--dynamic-steps", type=int, default=600)
    parser.add_argument("--out", type=Path, default=ROOT / "chapters" / "compact" / "data" / "adapters.npz")
    parser.add_argument("--checkpoint", action="store_true", help="only write the pre-trained network of seed 0")
    args = parser.parse_args()
    if args.checkpoint:
        path = ROOT / "chapters" / "compact" / "data" / "pretrained_seed0.pt"
        data = digits_few_labels(100, random_state=0)
        torch.save(denoising_pretrained_mlp(data.X_unlabelled, 32, 0, PRETRAIN_STEPS).state_dict(), path)
        print(f"wrote {path}")
        return

    single = np.full((args.seeds, len(ADAPTER_SINGLE)), np.nan)
    curves = np.full((args.seeds, len(ADAPTER_CURVES), args.r), np.nan)
    start = time.perf_counter()
    for seed in range(args.seeds):
        one, many = compare_adapters(
            seed, r=args.r, alpha=args.alpha, steps=args.steps, dynamic_steps=args.dynamic_steps
        )
        single[seed] = [one[name] for name in ADAPTER_SINGLE]
        curves[seed] = [many[name] for name in ADAPTER_CURVES]
        print(f"seed {seed:2d}  " + "  ".join(f"{k} {v:.3f}" for k, v in one.items()), flush=True)
    settings = {
        "command": shlex.join(["python", "scripts/make_adapters.py", *sys.argv[1:]]),
        "seeds": args.seeds,
        "n_labelled": 100,
        "hidden": 32,
        "r": args.r,
        "alpha": args.alpha,
        "steps": args.steps,
        "dynamic_steps": args.dynamic_steps,
        "pretrain_steps": PRETRAIN_STEPS,
        "single": list(ADAPTER_SINGLE),
        "curves": list(ADAPTER_CURVES),
        "torch": torch.__version__,
        "seconds": round(time.perf_counter() - start, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        args.out, single=single.astype(np.float32), curves=curves.astype(np.float32), settings=json.dumps(settings)
    )
    print(f"wrote {args.out} in {settings['seconds']:.0f} s")


if __name__ == "__main__":
    main()
