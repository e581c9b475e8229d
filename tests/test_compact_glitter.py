"""Glitter's selection, augmentation pool and loss against NumPy written out independently."""

import numpy as np
import pytest
import torch
from torch import nn

from scratchbook.compact import AugmentedKD, augment_pool, distill_with_pool, glitter_select
from scratchbook.compact.checks import check_glitter_pick


def _log_softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def _kl(t, s, T):
    """KL(softmax(t/T) ‖ softmax(s/T)) per row, in NumPy."""
    lp, lq = _log_softmax(t / T), _log_softmax(s / T)
    return (np.exp(lp) * (lp - lq)).sum(axis=-1)


@pytest.mark.parametrize("k", [1, 3, 7])
def test_select_matches_a_stable_argsort_with_ties(k):
    rng = np.random.default_rng(0)
    D = rng.integers(0, 4, size=(50, 7)).astype(float)  # many ties
    got = glitter_select(torch.as_tensor(D), k)
    assert got.dtype == torch.int64 and got.shape == (50, k)
    np.testing.assert_array_equal(got.numpy(), np.argsort(-D, axis=1, kind="stable")[:, :k])


def test_select_picks_the_largest_values():
    D = torch.randn(20, 9, generator=torch.Generator().manual_seed(1))
    idx = glitter_select(D, 3)
    chosen = D.gather(1, idx)
    assert torch.equal(chosen, D.topk(3, dim=1).values)


def test_select_rejects_bad_arguments():
    D = torch.rand(4, 5)
    with pytest.raises(TypeError, match="divergences"):
        glitter_select(D.numpy(), 2)
    with pytest.raises(ValueError, match="divergences"):
        glitter_select(D[0], 2)
    for bad in (0, 6):
        with pytest.raises(ValueError, match="k"):
            glitter_select(D, bad)
    with pytest.raises(TypeError, match="k"):
        glitter_select(D, 2.0)
    D[1, 2] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        glitter_select(D, 2)


def test_pool_shape_range_and_reproducibility():
    X = np.random.default_rng(0).random((5, 64))
    a, b, c = augment_pool(X, 4, random_state=1), augment_pool(X, 4, random_state=1), augment_pool(X, 4, random_state=2)
    assert a.shape == (5, 4, 64) and a.min() >= 0 and a.max() <= 1
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_pool_without_transforms_is_the_image_and_erasing_zeroes_one_3x3_patch():
    X = np.random.default_rng(0).uniform(0.1, 1.0, size=(6, 64))  # no zero pixels
    same = augment_pool(X, 3, max_angle=0.0, max_shift=0.0, noise=0.0, erase=0.0)
    np.testing.assert_allclose(same, np.repeat(X[:, None], 3, axis=1), atol=1e-12)
    erased = augment_pool(X, 3, max_angle=0.0, max_shift=0.0, noise=0.0, erase=1.0)
    for i in range(6):
        for j in range(3):
            zero = np.isclose(erased[i, j], 0.0).reshape(8, 8)
            rows, cols = np.nonzero(zero)
            assert zero.sum() == 9 and np.ptp(rows) == 2 and np.ptp(cols) == 2
            np.testing.assert_allclose(erased[i, j][~zero.ravel()], X[i][~zero.ravel()], atol=1e-12)


def test_pool_rejects_bad_arguments():
    X = np.zeros((3, 64))
    with pytest.raises(ValueError, match="X"):
        augment_pool(np.zeros((3, 63)), 2)
    with pytest.raises(ValueError, match="k2"):
        augment_pool(X, 0)
    with pytest.raises(ValueError, match="erase"):
        augment_pool(X, 2, erase=1.5)
    with pytest.raises(ValueError, match="noise"):
        augment_pool(X, 2, noise=-0.1)


def _tiny_problem(b=6, k2=5, d=4, c=3, seed=0):
    torch.manual_seed(seed)
    student, teacher = nn.Linear(d, c).double(), nn.Linear(d, c).double()
    xb = torch.randn(b, 1 + k2, d, dtype=torch.float64)
    yb = torch.randint(0, c, (b,))
    return student, teacher, xb, yb


def _numpy_loss(student, teacher, xb, yb, idx, T, alpha):
    """Eq. (glitter-loss) written out: KD on the originals plus T²·KL on the chosen augmentations."""
    W, c = student.weight.detach().numpy(), student.bias.detach().numpy()
    Wt, ct = teacher.weight.detach().numpy(), teacher.bias.detach().numpy()
    x, y = xb.numpy(), yb.numpy()
    s, t = x @ W.T + c, x @ Wt.T + ct
    ce = -_log_softmax(s[:, 0])[np.arange(len(y)), y].mean()
    loss = (1 - alpha) * ce + alpha * T**2 * _kl(t[:, 0], s[:, 0], T).mean()
    if idx is not None:
        rows = np.arange(len(y))[:, None]
        loss += T**2 * _kl(t[:, 1:][rows, idx], s[:, 1:][rows, idx], T).mean()
    return loss


@pytest.mark.parametrize("k1", [1, 2])
def test_glitter_loss_and_cost_match_the_formula(k1):
    student, teacher, xb, yb = _tiny_problem()
    T, alpha = 2.0, 0.3
    loss_fn = AugmentedKD(teacher, "glitter", k1, temperature=T, alpha=alpha)
    got = loss_fn(student, xb, yb, 0).item()
    s = (xb[:, 1:] @ student.weight.T + student.bias).detach().numpy()
    t = (xb[:, 1:] @ teacher.weight.T + teacher.bias).detach().numpy()
    idx = np.argsort(-_kl(t, s, T), axis=1, kind="stable")[:, :k1]
    assert got == pytest.approx(_numpy_loss(student, teacher, xb, yb, idx, T, alpha), rel=1e-10)
    b, k2 = 6, 5
    assert (loss_fn.forward_, loss_fn.backward_) == (b * (1 + k1) + b * k2, b * (1 + k1))


def test_all_and_none_strategies_match_the_formula_and_cost():
    student, teacher, xb, yb = _tiny_problem()
    every = np.tile(np.arange(5), (6, 1))
    for strategy, idx, passes in (("all", every, 6 * 6), ("none", None, 6)):
        loss_fn = AugmentedKD(teacher, strategy, temperature=3.0, alpha=0.5)
        got = loss_fn(student, xb, yb, 0).item()
        assert got == pytest.approx(_numpy_loss(student, teacher, xb, yb, idx, 3.0, 0.5), rel=1e-10)
        assert loss_fn.forward_ == loss_fn.backward_ == passes


def test_random_selection_is_distinct_reproducible_and_varies():
    student, teacher, xb, _ = _tiny_problem(b=40, k2=8)
    a = AugmentedKD(teacher, "random", 3, random_state=0).select(student, xb[:, 1:], None)
    b = AugmentedKD(teacher, "random", 3, random_state=0).select(student, xb[:, 1:], None)
    assert a.shape == (40, 3) and torch.equal(a, b)
    assert all(len(set(row)) == 3 for row in a.tolist()) and a.min() >= 0 and a.max() < 8
    assert len({tuple(row) for row in a.tolist()}) > 10


def test_glitter_gradient_flows_only_through_the_chosen_samples():
    student, teacher, xb, yb = _tiny_problem()
    loss_fn = AugmentedKD(teacher, "glitter", 1)
    loss_fn(student, xb, yb, 0).backward()
    g = student.weight.grad.clone()
    idx = loss_fn.select(student, xb[:, 1:], teacher(xb[:, 1:])) + 1
    student.weight.grad = None
    kept = xb.gather(1, torch.cat([torch.zeros(6, 1, dtype=torch.long), idx], 1)[:, :, None].expand(-1, -1, 4))
    AugmentedKD(teacher, "all")(student, kept, yb, 0).backward()  # the same samples, nothing to choose
    torch.testing.assert_close(student.weight.grad, g)


def test_augmented_kd_rejects_bad_arguments():
    student, teacher, xb, yb = _tiny_problem()
    with pytest.raises(ValueError, match="strategy"):
        AugmentedKD(teacher, "best")
    with pytest.raises(ValueError, match="k1"):
        AugmentedKD(teacher, "glitter", 0)
    with pytest.raises(TypeError, match="teacher"):
        AugmentedKD(lambda x: x)
    with pytest.raises(ValueError, match="alpha"):
        AugmentedKD(teacher, alpha=1.5)
    with pytest.raises(ValueError, match="k1"):
        AugmentedKD(teacher, "glitter", 6)(student, xb, yb, 0)
    with pytest.raises(ValueError, match="X"):
        AugmentedKD(teacher)(student, xb[:, 0], yb, 0)


def test_distill_with_pool_learns_digits_and_checks_the_pool():
    from sklearn.datasets import load_digits

    from scratchbook.compact import accuracy, make_mlp, train_classifier

    X, y = load_digits(return_X_y=True)
    X = X / 16
    teacher = make_mlp([64, 64, 10])
    train_classifier(teacher, X[:600], y[:600], steps=150, progress=False)
    pool = augment_pool(X[:200], 4)
    student, loss = distill_with_pool(teacher, X[:200], y[:200], pool, "glitter", steps=100)
    assert accuracy(student, X[1000:], y[1000:]) > 0.75
    assert (loss.forward_, loss.backward_) == (100 * 32 * (2 + 4), 100 * 32 * 2)
    with pytest.raises(ValueError, match="pool"):
        distill_with_pool(teacher, X[:200], y[:200], pool[:100])


def test_distill_with_pool_checks_the_teacher():
    X, pool, y = np.zeros((4, 3), np.float32), np.zeros((4, 2, 3), np.float32), np.zeros(4, np.int64)
    with pytest.raises(TypeError, match="^teacher "):
        distill_with_pool(lambda x: x, X, y, pool, steps=1)
    with pytest.raises(ValueError, match="^teacher .*nn.Linear"):
        distill_with_pool(nn.Sequential(nn.ReLU()), X, y, pool, steps=1)


def test_augmented_kd_uses_an_eval_mode_copy_of_the_teacher():
    teacher = nn.Sequential(nn.Linear(3, 2), nn.Dropout(0.5)).train()
    loss = AugmentedKD(teacher)
    assert loss.teacher is not teacher and not loss.teacher.training and teacher.training
    x = torch.randn(4, 3)
    # dropout is off in the copy: its outputs are the plain linear map of the original's weights
    torch.testing.assert_close(loss.teacher.cpu()(x), teacher[0](x))


def test_checker_accepts_the_right_answer_and_rejects_a_wrong_one(capsys):
    def right(s, t, k, T):
        lp = _log_softmax(t / T)
        return np.argsort(-(np.exp(lp) * (lp - _log_softmax(s / T))).sum(-1), axis=1, kind="stable")[:, :k]

    def wrong(s, t, k, T):  # the smallest divergences
        return right(s, t, s.shape[1], T)[:, ::-1][:, :k]

    assert check_glitter_pick(right)
    assert not check_glitter_pick(wrong)
    assert "✗" in capsys.readouterr().out


def test_digits_task_is_a_stratified_subset_with_its_pool():
    from scratchbook.compact import digits_transfer
    from scratchbook.compact.glitter import digits_glitter_task

    task = digits_glitter_task(n_labelled=100, k2=3, teacher_steps=1)
    assert task.X.shape == (100, 64) and task.pool.shape == (100, 3, 64) and task.y.shape == (100,)
    counts = np.bincount(task.y, minlength=10)
    assert counts.max() - counts.min() <= 1
    train = digits_transfer().X_train
    assert all((np.abs(train - x).sum(axis=1) == 0).any() for x in task.X)
    np.testing.assert_array_equal(task.pool, augment_pool(task.X, 3, random_state=0))
    with pytest.raises(ValueError, match="n_labelled"):
        digits_glitter_task(n_labelled=5)


def test_augmented_kd_leaves_the_callers_teacher_untouched():
    from scratchbook.training import fit

    student, teacher, xb, yb = _tiny_problem()
    teacher.train()
    before = [p.detach().clone() for p in teacher.parameters()]
    device = next(teacher.parameters()).device
    loss_fn = AugmentedKD(teacher, "glitter", 1)
    assert teacher.training and next(teacher.parameters()).device == device
    assert loss_fn.teacher is not teacher and not loss_fn.teacher.training
    fit(student, loss_fn, xb.numpy(), yb.numpy(), steps=3, batch_size=3, progress=False)
    assert teacher.training and next(teacher.parameters()).device == device
    for p, q in zip(before, teacher.parameters()):
        assert torch.equal(p, q)
    # the copy computes what the original computes (same weights), so the loss is unchanged
    torch.testing.assert_close(loss_fn.teacher.cpu()(xb), teacher(xb))
