"""Stochastic weight averaging (SWA) for fine-tuning, and a probe of the flatness of a solution.

The averaging itself is :class:`torch.optim.swa_utils.AveragedModel`; :func:`running_average` is the
same update written by hand (Eq. ``swa-running`` of chapter 4.5), and :func:`swa_callback` plugs the
averaging into :func:`scratchbook.compact.training.fit`. :func:`random_direction` and
:func:`loss_along` draw the loss along random, filter-normalized directions around a solution
(Li et al., 2018).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn
from torch.func import functional_call
from torch.optim.swa_utils import AveragedModel

from scratchbook._validation import check_int, check_real
from scratchbook.compact.training import fit
from scratchbook.utils import torch_threads

__all__ = ["running_average", "swa_callback", "fine_tune", "random_direction", "loss_along"]


def running_average(average: nn.Module, model: nn.Module, n_averaged: int) -> nn.Module:
    """Fold ``model``'s parameters into ``average``, the mean of ``n_averaged`` earlier ones, in place.

    Implements Eq. ``swa-running`` of chapter 4.5: w̄ ← w̄ + (w − w̄) / (n + 1). With ``n_averaged = 0``
    the average becomes a copy of ``model``. Returns ``average``.
    """
    n_averaged = check_int("n_averaged", n_averaged, low=0)
    pairs = list(zip(average.parameters(), model.parameters(), strict=True))
    with torch.no_grad():
        for w_bar, w in pairs:
            if w_bar.shape != w.shape:
                raise ValueError(
                    f"average and model must have the same shapes, got {tuple(w_bar.shape)} and {tuple(w.shape)}"
                )
            w_bar.add_((w.detach().to(w_bar) - w_bar) / (n_averaged + 1))
    return average


def swa_callback(averaged: AveragedModel, start: int = 0, every: int = 1) -> Callable[[int, nn.Module], None]:
    """A ``callback`` for :func:`~scratchbook.compact.training.fit` that averages the weights.

    After the optimizer steps ``start``, ``start + every``, ``start + 2·every``, … it calls
    ``averaged.update_parameters(model)``, which applies Eq. ``swa-running``.

    If ``start`` is at or beyond the number of steps that ``fit`` runs, the callback never fires:
    ``averaged.n_averaged`` stays 0 and ``averaged.module`` silently keeps the weights it was built
    from. Check ``averaged.n_averaged > 0`` after training.
    """
    if not isinstance(averaged, AveragedModel):
        raise TypeError(f"averaged must be a torch.optim.swa_utils.AveragedModel, got {type(averaged).__name__}")
    start = check_int("start", start, low=0)
    every = check_int("every", every, low=1)

    def callback(step: int, model: nn.Module) -> None:
        if step >= start and (step - start) % every == 0:
            averaged.update_parameters(model)

    return callback


def fine_tune(
    pretrained: nn.Module,
    X,
    y,
    lr: float,
    random_state: int = 0,
    steps: int = 400,
    batch_size: int = 8,
    momentum: float = 0.9,
    decay: bool = False,
    swa_start: int | None = None,
    snapshots: list | None = None,
) -> tuple[nn.Module, nn.Module | None]:
    """Fine-tune a copy of ``pretrained`` on (X, y) with SGD on the cross-entropy, as in chapter 4.5.

    The rate is ``lr`` throughout, or falls linearly to zero with ``decay``. With ``swa_start`` the
    weights after steps ``swa_start``, ``swa_start + 1``, … are averaged by ``AveragedModel``; with a
    list ``snapshots`` the weights after every step are appended to it (as vectors, on the CPU).
    Returns the fine-tuned model and the averaged one (None without ``swa_start``).
    """
    if not isinstance(pretrained, nn.Module):
        raise TypeError(f"pretrained must be a torch.nn.Module, got {type(pretrained).__name__}")
    lr = check_real("lr", lr, low=0.0, strict_low=True)
    steps = check_int("steps", steps, low=1)
    if swa_start is not None:
        swa_start = check_int("swa_start", swa_start, low=0, high=steps - 1)
    model = copy.deepcopy(pretrained)
    averaged = AveragedModel(model) if swa_start is not None else None
    average = swa_callback(averaged, start=swa_start) if averaged is not None else None

    def callback(step: int, m: nn.Module) -> None:
        if average is not None:
            average(step, m)
        if snapshots is not None:
            snapshots.append(nn.utils.parameters_to_vector(m.parameters()).detach().cpu().clone())

    def cross_entropy(m: nn.Module, xb: torch.Tensor, yb: torch.Tensor, step: int) -> torch.Tensor:
        return nn.functional.cross_entropy(m(xb), yb)

    fit(
        model,
        cross_entropy,
        X,
        y,
        steps=steps,
        batch_size=batch_size,
        optimizer="sgd",
        lr=lr,
        momentum=momentum,
        random_state=random_state,
        lr_schedule=(lambda t: lr * (1 - t / steps)) if decay else None,
        callback=callback,
        progress=False,
    )
    return model, (averaged.module if averaged is not None else None)


def random_direction(model: nn.Module, random_state: int = 0, filter_normalize: bool = True) -> dict[str, torch.Tensor]:
    """A Gaussian direction in weight space, one tensor per parameter of ``model`` (by name).

    With ``filter_normalize`` (Eq. ``swa-filter``, Li et al. 2018) each row of a weight matrix — the
    weights into one unit, a "filter" — is rescaled to the norm of the same row of ``model``, and the
    direction of every bias is zero; otherwise the entries are plain standard normal.
    """
    random_state = check_int("random_state", random_state, low=0)
    gen = torch.Generator().manual_seed(random_state)
    direction = {}
    for name, p in model.named_parameters():
        d = torch.randn(p.shape, generator=gen, dtype=torch.float64)
        if filter_normalize:
            if p.dim() <= 1:
                d = torch.zeros_like(d)
            else:
                w = p.detach().double().cpu().reshape(p.shape[0], -1)
                rows = d.reshape(p.shape[0], -1)
                d = (rows * (w.norm(dim=1, keepdim=True) / rows.norm(dim=1, keepdim=True))).reshape(p.shape)
        direction[name] = d.to(dtype=p.dtype, device=p.device)
    return direction


def _check_slice_args(model, direction, alphas, X, y):
    """The checks of :func:`loss_along`; returns the parameters, α as an array and X, y as tensors."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    params = dict(model.named_parameters())
    if not isinstance(direction, dict) or set(direction) != set(params):
        raise ValueError(f"direction must map each parameter name of model to a tensor: {sorted(params)}")
    for name, p in params.items():
        if tuple(direction[name].shape) != tuple(p.shape):
            raise ValueError(
                f"direction[{name!r}] must have shape {tuple(p.shape)}, got {tuple(direction[name].shape)}"
            )
    alphas = np.asarray(alphas, dtype=float)
    if alphas.ndim != 1 or not np.all(np.isfinite(alphas)):
        raise ValueError("alphas must be a 1-D sequence of finite numbers")
    param = next(iter(params.values()))
    Xt = torch.as_tensor(np.asarray(X), dtype=param.dtype, device=param.device)
    yt = torch.as_tensor(np.asarray(y), dtype=torch.int64, device=param.device)
    if len(Xt) != len(yt):
        raise ValueError(f"X and y must have one row per sample each, got {len(Xt)} and {len(yt)} rows")
    return params, alphas, Xt, yt


def loss_along(
    model: nn.Module, direction: dict[str, torch.Tensor], alphas: Sequence[float], X, y, num_threads: int | None = 1
) -> np.ndarray:
    """The mean cross-entropy on ``(X, y)`` of the weights w + α·d, for each α in ``alphas``.

    ``model`` is evaluated (in eval mode) through :func:`torch.func.functional_call`, so its own
    weights are never modified; small networks evaluate fastest with ``num_threads=1``.
    """
    params, alphas, Xt, yt = _check_slice_args(model, direction, alphas, X, y)
    model.eval()
    losses = []
    with torch.no_grad(), torch_threads(num_threads):
        for alpha in alphas:
            moved = {name: p + float(alpha) * direction[name].to(p) for name, p in params.items()}
            losses.append(nn.functional.cross_entropy(functional_call(model, moved, (Xt,)), yt).item())
    return np.array(losses)
