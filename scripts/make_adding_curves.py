"""Train a tanh RNN, an IRNN, an LSTM and a GRU on the adding problem under one protocol; save the curves.

    python scripts/make_adding_curves.py [--length 50] [--steps 1000] [--out chapters/rnn/data/adding_curves.npz]

Every model gets the same protocol: the same hidden size, batch size, number of Adam steps, gradient
clipping and learning-rate grid. First, for each model, one *validation run* per learning rate of
the grid (seed ``--select-seed``, its own training and validation sequences) scores the rate by the
mean of log10 of the validation error over the run, which rewards both leaving the plateau early and
ending low; the best rate is kept. Then each model trains at its chosen rate from ``--seeds`` fresh
seeds, and the squared error on a fixed test set of each seed is recorded every ``--eval-every``
steps. One CPU thread; the defaults take a few minutes. The file holds the curves, the validation
scores and every setting needed to make them again. The chapter on GRUs loads it; always predicting 1
gives a squared error of 1/6.
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

from scratchbook.rnn import GRU, LSTM, AddingResult, LeakyRNN, identity_init, train_adding

ROOT = Path(__file__).resolve().parents[1]

# name -> how to build it from the hidden size
MODELS = {
    "tanh RNN": lambda H: LeakyRNN(2, H, nonlinearity="tanh"),
    "IRNN": lambda H: identity_init(LeakyRNN(2, H, nonlinearity="relu")),
    "LSTM": lambda H: LSTM(2, H),
    "GRU": lambda H: GRU(2, H),
}


def run(name: str, lr: float, seed: int, args: argparse.Namespace) -> AddingResult:
    """One training run of model ``name`` at learning rate ``lr`` from ``seed`` (weights and data)."""
    torch.manual_seed(seed)
    return train_adding(
        MODELS[name](args.hidden),
        args.length,
        steps=args.steps,
        batch_size=args.batch_size,
        lr=lr,
        n_test=args.n_test,
        random_state=seed,
        num_threads=1,
        clip_norm=args.clip,
        eval_every=args.eval_every,
        device="cpu",  # the stored curves were made on the CPU
    )


def score(curve: np.ndarray) -> float:
    """The validation score of a run: mean of log10 of its error curve (lower is better; NaN is worst)."""
    curve = np.where(np.isfinite(curve), curve, 1e6)
    return float(np.mean(np.log10(np.maximum(curve, 1e-8))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--length", type=int, default=50)
    parser.add_argument("--steps", type=int, default=1000, help="Adam steps of every run, every model")
    parser.add_argument("--lrs", type=float, nargs="+", default=[1e-3, 3e-3, 1e-2])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--select-seed", type=int, default=100, help="seed of the validation runs")
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--clip", type=float, default=1.0)
    parser.add_argument("--eval-every", type=int, default=50)
    parser.add_argument("--n-test", type=int, default=500)
    parser.add_argument("--out", type=Path, default=ROOT / "chapters" / "rnn" / "data" / "adding_curves.npz")
    args = parser.parse_args()

    settings = {
        "command": shlex.join(["python", "scripts/make_adding_curves.py", *sys.argv[1:]]),
        "length": args.length,
        "steps": args.steps,
        "lr_grid": args.lrs,
        "seeds": args.seeds,
        "select_seed": args.select_seed,
        "hidden_size": args.hidden,
        "batch_size": args.batch_size,
        "clip_norm": args.clip,
        "eval_every": args.eval_every,
        "n_test": args.n_test,
        "optimizer": "Adam",
        "selection": "mean log10 validation error over the run",
        "num_threads": 1,
        "torch": torch.__version__,
        "models": {},
        "seconds": {},
    }
    arrays: dict[str, np.ndarray] = {}
    start_all, cpu_all = time.perf_counter(), time.process_time()
    for name in MODELS:
        scores = {}
        for lr in args.lrs:
            start = time.perf_counter()
            result = run(name, lr, args.select_seed, args)
            scores[lr] = score(result.test_curve)
            settings["seconds"][f"{name}, validation, lr={lr:g}"] = round(time.perf_counter() - start, 1)
            arrays[f"{name}|validation|{lr:g}"] = result.test_curve.astype(np.float32)
            print(f"{name:8s} lr {lr:g}: validation score {scores[lr]:.4f}", flush=True)
        best = min(scores, key=scores.get)
        settings["models"][name] = {"lr": best, "validation_scores": {f"{lr:g}": s for lr, s in scores.items()}}
        for seed in args.seeds:
            start = time.perf_counter()
            result = run(name, best, seed, args)
            settings["seconds"][f"{name}, seed={seed}"] = round(time.perf_counter() - start, 1)
            arrays[f"{name}|{seed}"] = result.test_curve.astype(np.float32)
            arrays["steps"] = result.eval_steps.astype(np.int32)
            print(f"{name:8s} lr {best:g} seed {seed}: final test MSE {result.test_curve[-1]:.4f}", flush=True)
        settings["total_seconds"] = round(time.perf_counter() - start_all, 1)
        settings["total_cpu_seconds"] = round(time.process_time() - cpu_all, 1)  # one thread: the cost on one core
        args.out.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(args.out, settings=json.dumps(settings), **arrays)  # after every model
    print(f"wrote {args.out} in {settings['total_seconds']:.0f} s ({settings['total_cpu_seconds']:.0f} s of CPU time)")


if __name__ == "__main__":
    main()
