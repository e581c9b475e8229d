"""Few-shot learning on glyph classes never seen in training: the network, the batches, the protocol.

One protocol for every method of the few-shot chapter: :data:`GLYPHS` draws the data set, the first
:data:`N_TRAIN_CLASSES` classes train, the rest are unseen and only evaluated. Every method trains
the same :class:`ConvEmbedding` with :func:`scratchbook.training.fit`; they differ in the batches
they see (episodes, or P×K batches) and the loss.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from scratchbook._validation import check_int, check_option
from scratchbook.metric.deep import episode_accuracy, pk_batch, prototypical_loss, sample_episode, triplet_loss
from scratchbook.metric.losses import WithProxies, arcface_loss, proxy_anchor_loss, proxy_nca_loss
from scratchbook.training import fit

__all__ = [
    "GLYPHS",
    "N_TRAIN_CLASSES",
    "ConvEmbedding",
    "episode_batches",
    "episodic_prototypical_loss",
    "pk_batches",
    "episode_accuracy",  # defined in scratchbook.metric.deep, with the prototypes it classifies by
    "METHODS",
    "TRAINING",
    "train_fewshot",
]

GLYPHS = {"n_classes": 200, "n_per_class": 20, "size": 28, "jitter": 1.5, "noise": 0.1, "random_state": 0}
"""Arguments of :func:`scratchbook.datasets.make_glyphs` for the few-shot chapter."""
N_TRAIN_CLASSES = 150
"""Classes 0 … 149 train; classes 150 … 199 are the unseen ones."""


class ConvEmbedding(nn.Module):
    """Three blocks of 3×3 convolution, batch norm, ReLU and 2×2 max-pooling, then a linear map to
    ``out_features``: the small "Conv-4"-style network of few-shot learning, one block shorter."""

    def __init__(self, size: int = 28, channels: int = 32, out_features: int = 64) -> None:
        super().__init__()
        self.size = check_int("size", size, low=8)
        channels = check_int("channels", channels, low=1)

        def block(c_in: int) -> nn.Sequential:
            return nn.Sequential(
                nn.Conv2d(c_in, channels, 3, padding=1), nn.BatchNorm2d(channels), nn.ReLU(), nn.MaxPool2d(2)
            )

        self.features = nn.Sequential(block(1), block(channels), block(channels))
        side = self.size // 2 // 2 // 2
        self.out = nn.Linear(channels * side * side, check_int("out_features", out_features, low=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Embed a batch of images, flat (n×size²) or not (n×size×size), into n×out_features."""
        return self.out(self.features(x.reshape(-1, 1, self.size, self.size)).flatten(1))


def episode_batches(X: np.ndarray, y: np.ndarray, n_way: int, n_shot: int, n_query: int) -> Callable:
    """A ``batches`` source for :func:`scratchbook.training.fit`: each call draws one episode of
    (X, y), its ``n_way·n_shot`` support rows first, then its ``n_way·n_query`` queries."""
    X, y = np.asarray(X, dtype=np.float32), np.asarray(y)
    check_int("n_way", n_way, low=2, high=len(np.unique(y)))

    def batches(step: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        support, query = sample_episode(y, n_way, n_shot, n_query, rng)
        idx = np.concatenate([support, query])
        return X[idx], y[idx]

    return batches


def episodic_prototypical_loss(n_support: int) -> Callable:
    """The loss of one episode from :func:`episode_batches`: the first ``n_support`` rows are the
    support set, the others the queries (Eq. deep-proto-p of the deep chapter)."""
    n_support = check_int("n_support", n_support, low=1)

    def loss_fn(model: nn.Module, xb: torch.Tensor, yb: torch.Tensor, step: int) -> torch.Tensor:
        z = model(xb)
        return prototypical_loss(z[:n_support], yb[:n_support], z[n_support:], yb[n_support:])[0]

    return loss_fn


def pk_batches(X: np.ndarray, y: np.ndarray, n_classes: int, n_per_class: int) -> Callable:
    """A ``batches`` source for :func:`scratchbook.training.fit`: P×K batches of ``n_classes`` random
    classes with ``n_per_class`` random samples each (the batches of pair, triplet and proxy losses)."""
    X, y = np.asarray(X, dtype=np.float32), np.asarray(y)
    check_int("n_classes", n_classes, low=2, high=len(np.unique(y)))

    def batches(step: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        idx = pk_batch(y, n_classes, n_per_class, rng)
        return X[idx], y[idx]

    return batches


TRAINING = {
    "steps": 500,
    "lr": 1e-3,
    "channels": 16,
    "out_features": 64,
    "seed": 0,
    "episode": {"n_way": 20, "n_shot": 1, "n_query": 4},
    "pk": {"n_classes": 25, "n_per_class": 4},
    "triplet": {"margin": 0.2, "mining": "semi_hard"},
    "proxy_nca": {"scale": 8.0},
    "proxy_anchor": {"margin": 0.1, "alpha": 32.0},
    "arcface": {"margin": 0.3, "scale": 16.0},
}
"""The one training protocol of the chapter: every method trains the same :class:`ConvEmbedding`
from the same initial weights with Adam at the same learning rate, for the same number of steps on
batches of the same size (100 images: 20-way 1-shot episodes with 4 queries, or 25 classes × 4)."""
METHODS = ("prototypical", "triplet", "proxy_nca", "proxy_anchor", "arcface")
_PROXY_LOSSES = {"proxy_nca": proxy_nca_loss, "proxy_anchor": proxy_anchor_loss, "arcface": arcface_loss}


def train_fewshot(
    method: str,
    X: np.ndarray,
    y: np.ndarray,
    steps: int | None = None,
    progress: bool = False,
    device: str | torch.device | None = None,
) -> tuple[ConvEmbedding, np.ndarray]:
    """Train a :class:`ConvEmbedding` on (X, y) with one of :data:`METHODS` under :data:`TRAINING`.

    ``steps`` (default ``TRAINING["steps"]``) shortens the run, for a look at its first steps.
    Labels must be 0 … C−1 (the proxy methods learn one proxy per class). Returns the network
    (without the proxies, which only training needs) and the loss of every step.
    """
    check_option("method", method, METHODS)
    t = TRAINING
    X, y = np.asarray(X, dtype=np.float32), np.asarray(y)
    torch.manual_seed(t["seed"])
    net = ConvEmbedding(channels=t["channels"], out_features=t["out_features"])
    common = {
        "steps": t["steps"] if steps is None else steps,
        "lr": t["lr"],
        "random_state": t["seed"],
        "device": device,
        "progress": progress,
        "desc": method,
    }
    if method == "prototypical":
        e = t["episode"]
        loss_fn = episodic_prototypical_loss(e["n_way"] * e["n_shot"])
        history = fit(net, loss_fn, batches=episode_batches(X, y, **e), **common)
    elif method == "triplet":

        def loss_fn(m: nn.Module, xb: torch.Tensor, yb: torch.Tensor, step: int) -> torch.Tensor:
            return triplet_loss(m(xb), yb, **t["triplet"])

        history = fit(net, loss_fn, batches=pk_batches(X, y, **t["pk"]), **common)
    else:
        model = WithProxies(net, int(y.max()) + 1, t["out_features"], random_state=t["seed"])
        loss, kwargs = _PROXY_LOSSES[method], t[method]

        def loss_fn(m: nn.Module, xb: torch.Tensor, yb: torch.Tensor, step: int) -> torch.Tensor:
            return loss(m(xb), yb, m.proxies, **kwargs)

        history = fit(model, loss_fn, batches=pk_batches(X, y, **t["pk"]), **common)
    return net, history
