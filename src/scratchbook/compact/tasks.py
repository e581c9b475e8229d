"""The source and target tasks of Part IV: upright digits for pre-training, rotated digits to adapt to.

A network pre-trained on scikit-learn's upright 8×8 digits is close to chance on the same digits
rotated by 90°: the classes are the same, the pixels are not where it expects them. That gap is the
"new task" the chapters fine-tune, distil and adapt to, with no data downloaded.
"""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.utils import Bunch

from scratchbook._validation import check_int, check_real

__all__ = ["rotate_digits", "digits_transfer"]


def rotate_digits(X: np.ndarray, quarter_turns: int = 1) -> np.ndarray:
    """Rotate each row of ``X`` (a flattened 8×8 digit) by ``quarter_turns`` × 90° counter-clockwise."""
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[1] != 64:
        raise ValueError(f"X must be n×64 (flattened 8×8 images), got shape {X.shape}")
    quarter_turns = check_int("quarter_turns", quarter_turns)
    return np.rot90(X.reshape(-1, 8, 8), k=quarter_turns, axes=(1, 2)).reshape(-1, 64).copy()


def digits_transfer(test_size: float = 0.5, random_state: int = 0) -> Bunch:
    """Digits scaled to [0, 1], split in a stratified way, upright (source) and rotated by 90° (target).

    Returns a Bunch with ``X_train``, ``X_test`` (upright), ``Xr_train``, ``Xr_test`` (rotated; the same
    images) and the labels ``y_train``, ``y_test``.
    """
    test_size = check_real("test_size", test_size, low=0.0, high=1.0, strict_low=True)
    if test_size >= 1.0:
        raise ValueError(f"test_size must be < 1, got {test_size}")
    random_state = check_int("random_state", random_state, low=0)
    digits = load_digits()
    X_train, X_test, y_train, y_test = train_test_split(
        digits.data / 16, digits.target, test_size=test_size, stratify=digits.target, random_state=random_state)
    return Bunch(X_train=X_train, X_test=X_test, y_train=y_train, y_test=y_test,
                 Xr_train=rotate_digits(X_train), Xr_test=rotate_digits(X_test))
