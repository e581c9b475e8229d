"""The tasks of Part IV, all built from scikit-learn's 8×8 digits, with no data downloaded.

:func:`digits_few_labels` is the task that chapters 4.1, 4.5 and 4.6 share: all the training digits
without labels (for pre-training), a few of them with labels, and the test half. Pre-training without
labels on all digits measurably helps a network trained on those few labels (chapter 4.1), which is
what a fine-tuning or adapter experiment needs. Two other transfers are kept for chapter 4.1's
exercise, which asks whether pre-training helps there: :func:`digits_transfer` (upright digits as
the source, the same digits rotated by 90° as the target; a 90° turn permutes the pixels, and a
perceptron has no notion of which pixels are neighbours) and :func:`digits_class_transfer`
(pre-train on some classes, adapt to the others with few labels).
"""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.utils import Bunch

from scratchbook._validation import check_int, check_real

__all__ = ["rotate_digits", "digits_transfer", "digits_class_transfer", "digits_few_labels"]


def rotate_digits(X: np.ndarray, quarter_turns: int = 1) -> np.ndarray:
    """Rotate each row of ``X`` (a flattened 8×8 digit) by ``quarter_turns`` × 90° counter-clockwise."""
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[1] != 64:
        raise ValueError(f"X must be n×64 (flattened 8×8 images), got shape {X.shape}")
    quarter_turns = check_int("quarter_turns", quarter_turns)
    return np.rot90(X.reshape(-1, 8, 8), k=quarter_turns, axes=(1, 2)).reshape(-1, 64).copy()


def _digits_halves(test_size: float, random_state: int = 0) -> list[np.ndarray]:
    """Digits scaled to [0, 1], split into training and test parts stratified by class: X_tr, X_te, y_tr, y_te."""
    test_size = check_real("test_size", test_size, low=0.0, high=1.0, strict_low=True)
    if test_size >= 1.0:
        raise ValueError(f"test_size must be < 1, got {test_size}")
    digits = load_digits()
    return train_test_split(
        digits.data / 16, digits.target, test_size=test_size, stratify=digits.target, random_state=random_state
    )


def digits_transfer(test_size: float = 0.5, random_state: int = 0) -> Bunch:
    """Digits scaled to [0, 1], split in a stratified way, upright (source) and rotated by 90° (target).

    Returns a Bunch with ``X_train``, ``X_test`` (upright), ``Xr_train``, ``Xr_test`` (rotated; the same
    images) and the labels ``y_train``, ``y_test``.
    """
    random_state = check_int("random_state", random_state, low=0)
    X_train, X_test, y_train, y_test = _digits_halves(test_size, random_state)
    return Bunch(
        X_train=X_train,
        X_test=X_test,
        y_train=y_train,
        y_test=y_test,
        Xr_train=rotate_digits(X_train),
        Xr_test=rotate_digits(X_test),
    )


def digits_class_transfer(
    source_classes: tuple[int, ...] = (0, 1, 2, 3, 4),
    n_target_train: int = 100,
    test_size: float = 0.5,
    random_state: int = 0,
) -> Bunch:
    """Upright digits split by class: a source task on ``source_classes``, a few-label target task on the rest.

    The digits (scaled to [0, 1]) are split once into a training and a test half, stratified by class
    with a fixed seed, as in :func:`digits_transfer`. The source task is every training image of
    ``source_classes``; the target task draws ``n_target_train`` training images of the other classes
    (stratified, with ``random_state``) and tests on all their test images. Labels are remapped to
    0, 1, … in increasing order of the digit within each task. Returns a Bunch with ``X_source``,
    ``y_source``, ``X_train``, ``y_train``, ``X_test``, ``y_test``, ``source_classes`` and
    ``target_classes`` (the digits behind labels 0, 1, …).
    """
    if isinstance(source_classes, (str, bytes)) or not np.iterable(source_classes):
        raise TypeError(f"source_classes must be a sequence of digits 0–9, got {source_classes!r:.60}")
    source = sorted({check_int("source_classes", c, low=0, high=9) for c in source_classes})
    if not 1 <= len(source) <= 8:
        raise ValueError(
            f"source_classes must hold 1 to 8 distinct digits (two or more are left as targets), "
            f"got {source_classes!r:.60}"
        )
    target = [c for c in range(10) if c not in source]
    random_state = check_int("random_state", random_state, low=0)
    X_train, X_test, y_train, y_test = _digits_halves(test_size)
    in_target = np.isin(y_train, target)
    n_pool = int(in_target.sum())
    n_target_train = check_int("n_target_train", n_target_train, low=len(target), high=n_pool)
    remap = np.full(10, -1)
    remap[source], remap[target] = np.arange(len(source)), np.arange(len(target))
    if n_target_train < n_pool:
        X_t, _, y_t, _ = train_test_split(
            X_train[in_target],
            y_train[in_target],
            train_size=n_target_train,
            stratify=y_train[in_target],
            random_state=random_state,
        )
    else:
        X_t, y_t = X_train[in_target], y_train[in_target]
    source_rows, test_rows = np.isin(y_train, source), np.isin(y_test, target)
    return Bunch(
        X_source=X_train[source_rows],
        y_source=remap[y_train[source_rows]],
        X_train=X_t,
        y_train=remap[y_t],
        X_test=X_test[test_rows],
        y_test=remap[y_test[test_rows]],
        source_classes=np.array(source),
        target_classes=np.array(target),
    )


def digits_few_labels(n_labelled: int = 100, test_size: float = 0.5, random_state: int = 0) -> Bunch:
    """All training digits without labels, ``n_labelled`` of them with labels, and the test digits.

    The digits (scaled to [0, 1]) are split once into a training and a test half, stratified by class
    with a fixed seed, as in :func:`digits_transfer`. ``X_unlabelled`` is the whole training half (for
    pre-training without labels); ``X_train``, ``y_train`` are ``n_labelled`` of its images drawn
    stratified by class with ``random_state``; ``X_test``, ``y_test`` are the test half.
    """
    random_state = check_int("random_state", random_state, low=0)
    X_pool, X_test, y_pool, y_test = _digits_halves(test_size)
    n_labelled = check_int("n_labelled", n_labelled, low=10, high=len(y_pool))
    idx = np.arange(len(y_pool))
    if n_labelled < len(y_pool):
        idx = train_test_split(idx, train_size=n_labelled, stratify=y_pool, random_state=random_state)[0]
    return Bunch(X_unlabelled=X_pool, X_train=X_pool[idx], y_train=y_pool[idx], X_test=X_test, y_test=y_test)
