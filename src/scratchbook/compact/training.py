"""A small classifier, and one training loop for it with or without adapters (chapter 4.6)."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from scratchbook._validation import check_int, check_real
from scratchbook.compact.lora import DyLoRALinear, set_train_rank
from scratchbook.utils import get_device, torch_threads

__all__ = ["make_mlp", "train_classifier", "accuracy"]


def make_mlp(sizes: Sequence[int], random_state: int = 0) -> nn.Sequential:
    """A ReLU perceptron with layer widths ``sizes`` (input first, classes last), seeded by ``random_state``."""
    sizes = [check_int("sizes", s, low=1) for s in sizes]
    if len(sizes) < 2:
        raise ValueError(f"sizes must list at least an input and an output width, got {sizes}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(random_state)
        layers: list[nn.Module] = []
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(nn.Linear(n_in, n_out))
            if i < len(sizes) - 2:
                layers.append(nn.ReLU())
        return nn.Sequential(*layers)


def train_classifier(model: nn.Module, X: np.ndarray, y: np.ndarray, steps: int = 300, batch_size: int = 64,
                     lr: float = 1e-2, random_state: int = 0, progress: bool = True,
                     num_threads: int | None = 1) -> np.ndarray:
    """Train the trainable parameters of ``model`` with Adam on the cross-entropy; return every step's loss.

    Mini-batches are drawn with ``random_state``. When the model holds DyLoRA layers, each step draws
    one rank b ∈ {1, …, r} for all of them (from the same seed). The model moves to
    :func:`scratchbook.utils.get_device`; ``progress`` shows a tqdm bar. Small networks train fastest
    on the CPU with ``num_threads=1``; the previous setting is restored.
    """
    steps = check_int("steps", steps, low=1)
    batch_size = check_int("batch_size", batch_size, low=1)
    lr = check_real("lr", lr, low=0.0, strict_low=True)
    X, y = np.asarray(X, dtype=np.float32), np.asarray(y)
    if X.ndim != 2 or len(X) != len(y):
        raise ValueError(f"X must be 2-D with one row per label in y, got X {X.shape} and y {y.shape}")
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("model has no trainable parameter")
    device = get_device()
    model.to(device).train()
    Xt = torch.as_tensor(X, device=device)
    yt = torch.as_tensor(y, dtype=torch.long, device=device)
    ranks = [m.r for m in model.modules() if isinstance(m, DyLoRALinear)]
    rng = np.random.default_rng(random_state)
    optimizer = torch.optim.Adam(params, lr=lr)
    history = []
    try:
        with torch_threads(num_threads):
            for _ in tqdm(range(steps), disable=not progress, desc="training"):
                idx = torch.as_tensor(rng.choice(len(X), size=min(batch_size, len(X)), replace=False), device=device)
                if ranks:
                    set_train_rank(model, int(rng.integers(1, min(ranks) + 1)))
                loss = nn.functional.cross_entropy(model(Xt[idx]), yt[idx])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                history.append(loss.item())
    finally:
        if ranks:
            set_train_rank(model, None)
        model.eval()
    return np.array(history)


def accuracy(model: nn.Module, X: np.ndarray, y: np.ndarray) -> float:
    """The fraction of rows of X that ``model`` (in eval mode) classifies as ``y``."""
    param = next(model.parameters())
    model.eval()
    with torch.no_grad():
        logits = model(torch.as_tensor(np.asarray(X), dtype=param.dtype, device=param.device))
    return float((logits.argmax(dim=1).cpu().numpy() == np.asarray(y)).mean())
