"""Small sequence tasks generated in code: nothing is downloaded."""

from __future__ import annotations

import numpy as np

from scratchbook._validation import check_int

__all__ = ["temporal_xor", "adding_problem"]


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
