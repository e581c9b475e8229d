"""Train the few-shot chapter's embedding networks on the glyph training classes and save them.

Writes chapters/metric/data/fewshot_<method>.pt (the state dict, the loss of every step and the
settings) for the prototypical, triplet (Siamese), Proxy-NCA, Proxy-Anchor and ArcFace networks.
Every method trains the same network from the same initial weights, with the same optimizer,
learning rate, number of steps and batch size (100 images); only the loss and the kind of batch
differ. CPU, one thread: about two minutes per method. Run from the repository root:

    python scripts/make_fewshot_checkpoints.py [method ...]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch

from scratchbook.datasets import make_glyphs
from scratchbook.metric.deep import triplet_loss
from scratchbook.metric.fewshot import (
    GLYPHS,
    N_TRAIN_CLASSES,
    ConvEmbedding,
    episode_batches,
    episodic_prototypical_loss,
    pk_batches,
)
from scratchbook.metric.losses import WithProxies, arcface_loss, proxy_anchor_loss, proxy_nca_loss
from scratchbook.training import fit

OUT = Path(__file__).resolve().parents[1] / "chapters" / "metric" / "data"
SETTINGS = {"steps": 500, "lr": 1e-3, "out_features": 64, "seed": 0}
N_WAY, N_SHOT, N_QUERY = 20, 1, 4  # episodes of 100 images, 1-shot, like the test
P, K = 25, 4  # P×K batches of 100 images

PROXY_LOSSES = {
    "proxy_nca": lambda z, y, p: proxy_nca_loss(z, y, p, scale=8.0),
    "proxy_anchor": lambda z, y, p: proxy_anchor_loss(z, y, p),
    "arcface": lambda z, y, p: arcface_loss(z, y, p, margin=0.3, scale=16.0),
}
METHODS = ("prototypical", "triplet", *PROXY_LOSSES)


def train(method: str, X, y) -> dict:
    torch.manual_seed(SETTINGS["seed"])
    net = ConvEmbedding(out_features=SETTINGS["out_features"])
    common = {"steps": SETTINGS["steps"], "lr": SETTINGS["lr"], "random_state": SETTINGS["seed"], "device": "cpu"}
    if method == "prototypical":
        history = fit(
            net,
            episodic_prototypical_loss(N_WAY * N_SHOT),
            batches=episode_batches(X, y, N_WAY, N_SHOT, N_QUERY),
            desc=method,
            **common,
        )
        model = net
    elif method == "triplet":
        history = fit(
            net,
            lambda m, xb, yb, step: triplet_loss(m(xb), yb, margin=0.2, mining="semi_hard"),
            batches=pk_batches(X, y, P, K),
            desc=method,
            **common,
        )
        model = net
    else:
        model = WithProxies(net, N_TRAIN_CLASSES, SETTINGS["out_features"], random_state=SETTINGS["seed"])
        loss = PROXY_LOSSES[method]
        history = fit(
            model,
            lambda m, xb, yb, step: loss(m(xb), yb, m.proxies),
            batches=pk_batches(X, y, P, K),
            desc=method,
            **common,
        )
    return {"state_dict": net.state_dict(), "history": torch.as_tensor(history), "settings": SETTINGS}


def main(methods: list[str]) -> None:
    glyphs = make_glyphs(**GLYPHS)
    train_rows = glyphs.target < N_TRAIN_CLASSES
    X, y = glyphs.data[train_rows], glyphs.target[train_rows]
    OUT.mkdir(parents=True, exist_ok=True)
    for method in methods:
        start = time.perf_counter()
        result = train(method, X, y)
        torch.save(result, OUT / f"fewshot_{method}.pt")
        h = result["history"]
        print(f"{method}: {time.perf_counter() - start:.0f} s, loss {h[:20].mean():.3f} → {h[-20:].mean():.3f}")


if __name__ == "__main__":
    torch.set_num_threads(1)
    main(sys.argv[1:] or list(METHODS))
