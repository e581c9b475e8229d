"""Small sequence tasks generated in code: nothing is downloaded."""

from __future__ import annotations

import numpy as np

from scratchbook._validation import check_int

__all__ = ["temporal_xor"]


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
