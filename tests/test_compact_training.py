"""The training loop of Part IV against gradient descent written out in NumPy, and its argument checks."""

import numpy as np
import pytest
import torch
from torch import nn

from scratchbook.compact import accuracy, fit, make_mlp, predict, train_classifier


def _linear_problem(n=40, d=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = X @ np.array([1.0, -2.0, 0.5]) + 0.3 + 0.1 * rng.normal(size=n)
    return X, y


def test_full_batch_sgd_equals_gradient_descent_in_numpy():
    X, y = _linear_problem()
    model = nn.Linear(3, 1)
    w, b = model.weight.detach().numpy().ravel().astype(float), float(model.bias.item())
    lr, steps = 0.1, 25

    def mse(m, xb, yb, step):
        return ((m(xb).squeeze(1) - yb) ** 2).mean()

    history = fit(model, mse, X, y, steps=steps, batch_size=len(X), optimizer="sgd", lr=lr, progress=False)
    expected = []
    for _ in range(steps):  # the gradient of the mean squared error, by hand
        r = X @ w + b - y
        expected.append(np.mean(r**2))
        w, b = w - lr * 2 * X.T @ r / len(X), b - lr * 2 * r.mean()
    np.testing.assert_allclose(history, expected, rtol=1e-4)
    np.testing.assert_allclose(model.weight.detach().cpu().numpy().ravel(), w, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(model.bias.item(), b, rtol=1e-4, atol=1e-5)
    assert not model.training


def test_callback_sees_every_step_and_float_targets_stay_float():
    X, y = _linear_problem()
    seen, dtypes = [], set()

    def loss(m, xb, yb, step):
        dtypes.add(yb.dtype)
        return ((m(xb).squeeze(1) - yb) ** 2).mean()

    fit(nn.Linear(3, 1), loss, X, y, steps=7, batch_size=8, progress=False, callback=lambda step, m: seen.append(step))
    assert seen == list(range(7)) and dtypes == {torch.float32}


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


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(steps=0), "steps"),
        (dict(batch_size=0), "batch_size"),
        (dict(optimizer="lbfgs"), "optimizer"),
        (dict(lr=-1.0), "lr"),
        (dict(momentum=2.0), "momentum"),
        (dict(random_state=-1), "random_state"),
    ],
)
def test_bad_arguments_are_named(kwargs, match):
    X, y = _linear_problem()
    with pytest.raises((ValueError, TypeError), match=match):
        fit(nn.Linear(3, 1), lambda m, xb, yb, s: m(xb).sum(), X, y, progress=False, **kwargs)


def test_bad_data_and_model_are_named():
    X, y = _linear_problem()
    loss = lambda m, xb, yb, s: m(xb).sum()  # noqa: E731
    with pytest.raises(ValueError, match="X and y"):
        fit(nn.Linear(3, 1), loss, X, y[:-1], progress=False)
    with pytest.raises(ValueError, match="X contains NaN"):
        fit(nn.Linear(3, 1), loss, np.full_like(X, np.nan), y, progress=False)
    with pytest.raises(TypeError, match="model"):
        fit("not a model", loss, X, y, progress=False)
    with pytest.raises(TypeError, match="loss_fn"):
        fit(nn.Linear(3, 1), None, X, y, progress=False)
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


def test_lr_schedule_sets_each_step_like_gradient_descent_by_hand():
    X, y = _linear_problem()
    model = nn.Linear(3, 1)
    w, b = model.weight.detach().numpy().ravel().astype(float), float(model.bias.item())
    schedule = lambda step: 0.2 / (1 + step)  # noqa: E731

    def mse(m, xb, yb, step):
        return ((m(xb).squeeze(1) - yb) ** 2).mean()

    fit(model, mse, X, y, steps=10, batch_size=len(X), optimizer="sgd", lr=1.0, lr_schedule=schedule, progress=False)
    for step in range(10):
        r = X @ w + b - y
        w, b = w - schedule(step) * 2 * X.T @ r / len(X), b - schedule(step) * 2 * r.mean()
    np.testing.assert_allclose(model.weight.detach().cpu().numpy().ravel(), w, rtol=1e-4, atol=1e-5)
    with pytest.raises(TypeError, match="lr_schedule"):
        fit(model, mse, X, y, lr_schedule=0.1, progress=False)


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
