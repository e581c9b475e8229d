"""Fine-tune chapter 4.1's pre-trained network on its few labelled digits, with and without SWA, over many seeds.

    python scripts/make_swa.py [--seeds 15] [--steps 400] [--lrs 0.03 0.05] [--out chapters/compact/data/swa_seeds.npz]

The setting of chapter 4.5. Each seed calls :func:`scratchbook.compact.experiments.compare_swa`: chapter
4.1's task and denoising pre-training for that seed (so each seed pairs with chapter 4.1's KD run of the
same seed), then, for each learning rate, SGD (momentum 0.9, mini-batches of 8) from the pre-trained
weights with a rate decaying linearly to zero (standard fine-tuning), at the constant rate (last iterate,
and the SWA average of the weights from each start in ``--starts`` on), and from a random initialization
with the decaying rate. The file holds the test accuracies, per learning rate and seed, with every setting
needed to make them again.
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
from scratchbook.compact.experiments import compare_swa

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=15)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--lrs", type=float, nargs="+", default=[0.03, 0.05])
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--starts", type=int, nargs="+", default=[0, 50, 100, 200, 300])
    parser.add_argument("--out", type=Path, default=ROOT / "chapters" / "compact" / "data" / "swa_seeds.npz")
    args = parser.parse_args()

    begin = time.perf_counter()
    n_lr, n_start = len(args.lrs), len(args.starts)
    decayed, last, scratch = (np.zeros((n_lr, args.seeds)) for _ in range(3))
    swa = np.zeros((n_lr, args.seeds, n_start))
    for seed in range(args.seeds):
        out = compare_swa(seed, tuple(args.lrs), tuple(args.starts), args.steps, args.batch_size)
        decayed[:, seed], last[:, seed], scratch[:, seed] = out["decayed"], out["last"], out["scratch"]
        swa[:, seed] = out["swa"]
        print(
            f"seed {seed:2d}: decayed {np.round(out['decayed'], 3)}  last {np.round(out['last'], 3)}  "
            f"scratch {np.round(out['scratch'], 3)}  SWA {np.round(out['swa'], 3).tolist()}",
            flush=True,
        )
    settings = {
        "command": shlex.join(["python", "scripts/make_swa.py", *sys.argv[1:]]),
        "seeds": args.seeds,
        "steps": args.steps,
        "lrs": args.lrs,
        "momentum": 0.9,
        "n_labelled": 100,
        "batch_size": args.batch_size,
        "pretrain_steps": PRETRAIN_STEPS,
        "torch": torch.__version__,
        "seconds": round(time.perf_counter() - begin, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        args.out,
        settings=json.dumps(settings),
        lrs=np.array(args.lrs),
        starts=np.array(args.starts),
        decayed=decayed,
        last=last,
        scratch=scratch,
        swa=swa,
    )
    print(f"wrote {args.out} in {settings['seconds']:.0f} s")


if __name__ == "__main__":
    main()
