"""Part IV's classifier, its training on labels and the digits tasks (the loop itself: tests/test_training.py)."""

import numpy as np
import pytest
import torch

from scratchbook.compact import accuracy, make_mlp, predict, train_classifier


def _linear_problem(n=40, d=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = X @ np.array([1.0, -2.0, 0.5]) + 0.3 + 0.1 * rng.normal(size=n)
    return X, y


def test_same_seed_same_run_and_classifier_learns_digits():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = X / 16
    a, b = make_mlp([64, 32, 10]), make_mlp([64, 32, 10])
    ha = train_classifier(a, X, y, steps=100, progress=False)
    hb = train_classifier(b, X, y, steps=100, progress=False)
    np.testing.assert_array_equal(ha, hb)
    assert accuracy(a, X, y) > 0.9
    logits = predict(a, X)
    with torch.no_grad():
        direct = a(torch.as_tensor(X, dtype=torch.float32, device=next(a.parameters()).device)).cpu().numpy()
    np.testing.assert_allclose(logits, direct, rtol=1e-6)


def test_train_classifier_needs_integer_labels():
    X, y = _linear_problem()
    with pytest.raises(TypeError, match="y must hold integer"):
        train_classifier(make_mlp([3, 2]), X, y, progress=False)


def test_rotated_digits_are_the_images_turned_by_a_quarter():
    from scratchbook.compact import digits_transfer, rotate_digits

    data = digits_transfer()
    img = data.X_train[0].reshape(8, 8)
    rotated = data.Xr_train[0].reshape(8, 8)
    # counter-clockwise: the top row becomes the left column, read from the bottom up
    np.testing.assert_array_equal(rotated[::-1, 0], img[0])
    np.testing.assert_array_equal(rotate_digits(data.Xr_train, 3), data.X_train)
    assert len(data.X_train) + len(data.X_test) == 1797 and data.X_train.max() <= 1.0
    with pytest.raises(ValueError, match="X must be n×64"):
        rotate_digits(np.zeros((3, 10)))
    with pytest.raises(ValueError, match="test_size"):
        digits_transfer(test_size=1.0)


def test_class_transfer_splits_the_classes_and_remaps_the_labels():
    from sklearn.datasets import load_digits

    from scratchbook.compact import digits_class_transfer

    data = digits_class_transfer((7, 0, 3), n_target_train=70, random_state=2)
    np.testing.assert_array_equal(data.source_classes, [0, 3, 7])
    np.testing.assert_array_equal(data.target_classes, [1, 2, 4, 5, 6, 8, 9])
    assert len(data.y_train) == 70 and np.bincount(data.y_train).tolist() == [10] * 7
    assert set(data.y_source) == {0, 1, 2} and set(data.y_test) == set(range(7))
    # each image keeps its own digit: look every row up in the raw data set
    digits = load_digits()
    lookup = {row.tobytes(): label for row, label in zip(digits.data / 16, digits.target)}
    for X, y, classes in (
        (data.X_source, data.y_source, data.source_classes),
        (data.X_train, data.y_train, data.target_classes),
        (data.X_test, data.y_test, data.target_classes),
    ):
        assert all(lookup[row.tobytes()] == classes[label] for row, label in zip(X, y))
    assert len(data.X_source) + len(data.X_test) < 1797 and not set(map(bytes, data.X_train)) & set(
        map(bytes, data.X_test)
    )
    assert not np.array_equal(data.X_train, digits_class_transfer((7, 0, 3), 70, random_state=3).X_train)
    with pytest.raises(ValueError, match="source_classes"):
        digits_class_transfer((0, 10))
    with pytest.raises(ValueError, match="source_classes"):
        digits_class_transfer(range(9))
    with pytest.raises(TypeError, match="source_classes"):
        digits_class_transfer(3)
    with pytest.raises(ValueError, match="n_target_train"):
        digits_class_transfer((0, 1, 2, 3, 4), n_target_train=4)


def test_few_labels_draws_a_stratified_labelled_subset_of_the_unlabelled_pool():
    from scratchbook.compact import digits_few_labels

    data = digits_few_labels(50, random_state=1)
    assert len(data.X_unlabelled) + len(data.X_test) == 1797 and len(data.y_train) == 50
    assert np.bincount(data.y_train).tolist() == [5] * 10
    pool = {row.tobytes() for row in data.X_unlabelled}
    assert all(row.tobytes() in pool for row in data.X_train)
    assert not pool & {row.tobytes() for row in data.X_test}
    np.testing.assert_array_equal(digits_few_labels(50, random_state=1).X_train, data.X_train)
    with pytest.raises(ValueError, match="n_labelled"):
        digits_few_labels(5)
