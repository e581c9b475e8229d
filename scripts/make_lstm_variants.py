"""Train every LSTM variant of chapter 4 on the short adding problem from several seeds; save the errors.

    python scripts/make_lstm_variants.py [--seeds 0 1 2] [--out chapters/rnn/data/lstm_variants.npz]

For each seed, every variant starts from the same initial weights where the variants share them
(``torch.manual_seed(seed)`` before building each) and trains with ``train_adding`` on sequences of
``--length`` steps: the same Adam steps, learning rate, batch and hidden size for all. The file holds
each run's training losses and test error and every setting needed to make them again; the LSTM
chapter loads it. One CPU thread; the defaults take two or three minutes.
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

from scratchbook.rnn import LSTM, LSTM_VARIANTS, train_adding

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--length", type=int, default=10)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--hidden", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.02)
    parser.add_argument("--out", type=Path, default=ROOT / "chapters" / "rnn" / "data" / "lstm_variants.npz")
    args = parser.parse_args()

    start, cpu = time.perf_counter(), time.process_time()
    arrays = {}
    for seed in args.seeds:
        for variant in LSTM_VARIANTS:
            torch.manual_seed(seed)  # the same initial weights for every variant
            model = LSTM(2, args.hidden, variant=variant)
            result = train_adding(
                model,
                args.length,
                steps=args.steps,
                batch_size=args.batch_size,
                lr=args.lr,
                random_state=seed,
                device="cpu",  # the stored runs were made on the CPU
            )
            arrays[f"{variant}|{seed}|history"] = result.history.astype(np.float32)
            arrays[f"{variant}|{seed}|test_mse"] = np.float64(result.test_mse)
            print(f"seed {seed} {variant:22s} test MSE {result.test_mse:.4f}", flush=True)
    settings = {
        "command": shlex.join(["python", "scripts/make_lstm_variants.py", *sys.argv[1:]]),
        "seeds": args.seeds,
        "length": args.length,
        "steps": args.steps,
        "hidden_size": args.hidden,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "variants": list(LSTM_VARIANTS),
        "torch": torch.__version__,
        "seconds": round(time.perf_counter() - start, 1),
        "cpu_seconds": round(time.process_time() - cpu, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, settings=json.dumps(settings), **arrays)
    print(f"wrote {args.out} in {settings['seconds']:.0f} s ({settings['cpu_seconds']:.0f} s of CPU time)")


if __name__ == "__main__":
    main()
