"""Fine-tune a pre-trained perceptron on a few rotated digits, with and without SWA, over many seeds.

    python scripts/make_swa.py [--seeds 20] [--steps 400] [--lrs 0.03 0.05] [--out chapters/compact/data/swa_seeds.npz]

The setting of chapter 4.5: a ``make_mlp([64, 64, 64, 10])`` pre-trained with Adam on upright digits,
then fine-tuned with SGD (momentum 0.9, mini-batches of 8) on ``--n-train`` rotated training digits.
For each learning rate and seed (mini-batch order) two runs start from the same pre-trained weights: one whose learning
rate decays linearly to zero (standard fine-tuning, final weights), one at the constant learning rate
whose weights after every step are kept, so that the SWA average from any start step is their mean.
The file holds, per learning rate (rows) and seed (columns), the test accuracies of the decayed run,
of the constant run's last weights and of SWA from each start in ``--starts``, with every setting
needed to make them again. On one CPU thread the defaults take about two minutes.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from scratchbook.compact import accuracy, digits_transfer, make_mlp, train_classifier
from scratchbook.compact.swa import fine_tune

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--lrs", type=float, nargs="+", default=[0.03, 0.05])
    parser.add_argument("--n-train", type=int, default=250)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--starts", type=int, nargs="+", default=[0, 50, 100, 200, 300])
    parser.add_argument("--out", type=Path, default=ROOT / "chapters" / "compact" / "data" / "swa_seeds.npz")
    args = parser.parse_args()

    begin = time.perf_counter()
    data = digits_transfer()
    pretrained = make_mlp([64, 64, 64, 10], random_state=0)
    train_classifier(pretrained, data.X_train, data.y_train, steps=300, progress=False)
    subset = np.random.default_rng(0).choice(len(data.Xr_train), size=args.n_train, replace=False)
    X, y = data.Xr_train[subset], data.y_train[subset]
    run = dict(steps=args.steps, batch_size=args.batch_size)

    decayed = np.zeros((len(args.lrs), args.seeds))
    last = np.zeros((len(args.lrs), args.seeds))
    swa = np.zeros((len(args.lrs), args.seeds, len(args.starts)))
    for i, lr in enumerate(args.lrs):
        for seed in range(args.seeds):
            model, _ = fine_tune(pretrained, X, y, lr, seed, decay=True, **run)
            decayed[i, seed] = accuracy(model, data.Xr_test, data.y_test)
            snapshots = []
            model, _ = fine_tune(pretrained, X, y, lr, seed, snapshots=snapshots, **run)
            last[i, seed] = accuracy(model, data.Xr_test, data.y_test)
            stacked = torch.stack(snapshots)
            for k, start in enumerate(args.starts):
                nn.utils.vector_to_parameters(
                    stacked[start:].mean(dim=0).to(next(model.parameters()).device), model.parameters()
                )
                swa[i, seed, k] = accuracy(model, data.Xr_test, data.y_test)
            print(
                f"lr {lr} seed {seed:2d}: decayed {decayed[i, seed]:.3f}  constant, last {last[i, seed]:.3f}  "
                f"SWA {np.round(swa[i, seed], 3)}",
                flush=True,
            )

    settings = {
        "command": f"python scripts/make_swa.py --seeds {args.seeds} --steps {args.steps} "
        f"--lrs {' '.join(map(str, args.lrs))} --n-train {args.n_train} --batch-size {args.batch_size}",
        "seeds": args.seeds,
        "steps": args.steps,
        "lrs": args.lrs,
        "momentum": 0.9,
        "n_train": args.n_train,
        "batch_size": args.batch_size,
        "pretrain": "make_mlp([64, 64, 64, 10], 0), Adam, 300 steps",
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
        swa=swa,
    )
    print(f"wrote {args.out} in {settings['seconds']:.0f} s")


if __name__ == "__main__":
    main()
