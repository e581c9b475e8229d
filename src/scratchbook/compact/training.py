"""A small classifier and one training loop for every chapter of Part IV.

:func:`fit` is the loop: mini-batches, an optimizer, a progress bar, the device. What differs between
the methods of this part — cross-entropy, distillation from a teacher, auxiliary samples, selected
augmentations, averaging the weights — is the loss a chapter passes to it, or a ``callback`` run after
each step.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from scratchbook._validation import check_int, check_option, check_real
from scratchbook.compact.lora import DyLoRALinear, set_train_rank
from scratchbook.utils import get_device, torch_threads

__all__ = ["make_mlp", "fit", "train_classifier", "accuracy", "predict"]

LossFn = Callable[[nn.Module, torch.Tensor, torch.Tensor, int], torch.Tensor]


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


def _as_tensor(name: str, a, device) -> torch.Tensor:
    """Integer labels as int64, every other number as float32, on ``device``; NaN/inf rejected."""
    a = np.asarray(a)
    if a.ndim == 0:
        raise ValueError(f"{name} must have one row per sample, got a scalar")
    if np.issubdtype(a.dtype, np.integer) or a.dtype == bool:
        return torch.as_tensor(a.astype(np.int64), device=device)
    if not np.issubdtype(a.dtype, np.floating):
        raise TypeError(f"{name} must hold numbers, got dtype {a.dtype}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return torch.as_tensor(a, dtype=torch.float32, device=device)


def fit(
    model: nn.Module,
    loss_fn: LossFn,
    X,
    y,
    steps: int = 300,
    batch_size: int = 64,
    optimizer: str = "adam",
    lr: float = 1e-2,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
    random_state: int | np.random.Generator = 0,
    progress: bool = True,
    num_threads: int | None = 1,
    callback: Callable[[int, nn.Module], None] | None = None,
    lr_schedule: Callable[[int], float] | None = None,
) -> np.ndarray:
    """Minimize ``loss_fn(model, xb, yb, step)`` over random mini-batches; return every step's loss.

    ``X`` and ``y`` are arrays with one row per sample (any trailing shape); integer ``y`` becomes
    int64, floats become float32. Each step draws ``batch_size`` rows without replacement with
    ``random_state`` (an int or a NumPy ``Generator``, which is then shared with the caller), calls the
    loss, takes one ``optimizer`` step ("adam" or "sgd" with ``momentum``) on the parameters that
    require a gradient, then ``callback(step, model)``. ``lr_schedule(step)``, when given, sets the
    learning rate of each step (``lr`` is then only the rate the optimizer is built with). The model moves to
    :func:`scratchbook.utils.get_device`, trains in ``train()`` mode and is left in ``eval()`` mode.
    ``progress`` shows a tqdm bar; small networks train fastest with ``num_threads=1``.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable, got {type(loss_fn).__name__}")
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable or None, got {type(callback).__name__}")
    if lr_schedule is not None and not callable(lr_schedule):
        raise TypeError(f"lr_schedule must be callable or None, got {type(lr_schedule).__name__}")
    steps = check_int("steps", steps, low=1)
    batch_size = check_int("batch_size", batch_size, low=1)
    optimizer = check_option("optimizer", optimizer, ("adam", "sgd"))
    lr = check_real("lr", lr, low=0.0, strict_low=True)
    momentum = check_real("momentum", momentum, low=0.0, high=1.0)
    weight_decay = check_real("weight_decay", weight_decay, low=0.0)
    device = get_device()
    Xt, yt = _as_tensor("X", X, device), _as_tensor("y", y, device)
    if len(Xt) != len(yt):
        raise ValueError(f"X and y must have one row per sample each, got {len(Xt)} and {len(yt)} rows")
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("model has no trainable parameter")
    rng = (
        random_state
        if isinstance(random_state, np.random.Generator)
        else np.random.default_rng(check_int("random_state", random_state, low=0))
    )
    model.to(device).train()
    if optimizer == "adam":
        opt = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    else:
        opt = torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    history = np.empty(steps)
    try:
        with torch_threads(num_threads):
            for step in tqdm(range(steps), disable=not progress, desc="training"):
                if lr_schedule is not None:
                    for group in opt.param_groups:
                        group["lr"] = check_real("lr_schedule(step)", lr_schedule(step), low=0.0)
                idx = torch.as_tensor(rng.choice(len(Xt), size=min(batch_size, len(Xt)), replace=False), device=device)
                loss = loss_fn(model, Xt[idx], yt[idx], step)
                opt.zero_grad()
                loss.backward()
                opt.step()
                history[step] = loss.item()
                if callback is not None:
                    callback(step, model)
    finally:
        model.eval()
    return history


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
) -> np.ndarray:
    """Train ``model`` with Adam on the cross-entropy with integer labels ``y`` (via :func:`fit`).

    When the model holds DyLoRA layers, each step also draws one rank b ∈ {1, …, r} for all of them,
    from the same random generator as the mini-batches.
    """
    if not np.issubdtype(np.asarray(y).dtype, np.integer):
        raise TypeError(f"y must hold integer class labels, got dtype {np.asarray(y).dtype}")
    ranks = [m.r for m in model.modules() if isinstance(m, DyLoRALinear)]
    rng = np.random.default_rng(check_int("random_state", random_state, low=0))

    def loss_fn(m: nn.Module, xb: torch.Tensor, yb: torch.Tensor, step: int) -> torch.Tensor:
        if ranks:
            set_train_rank(m, int(rng.integers(1, min(ranks) + 1)))
        return nn.functional.cross_entropy(m(xb), yb)

    try:
        return fit(
            model,
            loss_fn,
            X,
            y,
            steps=steps,
            batch_size=batch_size,
            lr=lr,
            random_state=rng,
            progress=progress,
            num_threads=num_threads,
        )
    finally:
        if ranks:
            set_train_rank(model, None)


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
