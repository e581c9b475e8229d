"""Train a tanh RNN, an IRNN, an LSTM and a GRU on the adding problem; save their test-error curves.

    python scripts/make_adding_curves.py [--steps 3000] [--rnn-steps 10000] [--out chapters/rnn/data/adding_curves.npz]

For each length T in (50, 100) and each model, Adam with fresh batches every step (one CPU thread),
the squared error on one fixed test set every ``--eval-every`` steps. The gated networks train for
``--steps`` steps; the two networks without gates, about four times cheaper per step, for
``--rnn-steps``. On one CPU thread the defaults take about a quarter of an hour. The file holds the curves and
every setting needed to make them again (seeds, steps, hidden size, learning rates, clipping). The
chapter on GRUs loads it; always predicting 1 gives a squared error of 1/6.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from scratchbook.rnn import GRU, LSTM, LeakyRNN, identity_init, train_adding

ROOT = Path(__file__).resolve().parents[1]

# name -> (how to build it, learning rate, gradient clipping, gated)
MODELS = {
    "tanh RNN": (lambda H: LeakyRNN(2, H, nonlinearity="tanh"), 1e-3, 1.0, False),
    "IRNN": (lambda H: identity_init(LeakyRNN(2, H, nonlinearity="relu")), 1e-3, 1.0, False),
    "LSTM": (lambda H: LSTM(2, H), 5e-3, 1.0, True),
    "GRU": (lambda H: GRU(2, H), 5e-3, 1.0, True),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[50, 100])
    parser.add_argument("--steps", type=int, default=3000, help="training steps of the LSTM and the GRU")
    parser.add_argument("--rnn-steps", type=int, default=10000, help="training steps of the tanh RNN and the IRNN")
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument("--n-test", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "chapters" / "rnn" / "data" / "adding_curves.npz")
    args = parser.parse_args()

    arrays, seconds = {}, {}
    command = (
        f"python scripts/make_adding_curves.py --steps {args.steps} --rnn-steps {args.rnn_steps} "
        f"--hidden {args.hidden} --batch-size {args.batch_size} --seed {args.seed}"
    )
    settings = {
        "command": command,
        "steps": args.steps,
        "rnn_steps": args.rnn_steps,
        "hidden_size": args.hidden,
        "batch_size": args.batch_size,
        "eval_every": args.eval_every,
        "n_test": args.n_test,
        "seed": args.seed,
        "optimizer": "Adam",
        "num_threads": 1,
        "torch": torch.__version__,
        "models": {
            name: {"lr": lr, "clip_norm": clip, "steps": args.steps if gated else args.rnn_steps}
            for name, (_, lr, clip, gated) in MODELS.items()
        },
    }
    for length in args.lengths:
        for name, (build, lr, clip, gated) in MODELS.items():
            torch.manual_seed(args.seed)
            model = build(args.hidden)
            start = time.perf_counter()
            result = train_adding(
                model,
                length,
                steps=args.steps if gated else args.rnn_steps,
                batch_size=args.batch_size,
                lr=lr,
                n_test=args.n_test,
                random_state=args.seed,
                num_threads=1,
                clip_norm=clip,
                eval_every=args.eval_every,
            )
            seconds[f"{name}, T={length}"] = round(time.perf_counter() - start, 1)
            arrays[f"{name}|{length}"] = result["test_curve"].astype(np.float32)
            arrays[f"{name}|{length}|steps"] = result["eval_steps"].astype(np.int32)
            print(
                f"T = {length:3d}  {name:8s}  final test MSE {result['test_curve'][-1]:.4f}  "
                f"({seconds[f'{name}, T={length}']:.0f} s)",
                flush=True,
            )
            settings["seconds"] = seconds
            args.out.parent.mkdir(parents=True, exist_ok=True)
            np.savez_compressed(args.out, settings=json.dumps(settings), **arrays)  # after every run
    print(f"wrote {args.out} in {sum(seconds.values()):.0f} s")


if __name__ == "__main__":
    main()
