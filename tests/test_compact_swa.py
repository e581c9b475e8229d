"""SWA against torch.optim.swa_utils.AveragedModel and the mean of snapshots; the flatness probe."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel

from scratchbook.compact import fit, loss_along, make_mlp, random_direction, running_average, swa_callback

TOL = 1e-6  # float32 weights


def _problem(n=40, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    y = (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 1).astype(int)
    return X, y


def _ce(model, xb, yb, step):
    return nn.functional.cross_entropy(model(xb), yb)


def _flat(model):
    return nn.utils.parameters_to_vector(model.parameters()).detach().cpu().double()


def test_running_average_equals_averaged_model_and_mean_of_snapshots():
    X, y = _problem()
    model = make_mlp([5, 8, 3], random_state=0)
    averaged, mine = AveragedModel(model), copy.deepcopy(model)
    snapshots, count = [], [0]

    def callback(step, m):
        averaged.update_parameters(m)
        running_average(mine, m, count[0])
        count[0] += 1
        snapshots.append(_flat(m))

    fit(model, _ce, X, y, steps=30, batch_size=8, optimizer="sgd", lr=0.5, callback=callback, progress=False)
    mean = torch.stack(snapshots).mean(dim=0)
    assert int(averaged.n_averaged) == 30
    assert torch.allclose(_flat(mine), _flat(averaged.module), atol=TOL)
    assert torch.allclose(_flat(mine), mean, atol=TOL)
    assert (_flat(mine) - _flat(model)).abs().max() > 1e-3  # the average is not the last iterate


def test_running_average_from_zero_copies_and_checks_arguments():
    a, b = make_mlp([3, 4, 2], random_state=0), make_mlp([3, 4, 2], random_state=1)
    running_average(a, b, 0)
    assert torch.allclose(_flat(a), _flat(b), atol=1e-7)  # w̄ + (w − w̄)/1 = w up to rounding
    with pytest.raises(ValueError, match="n_averaged"):
        running_average(a, b, -1)
    with pytest.raises(TypeError, match="n_averaged"):
        running_average(a, b, 1.5)
    with pytest.raises(ValueError, match="same shapes"):
        running_average(make_mlp([3, 5, 2]), b, 1)


@pytest.mark.parametrize("start, every", [(0, 1), (5, 3)])
def test_swa_callback_averages_the_right_steps(start, every):
    X, y = _problem()
    model = make_mlp([5, 8, 3], random_state=0)
    averaged, snapshots = AveragedModel(model), []
    average = swa_callback(averaged, start=start, every=every)

    def callback(step, m):
        average(step, m)
        snapshots.append(_flat(m))

    fit(model, _ce, X, y, steps=20, batch_size=8, optimizer="sgd", lr=0.5, callback=callback, progress=False)
    kept = snapshots[start::every]
    assert int(averaged.n_averaged) == len(kept)
    assert torch.allclose(_flat(averaged.module), torch.stack(kept).mean(dim=0), atol=TOL)


def test_swa_callback_never_fires_when_start_is_past_the_last_step():
    X, y = _problem()
    model = make_mlp([5, 8, 3], random_state=0)
    averaged = AveragedModel(model)
    before = _flat(averaged.module)
    fit(
        model,
        _ce,
        X,
        y,
        steps=5,
        batch_size=8,
        optimizer="sgd",
        lr=0.5,
        callback=swa_callback(averaged, start=5),
        progress=False,
    )
    assert int(averaged.n_averaged) == 0  # steps are 0..4: nothing averaged
    assert torch.equal(_flat(averaged.module), before) and not torch.equal(_flat(model), before)


def test_swa_callback_checks_arguments():
    averaged = AveragedModel(make_mlp([3, 4, 2]))
    with pytest.raises(TypeError, match="averaged"):
        swa_callback(make_mlp([3, 4, 2]))
    with pytest.raises(ValueError, match="start"):
        swa_callback(averaged, start=-1)
    with pytest.raises(ValueError, match="every"):
        swa_callback(averaged, every=0)


def test_random_direction_is_filter_normalized_and_reproducible():
    model = make_mlp([6, 7, 3], random_state=0)
    d = random_direction(model, random_state=3)
    assert set(d) == {name for name, _ in model.named_parameters()}
    for name, p in model.named_parameters():
        assert d[name].shape == p.shape and d[name].dtype == p.dtype
        if p.dim() == 1:
            assert torch.count_nonzero(d[name]) == 0
        else:
            assert torch.allclose(d[name].norm(dim=1), p.detach().norm(dim=1), rtol=1e-5)
            assert not torch.allclose(d[name], p.detach())  # a new direction, not the weights themselves
    again, other = random_direction(model, random_state=3), random_direction(model, random_state=4)
    assert all(torch.equal(d[k], again[k]) for k in d)
    assert not torch.equal(d["0.weight"], other["0.weight"])
    raw = random_direction(model, random_state=3, filter_normalize=False)
    assert torch.count_nonzero(raw["0.bias"]) == 7
    with pytest.raises(ValueError, match="random_state"):
        random_direction(model, random_state=-1)


def test_loss_along_matches_closed_form_for_a_linear_model_and_leaves_it_alone():
    X, y = _problem(n=30)
    model = nn.Linear(5, 3).double()
    before = copy.deepcopy(model.state_dict())
    d = random_direction(model, random_state=0, filter_normalize=False)
    alphas = np.linspace(-1.0, 1.0, 5)
    got = loss_along(model, d, alphas, X, y)
    W, b = model.weight.detach().numpy(), model.bias.detach().numpy()
    dW, db = d["weight"].numpy(), d["bias"].numpy()
    expected = []
    for alpha in alphas:  # mean cross-entropy written out: log-sum-exp minus the true class's logit
        z = X @ (W + alpha * dW).T + (b + alpha * db)
        lse = np.log(np.exp(z - z.max(axis=1, keepdims=True)).sum(axis=1)) + z.max(axis=1)
        expected.append(np.mean(lse - z[np.arange(len(y)), y]))
    np.testing.assert_allclose(got, expected, rtol=1e-10)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    zero = loss_along(model, d, [0.0], X, y)[0]
    with torch.no_grad():
        direct = nn.functional.cross_entropy(model(torch.as_tensor(X)), torch.as_tensor(y)).item()
    assert zero == pytest.approx(direct, rel=1e-12)


def test_loss_along_checks_arguments():
    X, y = _problem(n=10)
    model = make_mlp([5, 4, 3])
    d = random_direction(model)
    with pytest.raises(ValueError, match="direction"):
        loss_along(model, {"0.weight": d["0.weight"]}, [0.0], X, y)
    with pytest.raises(ValueError, match="direction"):
        loss_along(model, {**d, "0.weight": torch.zeros(2, 2)}, [0.0], X, y)
    with pytest.raises(ValueError, match="alphas"):
        loss_along(model, d, [[0.0, 1.0]], X, y)
    with pytest.raises(ValueError, match="X and y"):
        loss_along(model, d, [0.0], X, y[:5])
    with pytest.raises(TypeError, match="model"):
        loss_along("not a model", d, [0.0], X, y)


def test_fine_tune_averages_the_snapshots_and_leaves_the_pretrained_model_alone():
    from torch.nn.utils import parameters_to_vector

    from scratchbook.compact import digits_transfer, fine_tune, make_mlp

    data = digits_transfer()
    pretrained = make_mlp([64, 16, 10], random_state=0)
    before = parameters_to_vector(pretrained.parameters()).detach().clone()
    snapshots = []
    model, averaged = fine_tune(
        pretrained,
        data.Xr_train[:80],
        data.y_train[:80],
        0.05,
        random_state=1,
        steps=30,
        swa_start=12,
        snapshots=snapshots,
    )
    assert len(snapshots) == 30
    expected = torch.stack(snapshots[12:]).mean(dim=0)  # Eq. swa-average, written directly
    got = parameters_to_vector(averaged.parameters()).detach().cpu()
    assert torch.allclose(got, expected, atol=1e-6)
    assert torch.equal(parameters_to_vector(model.parameters()).detach().cpu(), snapshots[-1])
    assert torch.equal(parameters_to_vector(pretrained.parameters()).detach().cpu(), before.cpu())
    plain, none = fine_tune(
        pretrained, data.Xr_train[:80], data.y_train[:80], 0.05, random_state=1, steps=30, decay=True
    )
    assert none is None and not torch.equal(parameters_to_vector(plain.parameters()).detach().cpu(), snapshots[-1])
    with pytest.raises(ValueError, match="swa_start"):
        fine_tune(pretrained, data.Xr_train[:80], data.y_train[:80], 0.05, steps=30, swa_start=30)
    with pytest.raises(TypeError, match="pretrained"):
        fine_tune("net", data.Xr_train[:80], data.y_train[:80], 0.05)
