"""Seeding and device selection, shared by every part of the book."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

__all__ = ["set_seed", "get_device", "torch_threads"]


def set_seed(seed: int = 0, *, seed_torch: bool = True) -> np.random.Generator:
    """Seed Python, NumPy and (when installed) torch; return a NumPy ``Generator`` with that seed.

    ``seed_torch=False`` leaves torch alone and does not import it: a NumPy-only notebook then
    starts without paying for torch's import (about a second).
    """
    from scratchbook._validation import check_int

    seed = check_int("seed", seed, low=0)
    if not isinstance(seed_torch, bool):
        raise TypeError(f"seed_torch must be True or False, got {seed_torch!r}")
    random.seed(seed)
    np.random.seed(seed)
    if seed_torch:
        try:
            import torch
        except ImportError:  # torch is optional for the numpy-only parts
            pass
        else:
            torch.manual_seed(seed)
    return np.random.default_rng(seed)


def get_device(prefer: str | None = None):
    """Return the torch device the package uses: CUDA when available, else CPU.

    ``prefer`` ("cpu" or "cuda") overrides the choice; asking for CUDA where there is none is an
    error rather than a silent fallback.
    """
    import torch

    if prefer is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if prefer not in ("cpu", "cuda"):
        raise ValueError(f"prefer must be None, 'cpu' or 'cuda', got {prefer!r}")
    if prefer == "cuda" and not torch.cuda.is_available():
        raise ValueError("prefer='cuda' but no CUDA device is available")
    return torch.device(prefer)


@contextmanager
def torch_threads(num_threads: int | None) -> Iterator[None]:
    """Run the block with torch on ``num_threads`` CPU threads, then restore the previous setting.

    Small networks train fastest on one thread: a thread pool spends more time waking its threads
    than computing, and stalls when another process holds a core. ``None`` leaves torch alone.
    """
    if num_threads is None:
        yield
        return
    from scratchbook._validation import check_int

    num_threads = check_int("num_threads", num_threads, low=1)
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(num_threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
