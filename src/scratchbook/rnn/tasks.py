"""Small sequence tasks generated in code: nothing is downloaded."""

from __future__ import annotations

import numpy as np

from scratchbook._validation import check_int, check_real

__all__ = ["temporal_xor", "adding_problem", "mackey_glass", "future_token"]


def temporal_xor(
    n_sequences: int, n_triples: int, random_state: int | np.random.Generator | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Elman's temporal XOR: bit streams a, b, a XOR b, …; inputs are the bits, targets the next bit.

    Returns ``x`` and ``targets``, both of shape (3·n_triples − 1, n_sequences, 1), time first: the
    target at step t is the input at step t + 1, which is predictable (an XOR) when t % 3 == 1.
    """
    n_sequences = check_int("n_sequences", n_sequences, low=1)
    n_triples = check_int("n_triples", n_triples, low=1)
    rng = np.random.default_rng(random_state)
    a, b = rng.integers(0, 2, size=(2, n_triples, n_sequences))
    bits = np.stack([a, b, a ^ b], axis=1).reshape(3 * n_triples, n_sequences, 1).astype(np.float64)
    return bits[:-1], bits[1:]


def adding_problem(
    n_sequences: int, length: int, random_state: int | np.random.Generator | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Hochreiter and Schmidhuber's adding problem: add the two marked numbers of a long sequence.

    Each step carries a value drawn from U(0, 1) and a marker; one marker sits in the first half of
    the sequence, one in the second. Returns ``x`` of shape (length, n_sequences, 2), time first,
    and ``targets`` of shape (n_sequences, 1), the sum of the two marked values. Predicting the mean,
    1, gives a squared error of 1/6.
    """
    n_sequences = check_int("n_sequences", n_sequences, low=1)
    length = check_int("length", length, low=2)
    rng = np.random.default_rng(random_state)
    values = rng.uniform(size=(length, n_sequences))
    first = rng.integers(0, length // 2, size=n_sequences)
    second = rng.integers(length // 2, length, size=n_sequences)
    markers = np.zeros((length, n_sequences))
    cols = np.arange(n_sequences)
    markers[first, cols] = 1.0
    markers[second, cols] = 1.0
    targets = (values[first, cols] + values[second, cols])[:, None]
    return np.stack([values, markers], axis=-1), targets


def mackey_glass(
    n_steps: int,
    tau: float = 17.0,
    beta: float = 0.2,
    gamma: float = 0.1,
    n: float = 10.0,
    dt: float = 0.1,
    sample_every: int = 10,
    burn_in: int = 500,
    x0: float = 1.2,
    random_state: int | np.random.Generator | None = None,
) -> np.ndarray:
    """A Mackey–Glass series of ``n_steps`` samples, Eq. (esn-mackey-glass) of chapter 3, shape (n_steps,).

    dx/dt = β x(t − τ) / (1 + x(t − τ)ⁿ) − γ x(t), integrated with Euler steps of ``dt`` from a
    history equal to ``x0`` plus a little noise drawn from ``random_state``; one sample is kept
    every ``sample_every`` steps (one time unit by default) after ``burn_in`` samples are dropped.
    With the defaults, τ = 17 gives the classic chaotic series and small τ a periodic one.
    """
    n_steps = check_int("n_steps", n_steps, low=1)
    tau = check_real("tau", tau, low=0.0, strict_low=True)
    beta = check_real("beta", beta, low=0.0)
    gamma = check_real("gamma", gamma, low=0.0)
    n = check_real("n", n, low=0.0)
    dt = check_real("dt", dt, low=0.0, strict_low=True)
    sample_every = check_int("sample_every", sample_every, low=1)
    burn_in = check_int("burn_in", burn_in, low=0)
    x0 = check_real("x0", x0, low=0.0, strict_low=True)
    lag = max(1, int(round(tau / dt)))  # the delay in Euler steps
    rng = np.random.default_rng(random_state)
    total = (n_steps + burn_in) * sample_every
    x = np.empty(lag + total + 1)
    x[: lag + 1] = x0 + 0.01 * rng.standard_normal(lag + 1)  # the initial history on [−τ, 0]
    for t in range(lag, lag + total):
        delayed = x[t - lag]
        x[t + 1] = x[t] + dt * (beta * delayed / (1.0 + delayed**n) - gamma * x[t])
    return x[lag + 1 + burn_in * sample_every :: sample_every][:n_steps].copy()


def future_token(
    n_sequences: int,
    length: int,
    shift: int = 3,
    n_symbols: int = 4,
    random_state: int | np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Tag every position with the symbol ``shift`` steps ahead: a task that needs the future context.

    Symbols are drawn uniformly from ``range(n_symbols)`` and fed one-hot. Returns ``x`` of shape
    (length, n_sequences, n_symbols), time first, and integer ``labels`` of shape (length,
    n_sequences): ``labels[t] = symbol[t + shift]``, and −1 (no label) for the last ``shift``
    positions, which have nothing ``shift`` steps ahead. A network that reads only the past can do
    no better than chance, 1/n_symbols, on the labelled positions.
    """
    n_sequences = check_int("n_sequences", n_sequences, low=1)
    length = check_int("length", length, low=1)
    shift = check_int("shift", shift, low=0, high=length - 1)
    n_symbols = check_int("n_symbols", n_symbols, low=2)
    rng = np.random.default_rng(random_state)
    symbols = rng.integers(0, n_symbols, size=(length, n_sequences))
    labels = np.full((length, n_sequences), -1, dtype=np.int64)
    labels[: length - shift] = symbols[shift:]
    return np.eye(n_symbols)[symbols], labels
