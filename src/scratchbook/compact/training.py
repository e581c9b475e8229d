"""A small classifier for every chapter of Part IV, and its training on labels.

The loop is the package's one, :func:`scratchbook.training.fit`: mini-batches, an optimizer, a
progress bar, the device. What differs between the methods of this part — cross-entropy, distillation
from a teacher, auxiliary samples, selected augmentations, averaging the weights — is the loss a
chapter passes to it, or a ``callback`` run after each step.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from scratchbook._validation import check_int
from scratchbook.training import LossFn, fit
from scratchbook.utils import torch_threads

__all__ = ["make_mlp", "fit", "LossFn", "train_classifier", "accuracy", "predict"]


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


def train_classifier(
    model: nn.Module,
    X: np.ndarray,
    y: np.ndarray,
    steps: int = 300,
    batch_size: int = 64,
    lr: float = 1e-2,
    random_state: int = 0,
    progress: bool = True,
    num_threads: int | None = 1,
    device: str | torch.device | None = None,
) -> np.ndarray:
    """Train ``model`` with Adam on the cross-entropy with integer labels ``y``: :func:`fit` with that loss.

    The model moves to ``device`` (default :func:`scratchbook.utils.get_device`); returns the loss of every step.
    """
    if not np.issubdtype(np.asarray(y).dtype, np.integer):
        raise TypeError(f"y must hold integer class labels, got dtype {np.asarray(y).dtype}")

    def cross_entropy(m: nn.Module, xb: torch.Tensor, yb: torch.Tensor, step: int) -> torch.Tensor:
        return nn.functional.cross_entropy(m(xb), yb)

    return fit(
        model,
        cross_entropy,
        X,
        y,
        steps=steps,
        batch_size=batch_size,
        lr=lr,
        random_state=random_state,
        progress=progress,
        num_threads=num_threads,
        device=device,
    )


def predict(model: nn.Module, X, batch_size: int = 4096, num_threads: int | None = 1) -> np.ndarray:
    """The outputs (logits) of ``model`` in eval mode on the rows of ``X``, as a float NumPy array."""
    param = next(model.parameters())
    model.eval()
    X = np.asarray(X)
    with torch.no_grad(), torch_threads(num_threads):
        out = [
            model(torch.as_tensor(X[i : i + batch_size], dtype=param.dtype, device=param.device)).cpu()
            for i in range(0, len(X), batch_size)
        ]
    return torch.cat(out).numpy()


def accuracy(model: nn.Module, X: np.ndarray, y: np.ndarray) -> float:
    """The fraction of rows of X that ``model`` (in eval mode) classifies as ``y``."""
    return float((predict(model, X).argmax(axis=1) == np.asarray(y)).mean())
