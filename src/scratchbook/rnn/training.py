"""The recurrent chapters' two tasks on the package's one loop, :func:`scratchbook.training.fit`.

Each trains a recurrent layer and a linear readout, on fresh sequences every step.

:func:`train_adding` reads out the last step (the adding problem, one target per sequence);
:func:`train_tagging` reads out every step (one class per position, e.g. :func:`~scratchbook.rnn.tasks.future_token`).
Both measure the trained network on new sequences drawn from the training stream, so each returns a
small frozen dataclass, :class:`AddingResult` or :class:`TaggingResult`, whose ``history`` is the loss
of every step (the trainer rules of :mod:`scratchbook.training`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from scratchbook._validation import check_int
from scratchbook.rnn.tasks import adding_problem
from scratchbook.training import fit, resolve_device

__all__ = ["train_adding", "train_tagging", "AddingResult", "TaggingResult"]


@dataclass(frozen=True)
class AddingResult:
    """What :func:`train_adding` returns.

    ``history``: the training loss of every step; ``test_mse``: the squared error on ``n_test`` new
    sequences after training; ``readout``: the trained linear readout of the last step. With
    ``eval_every``, ``eval_steps`` (0, ``eval_every``, …, ``steps``) and ``test_curve``, the squared
    error on one fixed test set after each of them; ``None`` otherwise.
    """

    history: np.ndarray
    test_mse: float
    readout: torch.nn.Linear
    eval_steps: np.ndarray | None = None
    test_curve: np.ndarray | None = None


@dataclass(frozen=True)
class TaggingResult:
    """What :func:`train_tagging` returns.

    ``history``: the training loss of every step; ``test_accuracy``: the accuracy at each position
    (length T, NaN where nothing is labelled) and ``test_acc`` over all labelled positions, both on
    ``n_test`` new sequences after training; ``readout``: the trained linear readout.
    """

    history: np.ndarray
    test_accuracy: np.ndarray
    test_acc: float
    readout: torch.nn.Linear


class _WithReadout(torch.nn.Module):
    """A recurrent layer (time first) and a linear readout of its last step, or of every step."""

    def __init__(self, rnn: torch.nn.Module, readout: torch.nn.Linear, last_step: bool = True) -> None:
        super().__init__()
        self.rnn, self.readout, self.last_step = rnn, readout, last_step

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        output, _ = self.rnn(x)
        return self.readout(output[-1] if self.last_step else output)


def _width(model: torch.nn.Module) -> int:
    """The size of the model's output features: hidden size times the number of directions."""
    directions = getattr(model, "num_directions", 2 if getattr(model, "bidirectional", False) else 1)
    return model.hidden_size * directions


def _readout(width: int, n_out: int, dtype, device, gen: torch.Generator) -> torch.nn.Linear:
    """A linear readout with torch's default init, drawn from ``gen`` so runs are repeatable."""
    readout = torch.nn.Linear(width, n_out).to(dtype)
    bound = 1.0 / np.sqrt(width)
    with torch.no_grad():
        readout.weight.uniform_(-bound, bound, generator=gen)
        readout.bias.uniform_(-bound, bound, generator=gen)
    return readout.to(device)


def train_adding(
    model: torch.nn.Module,
    length: int,
    steps: int = 300,
    batch_size: int = 64,
    lr: float = 1e-2,
    n_test: int = 500,
    random_state: int = 0,
    num_threads: int | None = 1,
    clip_norm: float | None = None,
    eval_every: int | None = None,
    progress: bool = False,
    device: str | torch.device | None = None,
) -> AddingResult:
    """Train ``model`` (an LSTM, GRU or RNN, time first) with a linear readout on the adding problem.

    Adam on the squared error of the last step's prediction; fresh sequences every step. Returns an
    :class:`AddingResult`: the training losses ``history``, the squared error ``test_mse`` on
    ``n_test`` new sequences and the ``readout``. ``clip_norm`` clips the gradient norm of every step.
    With ``eval_every`` the result also holds ``eval_steps`` and ``test_curve``: the squared error on
    one fixed test set of ``n_test`` sequences after 0, ``eval_every``, … steps. ``progress`` shows a
    tqdm bar. The model and the readout are on ``device`` (default
    :func:`scratchbook.utils.get_device`). On the CPU, small recurrent networks train fastest on
    ``num_threads`` = 1 (a thread pool spends more time waking its threads than computing, and
    stalls when another process holds a core); the previous setting is restored. ``None`` leaves
    torch's setting alone.
    """
    length = check_int("length", length, low=2)  # steps, batch_size, lr and clip_norm: fit checks them
    n_test = check_int("n_test", n_test, low=1)
    if eval_every is not None:
        eval_every = check_int("eval_every", eval_every, low=1)
    device = resolve_device(device)
    dtype = next(model.to(device).parameters()).dtype
    readout = _readout(_width(model), 1, dtype, device, torch.Generator().manual_seed(random_state))
    net = _WithReadout(model, readout)
    rng = np.random.default_rng(random_state)

    def mse(x, y) -> float:
        with torch.no_grad():
            x, y = (torch.as_tensor(a, dtype=dtype, device=device) for a in (x, y))
            return ((net(x) - y) ** 2).mean().item()

    curve, eval_steps, callback = [], [], None
    if eval_every is not None:  # one fixed test set, from its own stream so training data stay the same
        x_eval, y_eval = adding_problem(n_test, length, random_state=[random_state, 1])
        eval_steps.append(0)
        curve.append(mse(x_eval, y_eval))

        def callback(step: int, _) -> None:
            if (step + 1) % eval_every == 0 and step + 1 < steps:
                eval_steps.append(step + 1)
                curve.append(mse(x_eval, y_eval))

    history = fit(
        net,
        lambda m, x, y, step: ((m(x) - y) ** 2).mean(),
        batches=lambda step, rng: adding_problem(batch_size, length, random_state=rng),
        steps=steps,
        lr=lr,
        clip_norm=clip_norm,
        random_state=rng,
        progress=progress,
        num_threads=num_threads,
        callback=callback,
        device=device,
        desc=f"adding, T = {length}",
    )
    test_mse = mse(*adding_problem(n_test, length, random_state=rng))
    if eval_every is None:
        return AddingResult(history, test_mse, readout)
    eval_steps.append(steps)
    curve.append(mse(x_eval, y_eval))
    return AddingResult(history, test_mse, readout, np.array(eval_steps), np.array(curve))


def train_tagging(
    model: torch.nn.Module,
    make_batch: Callable[[int, np.random.Generator], tuple[np.ndarray, np.ndarray]],
    n_classes: int = 2,
    steps: int = 200,
    batch_size: int = 32,
    lr: float = 1e-2,
    n_test: int = 500,
    random_state: int = 0,
    num_threads: int | None = 1,
    progress: bool = True,
    device: str | torch.device | None = None,
) -> TaggingResult:
    """Train ``model`` (time first) with a linear readout to classify every position of a sequence.

    ``make_batch(n, rng)`` returns inputs ``x`` (T×n×D) and integer labels (T×n) in
    ``range(n_classes)``, or −1 where a position has no label (it is left out of loss and accuracy).
    Adam on the cross-entropy averaged over labelled positions, fresh batches every step;
    ``progress`` shows a tqdm bar. Returns a :class:`TaggingResult`: the training losses ``history``,
    the accuracy at each position ``test_accuracy`` (length T, NaN where nothing is labelled) and
    ``test_acc`` over all labelled positions of ``n_test`` new sequences, and the ``readout``.
    ``device`` and ``num_threads`` as in :func:`train_adding`.
    """
    if not callable(make_batch):
        raise TypeError(f"make_batch must be callable, got {type(make_batch).__name__}")
    n_classes = check_int("n_classes", n_classes, low=2)  # steps, batch_size and lr: fit checks them
    n_test = check_int("n_test", n_test, low=1)
    device = resolve_device(device)
    dtype = next(model.to(device).parameters()).dtype
    readout = _readout(_width(model), n_classes, dtype, device, torch.Generator().manual_seed(random_state))
    net = _WithReadout(model, readout, last_step=False)
    rng = np.random.default_rng(random_state)
    history = fit(
        net,
        lambda m, x, labels, step: torch.nn.functional.cross_entropy(
            m(x).reshape(-1, n_classes), labels.reshape(-1), ignore_index=-1
        ),
        batches=lambda step, rng: make_batch(batch_size, rng),
        steps=steps,
        lr=lr,
        random_state=rng,
        progress=progress,
        num_threads=num_threads,
        device=device,
        desc="tagging",
    )
    x, labels = make_batch(n_test, rng)
    x, labels = torch.as_tensor(x, dtype=dtype, device=device), torch.as_tensor(labels, dtype=torch.long, device=device)
    with torch.no_grad():
        correct = (net(x).argmax(-1) == labels).cpu().numpy()
    labelled = (labels >= 0).cpu().numpy()
    if not labelled.any():
        raise ValueError("make_batch returned no labelled position (every label is -1)")
    with np.errstate(invalid="ignore"):
        per_position = (correct & labelled).sum(axis=1) / labelled.sum(axis=1)
    return TaggingResult(history, per_position, float((correct & labelled).sum() / labelled.sum()), readout)
