"""Small training loops shared by the recurrent chapters: a recurrent layer and a linear readout.

:func:`train_adding` reads out the last step (the adding problem, one target per sequence);
:func:`train_tagging` reads out every step (one class per position, e.g. :func:`~scratchbook.rnn.tasks.future_token`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from tqdm.auto import tqdm

from scratchbook._validation import check_int, check_real
from scratchbook.rnn.tasks import adding_problem
from scratchbook.utils import torch_threads

__all__ = ["train_adding", "train_tagging"]


def _last_output(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    output, _ = model(x)
    return output[-1]


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
) -> dict:
    """Train ``model`` (an LSTM, GRU or RNN, time first) with a linear readout on the adding problem.

    Adam on the squared error of the last step's prediction; fresh sequences every step. Returns
    the training losses ``history``, the squared error ``test_mse`` on ``n_test`` new sequences and
    the ``readout``. ``clip_norm`` clips the gradient norm of every step. With ``eval_every`` the
    result also holds ``eval_steps`` and ``test_curve``: the squared error on one fixed test set of
    ``n_test`` sequences after 0, ``eval_every``, … steps. ``progress`` shows a tqdm bar. Runs on the
    device of the model's parameters. On the CPU, small recurrent networks train fastest on
    ``num_threads`` = 1 (a thread pool spends more time waking its threads than computing, and
    stalls when another process holds a core); the previous setting is restored. ``None`` leaves
    torch's setting alone.
    """
    length = check_int("length", length, low=2)
    steps = check_int("steps", steps, low=1)
    batch_size = check_int("batch_size", batch_size, low=1)
    n_test = check_int("n_test", n_test, low=1)
    lr = check_real("lr", lr, low=0.0, strict_low=True)
    if clip_norm is not None:
        clip_norm = check_real("clip_norm", clip_norm, low=0.0, strict_low=True)
    if eval_every is not None:
        eval_every = check_int("eval_every", eval_every, low=1)
    with torch_threads(num_threads):
        param = next(model.parameters())
        device, dtype = param.device, param.dtype
        gen = torch.Generator().manual_seed(random_state)
        readout = _readout(_width(model), 1, dtype, device, gen)
        params = [*model.parameters(), *readout.parameters()]
        optimizer = torch.optim.Adam(params, lr=lr)
        rng = np.random.default_rng(random_state)

        def as_tensor(a: np.ndarray) -> torch.Tensor:
            return torch.as_tensor(a, dtype=dtype, device=device)

        def mse(x, y) -> float:
            with torch.no_grad():
                return ((readout(_last_output(model, x)) - y) ** 2).mean().item()

        curve, eval_steps = [], []
        if eval_every is not None:  # one fixed test set, from its own stream so training data stay the same
            x_eval, y_eval = map(as_tensor, adding_problem(n_test, length, random_state=[random_state, 1]))
        history = []
        for step in tqdm(range(steps), disable=not progress, desc=f"adding, T = {length}"):
            if eval_every is not None and step % eval_every == 0:
                eval_steps.append(step)
                curve.append(mse(x_eval, y_eval))
            x, y = adding_problem(batch_size, length, random_state=rng)
            loss = ((readout(_last_output(model, as_tensor(x))) - as_tensor(y)) ** 2).mean()
            optimizer.zero_grad()
            loss.backward()
            if clip_norm is not None:
                torch.nn.utils.clip_grad_norm_(params, clip_norm)
            optimizer.step()
            history.append(loss.item())
        x, y = adding_problem(n_test, length, random_state=rng)
        result = {"history": np.array(history), "test_mse": mse(as_tensor(x), as_tensor(y)), "readout": readout}
        if eval_every is not None:
            eval_steps.append(steps)
            curve.append(mse(x_eval, y_eval))
            result["eval_steps"], result["test_curve"] = np.array(eval_steps), np.array(curve)
        return result


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
) -> dict:
    """Train ``model`` (time first) with a linear readout to classify every position of a sequence.

    ``make_batch(n, rng)`` returns inputs ``x`` (T×n×D) and integer labels (T×n) in
    ``range(n_classes)``, or −1 where a position has no label (it is left out of loss and accuracy).
    Adam on the cross-entropy averaged over labelled positions, fresh batches every step;
    ``progress`` shows a tqdm bar. Returns the training losses ``history``, the accuracy at each
    position ``test_accuracy`` (length T, NaN where nothing is labelled) and ``test_acc`` over all
    labelled positions of ``n_test`` new sequences, and the ``readout``. ``num_threads`` as in
    :func:`train_adding`.
    """
    if not callable(make_batch):
        raise TypeError(f"make_batch must be callable, got {type(make_batch).__name__}")
    n_classes = check_int("n_classes", n_classes, low=2)
    steps = check_int("steps", steps, low=1)
    batch_size = check_int("batch_size", batch_size, low=1)
    n_test = check_int("n_test", n_test, low=1)
    lr = check_real("lr", lr, low=0.0, strict_low=True)
    with torch_threads(num_threads):
        param = next(model.parameters())
        device, dtype = param.device, param.dtype
        readout = _readout(_width(model), n_classes, dtype, device, torch.Generator().manual_seed(random_state))
        optimizer = torch.optim.Adam([*model.parameters(), *readout.parameters()], lr=lr)
        rng = np.random.default_rng(random_state)

        def batch(n):
            x, labels = make_batch(n, rng)
            return (
                torch.as_tensor(x, dtype=dtype, device=device),
                torch.as_tensor(labels, dtype=torch.long, device=device),
            )

        history = []
        for _ in tqdm(range(steps), disable=not progress, desc="tagging"):
            x, labels = batch(batch_size)
            logits = readout(model(x)[0])  # T×B×n_classes
            loss = torch.nn.functional.cross_entropy(logits.reshape(-1, n_classes), labels.reshape(-1), ignore_index=-1)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            history.append(loss.item())
        x, labels = batch(n_test)
        with torch.no_grad():
            correct = (readout(model(x)[0]).argmax(-1) == labels).cpu().numpy()
        labelled = (labels >= 0).cpu().numpy()
        if not labelled.any():
            raise ValueError("make_batch returned no labelled position (every label is -1)")
        with np.errstate(invalid="ignore"):
            per_position = (correct & labelled).sum(axis=1) / labelled.sum(axis=1)
        return {
            "history": np.array(history),
            "test_accuracy": per_position,
            "test_acc": float((correct & labelled).sum() / labelled.sum()),
            "readout": readout,
        }
