"""The one training loop of the package's torch models.

Every trainer of the book is this loop with its own loss: cross-entropy, distillation from a teacher,
a triplet loss on P×K batches, the adding problem's squared error. What a method adds is a loss
closure, a source of batches, or a ``callback`` run after each step; the loop itself knows nothing of
any one method.

Every trainer of the package (each public ``train_*`` function) keeps two rules.

Device
    It takes ``device=None`` and passes it to :func:`fit`: ``None`` means
    :func:`scratchbook.utils.get_device` (CUDA when available, else the CPU), the model is moved
    there, and whatever the trainer builds itself (a readout, a probe, the network) is built on, or
    moved to, that device. :func:`resolve_device` is this rule, for the trainers that need the device before
    :func:`fit` runs.
Return
    A trainer given a model trains it in place and returns the loss of every step, the NumPy array
    :func:`fit` returns. A trainer that builds its own network returns ``(network, history)``. A
    trainer that also measures something no later call could (a test error drawn from the training
    stream, a learning curve recorded during training) returns a small frozen dataclass instead,
    whose ``history`` field is that array and whose other fields are documented in its module
    (:class:`scratchbook.rnn.training.AddingResult`, :class:`scratchbook.rnn.training.TaggingResult`).
    A function that trains several networks at once returns a dict of what each trainer returns.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from scratchbook._validation import check_int, check_option, check_real
from scratchbook.utils import get_device, torch_threads

__all__ = ["fit", "resolve_device", "LossFn", "Batches"]

LossFn = Callable[[nn.Module, torch.Tensor, torch.Tensor, int], torch.Tensor]
"""``loss_fn(model, xb, yb, step)``: the loss of one mini-batch, a scalar tensor."""
Batches = Callable[[int, np.random.Generator], tuple]
"""``batches(step, rng)``: one mini-batch ``(xb, yb)`` drawn with ``rng`` (arrays or tensors)."""


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """The device a trainer runs on: ``device``, or :func:`scratchbook.utils.get_device` for ``None``."""
    return torch.device(device) if device is not None else get_device()


def _as_tensor(name: str, a, device, dtype: torch.dtype) -> torch.Tensor:
    """Integer labels as int64, every other number as ``dtype``, on ``device``; NaN/inf rejected."""
    if isinstance(a, torch.Tensor):
        a = a.detach()
        if a.is_floating_point() and not torch.isfinite(a).all():
            raise ValueError(f"{name} contains NaN or infinite values")
        return a.to(device=device, dtype=dtype if a.is_floating_point() else torch.int64)
    a = np.asarray(a)
    if a.ndim == 0:
        raise ValueError(f"{name} must have one row per sample, got a scalar")
    if np.issubdtype(a.dtype, np.integer) or a.dtype == bool:
        return torch.as_tensor(a.astype(np.int64), device=device)
    if not np.issubdtype(a.dtype, np.floating):
        raise TypeError(f"{name} must hold numbers, got dtype {a.dtype}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return torch.as_tensor(a, dtype=dtype, device=device)


def _check_callable(name: str, value, optional: bool = True) -> None:
    if (value is not None or not optional) and not callable(value):
        raise TypeError(f"{name} must be callable{' or None' if optional else ''}, got {type(value).__name__}")


def fit(
    model: nn.Module,
    loss_fn: LossFn,
    X=None,
    y=None,
    *,
    batches: Batches | None = None,
    steps: int = 300,
    batch_size: int = 64,
    optimizer: str = "adam",
    lr: float = 1e-2,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
    clip_norm: float | None = None,
    params: Iterable[nn.Parameter] | None = None,
    random_state: int | np.random.Generator = 0,
    progress: bool = True,
    num_threads: int | None = 1,
    callback: Callable[[int, nn.Module], None] | None = None,
    lr_schedule: Callable[[int], float] | None = None,
    device: str | torch.device | None = None,
    desc: str = "training",
) -> np.ndarray:
    """Minimize ``loss_fn(model, xb, yb, step)`` for ``steps`` mini-batches; return every step's loss.

    The mini-batches are ``batch_size`` rows of ``X`` and ``y`` drawn without replacement (arrays with
    one row per sample, any trailing shape), or, instead of ``X`` and ``y``, whatever
    ``batches(step, rng)`` returns (fresh sequences of a synthetic task, P×K batches). Integer data
    become int64 tensors, other numbers the dtype of the model's parameters. Each step takes one
    ``optimizer`` step ("adam", or "sgd" with ``momentum``) on ``params`` (default: the model's
    parameters that require a gradient) after clipping their gradient norm at ``clip_norm``; a loss
    with no gradient (every term of a hinge at zero) is recorded and the step skipped. Then
    ``callback(step, model)``. ``lr_schedule(step)`` sets each step's learning rate.

    ``random_state`` (an int, or a NumPy ``Generator`` then shared with the caller) draws the batches.
    The model moves to ``device`` (default :func:`scratchbook.utils.get_device`), trains in
    ``train()`` mode and is left in ``eval()`` mode. ``progress`` shows a tqdm bar labelled ``desc``;
    small networks train fastest with ``num_threads=1`` (``None`` leaves torch's setting alone).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    _check_callable("loss_fn", loss_fn, optional=False)
    for name, value in (("batches", batches), ("callback", callback), ("lr_schedule", lr_schedule)):
        _check_callable(name, value)
    if (batches is None) == (X is None):
        raise ValueError("pass either X and y, or batches, but not both")
    steps = check_int("steps", steps, low=1)
    batch_size = check_int("batch_size", batch_size, low=1)
    optimizer = check_option("optimizer", optimizer, ("adam", "sgd"))
    lr = check_real("lr", lr, low=0.0, strict_low=True)
    momentum = check_real("momentum", momentum, low=0.0, high=1.0)
    weight_decay = check_real("weight_decay", weight_decay, low=0.0)
    if clip_norm is not None:
        clip_norm = check_real("clip_norm", clip_norm, low=0.0, strict_low=True)
    device = resolve_device(device)
    model.to(device)
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
    if batches is None:
        Xt, yt = _as_tensor("X", X, device, dtype), _as_tensor("y", y, device, dtype)
        if len(Xt) != len(yt):
            raise ValueError(f"X and y must have one row per sample each, got {len(Xt)} and {len(yt)} rows")
    params = [p for p in (model.parameters() if params is None else params) if p.requires_grad]
    if not params:
        raise ValueError("model has no trainable parameter")
    if isinstance(random_state, np.random.Generator):
        rng = random_state
    else:
        rng = np.random.default_rng(check_int("random_state", random_state, low=0))
    if optimizer == "adam":
        opt = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    else:
        opt = torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)

    def draw(step: int) -> tuple[torch.Tensor, torch.Tensor]:
        if batches is not None:
            xb, yb = batches(step, rng)
            return _as_tensor("the batch's x", xb, device, dtype), _as_tensor("the batch's y", yb, device, dtype)
        idx = torch.as_tensor(rng.choice(len(Xt), size=min(batch_size, len(Xt)), replace=False), device=device)
        return Xt[idx], yt[idx]

    model.train()
    try:
        with torch_threads(num_threads):
            return _train_steps(
                model, loss_fn, draw, opt, params, steps, clip_norm, lr_schedule, callback, progress, desc
            )
    finally:
        model.eval()


def _train_steps(model, loss_fn, draw, opt, params, steps, clip_norm, lr_schedule, callback, progress, desc):
    """The loop itself, once :func:`fit` has checked its arguments: batch, loss, gradient step, callback."""
    history = np.empty(steps)
    for step in tqdm(range(steps), disable=not progress, desc=desc):
        if lr_schedule is not None:
            for group in opt.param_groups:
                group["lr"] = check_real("lr_schedule(step)", lr_schedule(step), low=0.0)
        loss = loss_fn(model, *draw(step), step)
        if loss.requires_grad:  # a loss with no gradient (a hinge at zero everywhere) is recorded, not stepped
            opt.zero_grad()
            loss.backward()
            if clip_norm is not None:
                nn.utils.clip_grad_norm_(params, clip_norm)
            opt.step()
        history[step] = loss.item()
        if callback is not None:
            callback(step, model)
    return history
