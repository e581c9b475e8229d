"""A small training loop shared by the gated-network chapters: a recurrent layer and a linear readout."""

from __future__ import annotations

import numpy as np
import torch

from scratchbook._validation import check_int, check_real
from scratchbook.rnn.tasks import adding_problem

__all__ = ["train_adding"]


def _last_output(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    output, _ = model(x)
    return output[-1]


def train_adding(model: torch.nn.Module, length: int, steps: int = 300, batch_size: int = 64, lr: float = 1e-2,
                 n_test: int = 500, random_state: int = 0, num_threads: int | None = 1) -> dict:
    """Train ``model`` (an LSTM or GRU, time first) with a linear readout on the adding problem.

    Adam on the squared error of the last step's prediction; fresh sequences every step. Returns
    the training losses ``history``, the squared error ``test_mse`` on ``n_test`` new sequences and
    the ``readout``. Runs on the device of the model's parameters. On the CPU, small recurrent
    networks train fastest on ``num_threads`` = 1 (a thread pool spends more time waking its threads
    than computing, and stalls when another process holds a core); the previous setting is restored.
    ``None`` leaves torch's setting alone.
    """
    if num_threads is None:
        return _train_adding(model, length, steps, batch_size, lr, n_test, random_state)
    num_threads = check_int("num_threads", num_threads, low=1)
    previous = torch.get_num_threads()
    torch.set_num_threads(num_threads)
    try:
        return _train_adding(model, length, steps, batch_size, lr, n_test, random_state)
    finally:
        torch.set_num_threads(previous)


def _train_adding(model, length, steps, batch_size, lr, n_test, random_state) -> dict:
    length = check_int("length", length, low=2)
    steps = check_int("steps", steps, low=1)
    batch_size = check_int("batch_size", batch_size, low=1)
    lr = check_real("lr", lr, low=0.0, strict_low=True)
    param = next(model.parameters())
    device, dtype = param.device, param.dtype
    width = model.hidden_size * getattr(model, "num_directions", 2 if getattr(model, "bidirectional", False) else 1)
    gen = torch.Generator().manual_seed(random_state)
    readout = torch.nn.Linear(width, 1).to(dtype)
    bound = 1.0 / np.sqrt(width)
    with torch.no_grad():  # torch's default init, drawn from our generator so runs are repeatable
        readout.weight.uniform_(-bound, bound, generator=gen)
        readout.bias.uniform_(-bound, bound, generator=gen)
    readout = readout.to(device)
    optimizer = torch.optim.Adam([*model.parameters(), *readout.parameters()], lr=lr)
    rng = np.random.default_rng(random_state)

    def as_tensor(a: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(a, dtype=dtype, device=device)

    history = []
    for _ in range(steps):
        x, y = adding_problem(batch_size, length, random_state=rng)
        loss = ((readout(_last_output(model, as_tensor(x))) - as_tensor(y)) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        history.append(loss.item())
    x, y = adding_problem(n_test, length, random_state=rng)
    with torch.no_grad():
        test_mse = ((readout(_last_output(model, as_tensor(x))) - as_tensor(y)) ** 2).mean().item()
    return {"history": np.array(history), "test_mse": test_mse, "readout": readout}
