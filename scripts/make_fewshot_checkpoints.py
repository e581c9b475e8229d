"""Train the few-shot chapter's embedding networks on the glyph training classes and save them.

Writes chapters/metric/data/fewshot_<method>.pt (the state dict, the loss of every step and the
settings) for each method of ``scratchbook.metric.fewshot.METHODS``, trained by
``scratchbook.metric.fewshot.train_fewshot`` under its one protocol (``TRAINING``). CPU, one thread:
a few minutes per method. Run from the repository root:

    python scripts/make_fewshot_checkpoints.py [method ...]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch

from scratchbook.datasets import make_glyphs
from scratchbook.metric.fewshot import GLYPHS, METHODS, N_TRAIN_CLASSES, TRAINING, train_fewshot

OUT = Path(__file__).resolve().parents[1] / "chapters" / "metric" / "data"


def main(methods: list[str]) -> None:
    glyphs = make_glyphs(**GLYPHS)
    train_rows = glyphs.target < N_TRAIN_CLASSES
    X, y = glyphs.data[train_rows], glyphs.target[train_rows]
    OUT.mkdir(parents=True, exist_ok=True)
    for method in methods:
        start = time.perf_counter()
        net, history = train_fewshot(method, X, y, progress=True, device="cpu")
        state = {k: v.clone() for k, v in net.state_dict().items()}
        torch.save(
            {"state_dict": state, "history": torch.as_tensor(history), "training": TRAINING},
            OUT / f"fewshot_{method}.pt",
        )
        took = time.perf_counter() - start
        print(f"{method}: {took:.0f} s, loss {history[:20].mean():.3f} → {history[-20:].mean():.3f}")


if __name__ == "__main__":
    torch.set_num_threads(1)
    main(sys.argv[1:] or list(METHODS))
