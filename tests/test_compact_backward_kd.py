"""Auxiliary samples of backward-pass distillation against closed-form and finite-difference gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import entropy
from torch import nn

from scratchbook.compact import BackwardKDLoss, auxiliary_samples, divergence, fit, make_mlp
from scratchbook.compact.backward_kd import distill_few_points

TOL = 1e-10  # float64 throughout


def _linear_pair(n_in=3, n_out=2, seed=0):
    gen = torch.Generator().manual_seed(seed)
    student, teacher = nn.Linear(n_in, n_out).double(), nn.Linear(n_in, n_out).double()
    with torch.no_grad():
        for p in (*student.parameters(), *teacher.parameters()):
            p.copy_(torch.randn(p.shape, dtype=torch.float64, generator=gen))
    x = torch.randn(5, n_in, dtype=torch.float64, generator=gen)
    return student, teacher, x


def _linear_gradient(student, teacher, x):
    """∇ₓ ‖(W_t − W_s) x + (c_t − c_s)‖² = 2 (W_t − W_s)ᵀ ((W_t − W_s) x + c_t − c_s) per row."""
    dW = (teacher.weight - student.weight).detach()
    dc = (teacher.bias - student.bias).detach()
    return 2 * (x @ dW.T + dc) @ dW


def test_squared_error_and_kl_match_their_formulas():
    gen = torch.Generator().manual_seed(1)
    s = torch.randn(6, 4, dtype=torch.float64, generator=gen)
    t = torch.randn(6, 4, dtype=torch.float64, generator=gen)
    assert torch.allclose(divergence(s, t), ((s - t) ** 2).sum(dim=1), atol=TOL)
    for T in (1.0, 3.0):
        p, q = torch.softmax(t / T, dim=1).numpy(), torch.softmax(s / T, dim=1).numpy()
        expected = entropy(p, q, axis=1)  # scipy: Σ p log(p / q)
        assert np.allclose(divergence(s, t, "kl", temperature=T).numpy(), expected, atol=TOL)


@pytest.mark.parametrize("normalize", [False, True])
def test_one_step_equals_the_closed_form_gradient_step(normalize):
    student, teacher, x = _linear_pair()
    g = _linear_gradient(student, teacher, x)
    if normalize:
        g = g / g.norm(dim=1, keepdim=True)
    got = auxiliary_samples(student, teacher, x, step_size=0.3, normalize=normalize)
    assert torch.allclose(got, x + 0.3 * g, atol=TOL)


def test_several_steps_iterate_the_closed_form_and_clip_to_bounds():
    student, teacher, x = _linear_pair()
    expected = x.clone()
    for _ in range(3):
        expected = (expected + 0.05 * _linear_gradient(student, teacher, expected)).clamp(-1.0, 1.0)
    got = auxiliary_samples(student, teacher, x, step_size=0.05, n_steps=3, bounds=(-1.0, 1.0))
    assert torch.allclose(got, expected, atol=TOL)
    assert got.min() >= -1.0 and got.max() <= 1.0


@pytest.mark.parametrize("kind", ["squared_error", "kl"])
def test_one_step_equals_a_finite_difference_gradient_for_mlps(kind):
    student, teacher = make_mlp([3, 8, 4], random_state=0).double(), make_mlp([3, 16, 4], random_state=1).double()
    x = torch.randn(4, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    eta, h = 0.1, 1e-6
    fd = torch.zeros_like(x)
    with torch.no_grad():
        for i in range(x.shape[0]):
            for j in range(x.shape[1]):
                e = torch.zeros_like(x)
                e[i, j] = h
                up = divergence(student(x + e), teacher(x + e), kind)[i]
                down = divergence(student(x - e), teacher(x - e), kind)[i]
                fd[i, j] = (up - down) / (2 * h)
    got = auxiliary_samples(student, teacher, x, eta, kind=kind)
    assert torch.allclose(got, x + eta * fd, atol=1e-8)


def test_generation_leaves_both_networks_untouched():
    student, teacher = make_mlp([2, 8, 1], random_state=0), make_mlp([2, 8, 1], random_state=1)
    before = [p.detach().clone() for p in (*student.parameters(), *teacher.parameters())]
    x = torch.randn(5, 2)
    out = auxiliary_samples(student, teacher, x, 0.1, n_steps=2)
    after = list(student.parameters()) + list(teacher.parameters())
    assert all(p.grad is None for p in after)
    assert all(torch.equal(b, a) for b, a in zip(before, after))
    assert not out.requires_grad and not torch.equal(out, x)


def test_loss_is_kd_on_the_batch_plus_kd_on_the_regenerated_pool():
    student, teacher = make_mlp([1, 8, 1], random_state=0).double(), make_mlp([1, 16, 1], random_state=1).double()
    X = np.linspace(-1, 1, 6)[:, None]
    xb = torch.as_tensor(X, dtype=torch.float64)
    with torch.no_grad():
        yb = teacher(xb)
    plain = BackwardKDLoss(teacher, X, 0.1, aux_weight=0.0)
    assert torch.allclose(plain(student, xb, yb, 0), ((student(xb) - yb) ** 2).mean(), atol=TOL)
    assert plain.aux_x_ is None
    loss_fn = BackwardKDLoss(teacher, X, 0.1, n_steps=2, every=5, aux_weight=0.5)
    loss = loss_fn(student, xb, yb, 0)
    pool = auxiliary_samples(student, teacher, xb, 0.1, n_steps=2)
    assert torch.allclose(loss_fn.aux_x_.double(), pool, atol=1e-6)  # the loss stores X as float32
    with torch.no_grad():
        expected = ((student(xb) - yb) ** 2).mean() + 0.5 * ((student(pool) - teacher(pool)) ** 2).mean()
    assert abs(loss.item() - expected.item()) < 1e-5
    first = loss_fn.aux_x_
    with torch.no_grad():
        student[0].bias.add_(0.5)  # the student changes: a regenerated pool must change too
    loss_fn(student, xb, yb, 4)
    assert loss_fn.aux_x_ is first
    loss_fn(student, xb, yb, 5)
    assert loss_fn.aux_x_ is not first and not torch.equal(loss_fn.aux_x_, first)


def test_fit_with_the_loss_lowers_the_distillation_error():
    teacher = make_mlp([1, 16, 1], random_state=1)
    X = np.linspace(-1, 1, 8, dtype=np.float32)[:, None]
    with torch.no_grad():
        Y = teacher(torch.as_tensor(X)).numpy()
    student = make_mlp([1, 8, 1], random_state=0)
    history = fit(
        student,
        BackwardKDLoss(teacher, X, 0.05, n_steps=2, normalize=True, bounds=(-1.0, 1.0)),
        X,
        Y,
        steps=60,
        batch_size=8,
        progress=False,
    )
    assert history[-5:].mean() < 0.5 * history[:5].mean()


def test_random_control_stays_within_its_radius_and_the_bounds():
    teacher = make_mlp([2, 8, 1], random_state=1)
    X = np.random.default_rng(0).uniform(-0.9, 0.9, size=(200, 2)).astype(np.float32)
    loss_fn = BackwardKDLoss(teacher, X, 0.1, n_steps=3, direction="random", bounds=(-1.0, 1.0))
    xb = torch.as_tensor(X)
    loss_fn(make_mlp([2, 4, 1]), xb, teacher(xb), 0)
    moved = (loss_fn.aux_x_ - xb).norm(dim=1)
    assert moved.max() <= 0.3 + 1e-6 and moved.mean() > 0.05
    assert loss_fn.aux_x_.abs().max() <= 1.0


def test_matched_control_moves_every_point_exactly_the_ascent_distance():
    teacher = make_mlp([1, 8, 1], random_state=1)
    X = np.linspace(-0.5, 0.5, 50, dtype=np.float32)[:, None]  # far enough from the bounds: nothing is clipped
    loss_fn = BackwardKDLoss(teacher, X, 0.1, n_steps=3, direction="matched", bounds=(-1.0, 1.0))
    xb = torch.as_tensor(X)
    loss_fn(make_mlp([1, 4, 1]), xb, teacher(xb), 0)
    step = (loss_fn.aux_x_ - xb)[:, 0]
    assert torch.allclose(step.abs(), torch.full_like(step, 0.3), atol=1e-6)  # a random sign, distance K·η
    assert 10 < int((step > 0).sum()) < 40  # both signs occur


def test_bad_arguments_are_named():
    student, teacher, x = _linear_pair()
    with pytest.raises(ValueError, match="step_size"):
        auxiliary_samples(student, teacher, x, -0.1)
    with pytest.raises(ValueError, match="n_steps"):
        auxiliary_samples(student, teacher, x, 0.1, n_steps=0)
    with pytest.raises(ValueError, match="kind"):
        auxiliary_samples(student, teacher, x, 0.1, kind="l1")
    with pytest.raises(ValueError, match="bounds"):
        auxiliary_samples(student, teacher, x, 0.1, bounds=(1.0, -1.0))
    with pytest.raises(TypeError, match="x must"):
        auxiliary_samples(student, teacher, x.numpy(), 0.1)
    with pytest.raises(ValueError, match="x must"):
        auxiliary_samples(student, teacher, x[0], 0.1)
    with pytest.raises(TypeError, match="teacher"):
        auxiliary_samples(student, lambda z: z, x, 0.1)
    with pytest.raises(ValueError, match="temperature"):
        divergence(x, x, "kl", temperature=0.0)
    with pytest.raises(ValueError, match="student_out and teacher_out"):
        divergence(x, x[:, :2])
    with pytest.raises(ValueError, match="every"):
        BackwardKDLoss(teacher, x.numpy(), 0.1, every=0)
    with pytest.raises(ValueError, match="aux_weight"):
        BackwardKDLoss(teacher, x.numpy(), 0.1, aux_weight=-1.0)
    with pytest.raises(TypeError, match="teacher"):
        BackwardKDLoss("net", x.numpy(), 0.1)
    with pytest.raises(ValueError, match="direction"):
        BackwardKDLoss(teacher, x.numpy(), 0.1, direction="descent")
    with pytest.raises(ValueError, match="bounds"):
        BackwardKDLoss(teacher, x.numpy(), 0.1, bounds=(0.0,))
    with pytest.raises(ValueError, match="method"):
        distill_few_points(make_mlp([1, 4, 1]), 8, method="bkd2")
    with pytest.raises(ValueError, match="n_train"):
        distill_few_points(make_mlp([1, 4, 1]), 1)
    with pytest.raises(TypeError, match="teacher"):
        distill_few_points(lambda z: z, 8)
    with pytest.raises(TypeError, match="student_out"):
        divergence(x.numpy(), x)
    with pytest.raises(TypeError, match="teacher_out"):
        divergence(x, [[0.0]])
