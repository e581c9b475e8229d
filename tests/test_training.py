"""The package's one training loop, scratchbook.training.fit, against gradient descent written out in
NumPy (with clipping, a schedule, extra parameters, generated batches), and its argument checks."""

import numpy as np
import pytest
import torch
from torch import nn

from scratchbook.training import fit


def _linear_problem(n=40, d=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = X @ np.array([1.0, -2.0, 0.5]) + 0.3 + 0.1 * rng.normal(size=n)
    return X, y


def mse(m, xb, yb, step):
    return ((m(xb).squeeze(1) - yb) ** 2).mean()


def test_full_batch_sgd_equals_gradient_descent_in_numpy():
    X, y = _linear_problem()
    model = nn.Linear(3, 1)
    w, b = model.weight.detach().numpy().ravel().astype(float), float(model.bias.item())
    lr, steps = 0.1, 25

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


def test_lr_schedule_sets_each_step_like_gradient_descent_by_hand():
    X, y = _linear_problem()
    model = nn.Linear(3, 1)
    w, b = model.weight.detach().numpy().ravel().astype(float), float(model.bias.item())
    schedule = lambda step: 0.2 / (1 + step)  # noqa: E731

    fit(model, mse, X, y, steps=10, batch_size=len(X), optimizer="sgd", lr=1.0, lr_schedule=schedule, progress=False)
    for step in range(10):
        r = X @ w + b - y
        w, b = w - schedule(step) * 2 * X.T @ r / len(X), b - schedule(step) * 2 * r.mean()
    np.testing.assert_allclose(model.weight.detach().cpu().numpy().ravel(), w, rtol=1e-4, atol=1e-5)
    with pytest.raises(TypeError, match="lr_schedule"):
        fit(model, mse, X, y, lr_schedule=0.1, progress=False)


def test_clipped_sgd_on_generated_batches_equals_gradient_descent_by_hand():
    """``batches`` and ``clip_norm``: each step's batch from the generator, the gradient scaled to norm c."""
    X, y = _linear_problem()
    model = nn.Linear(3, 1).double()
    w, b = model.weight.detach().numpy().ravel().copy(), float(model.bias.item())
    lr, c, steps = 0.3, 0.5, 12

    def batches(step, rng):
        idx = rng.permutation(len(X))[:10]
        return X[idx], y[idx]

    history = fit(
        model,
        mse,
        batches=batches,
        steps=steps,
        optimizer="sgd",
        lr=lr,
        clip_norm=c,
        random_state=3,
        progress=False,
        device="cpu",
    )
    rng, expected = np.random.default_rng(3), []
    for _ in range(steps):
        idx = rng.permutation(len(X))[:10]
        r = X[idx] @ w + b - y[idx]
        expected.append(np.mean(r**2))
        g = np.append(2 * X[idx].T @ r / len(idx), 2 * r.mean())
        g *= min(1.0, c / (np.linalg.norm(g) + 1e-6))  # torch's clip_grad_norm_ adds 1e-6
        w, b = w - lr * g[:3], b - lr * g[3]
    np.testing.assert_allclose(history, expected, rtol=1e-10)
    np.testing.assert_allclose(model.weight.detach().numpy().ravel(), w, rtol=1e-10)


def test_float64_models_get_float64_batches_and_extra_params_are_trained():
    X, y = _linear_problem()
    model, offset = nn.Linear(3, 1).double(), nn.Parameter(torch.zeros((), dtype=torch.float64))
    dtypes = set()

    def loss(m, xb, yb, step):
        dtypes.add(xb.dtype)
        return ((m(xb).squeeze(1) + offset - yb) ** 2).mean()

    fit(model, loss, X, y, steps=5, params=[*model.parameters(), offset], progress=False, device="cpu")
    assert dtypes == {torch.float64} and offset.item() != 0.0


def test_a_loss_without_gradient_is_recorded_and_its_step_skipped():
    model = nn.Linear(3, 1)
    before = model.weight.detach().clone()
    history = fit(model, lambda m, xb, yb, s: torch.zeros(()), *_linear_problem(), steps=4, progress=False)
    assert torch.equal(model.weight.detach().cpu(), before) and np.all(history == 0)


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

    def loss(m, xb, yb, s):
        return m(xb).sum()

    with pytest.raises(ValueError, match="X and y"):
        fit(nn.Linear(3, 1), loss, X, y[:-1], progress=False)
    with pytest.raises(ValueError, match="X contains NaN"):
        fit(nn.Linear(3, 1), loss, np.full_like(X, np.nan), y, progress=False)
    with pytest.raises(TypeError, match="model"):
        fit("not a model", loss, X, y, progress=False)
    with pytest.raises(TypeError, match="loss_fn"):
        fit(nn.Linear(3, 1), None, X, y, progress=False)
    with pytest.raises(ValueError, match="either X and y, or batches"):
        fit(nn.Linear(3, 1), loss, X, y, batches=lambda s, r: (X, y), progress=False)
    with pytest.raises(ValueError, match="either X and y, or batches"):
        fit(nn.Linear(3, 1), loss, progress=False)
    with pytest.raises(TypeError, match="batches"):
        fit(nn.Linear(3, 1), loss, batches=3, progress=False)
    with pytest.raises(ValueError, match="clip_norm"):
        fit(nn.Linear(3, 1), loss, X, y, clip_norm=0.0, progress=False)
