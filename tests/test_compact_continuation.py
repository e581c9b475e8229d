"""Continuation KD: the loss against its formula written with loops, its special cases, the schedules."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from scratchbook.compact import (
    annealing_factor,
    continuation_kd_loss,
    distill_1d,
    make_ckd_loss,
    make_mlp,
    noisy_teacher,
    psi_schedule,
    temperature_schedule,
)

TOL = 1e-12  # float64 throughout


def _loop_loss(s, t, phi, margin):
    """mean_i max(0, Σ_j (s_ij − φ t_ij)² − margin·φ), with plain Python loops over a flattened sample."""
    s, t = np.asarray(s).reshape(len(s), -1), np.asarray(t).reshape(len(t), -1)
    total = 0.0
    for si, ti in zip(s, t):
        sq = 0.0
        for a, b in zip(si, ti):
            sq += (a - phi * b) ** 2
        total += max(0.0, sq - margin * phi)
    return total / len(s)


@pytest.mark.parametrize("shape", [(7,), (6, 3), (5, 2, 4)])
@pytest.mark.parametrize("phi, margin", [(1.0, 0.0), (0.25, 0.5), (0.6, 3.0), (0.9, 20.0)])
def test_loss_matches_formula_with_loops(shape, phi, margin):
    rng = np.random.default_rng(0)
    s, t = rng.normal(size=shape), rng.normal(size=shape)
    got = continuation_kd_loss(torch.as_tensor(s), torch.as_tensor(t), phi, margin).item()
    assert got == pytest.approx(_loop_loss(s, t, phi, margin), abs=TOL)


def test_hinge_is_zero_below_the_margin_and_active_above():
    s = torch.tensor([[1.0, 0.0], [0.0, 0.0]], dtype=torch.float64, requires_grad=True)
    t = torch.tensor([[1.2, 0.1], [2.0, 0.0]], dtype=torch.float64)
    # sample 0: ‖s − 0.5 t‖² = 0.16 + 0.0025 = 0.1625 < margin·φ = 0.2; sample 1: 1.0 − 0.2 = 0.8
    loss = continuation_kd_loss(s, t, phi=0.5, margin=0.4)
    assert loss.item() == pytest.approx(0.8 / 2, abs=TOL)
    loss.backward()
    assert torch.equal(s.grad[0], torch.zeros(2, dtype=torch.float64))  # no gradient inside the margin
    assert torch.allclose(s.grad[1], torch.tensor([-1.0, 0.0], dtype=torch.float64), atol=TOL)  # 2(s − φt)/n
    big = continuation_kd_loss(s.detach(), t, phi=0.5, margin=100.0)
    assert big.item() == 0.0


def test_zero_margin_is_annealing_kd_and_phi_one_is_mse():
    rng = np.random.default_rng(1)
    s, t = rng.normal(size=(9, 4)), rng.normal(size=(9, 4))
    for phi in (0.125, 0.5, 1.0):
        annealing_kd = np.mean(np.sum((s - phi * t) ** 2, axis=1))  # Jafari et al. 2021, ‖s − φ t‖²
        got = continuation_kd_loss(torch.as_tensor(s), torch.as_tensor(t), phi, 0.0).item()
        assert got == pytest.approx(annealing_kd, abs=TOL)
    mse = torch.nn.functional.mse_loss(torch.as_tensor(s), torch.as_tensor(t), reduction="sum").item() / len(s)
    assert continuation_kd_loss(torch.as_tensor(s), torch.as_tensor(t), 1.0, 0.0).item() == pytest.approx(mse)


def test_gradient_matches_finite_differences_and_skips_the_teacher():
    rng = np.random.default_rng(2)
    s = torch.as_tensor(rng.normal(size=(5, 3)), dtype=torch.float64).requires_grad_()
    t = torch.as_tensor(rng.normal(size=(5, 3)), dtype=torch.float64).requires_grad_()
    assert torch.autograd.gradcheck(lambda a: continuation_kd_loss(a, t, 0.7, 1.5), (s,))
    continuation_kd_loss(s, t, 0.7, 1.5).backward()
    assert t.grad is None


def test_annealing_factor_end_points_and_monotone():
    assert annealing_factor(8, 8) == pytest.approx(1 / 8)
    assert annealing_factor(1, 8) == 1.0
    assert annealing_factor(1, 1) == 1.0
    phis = [annealing_factor(T, 10) for T in range(10, 0, -1)]  # T falls from T_max to 1
    assert np.all(np.diff(phis) > 0) and phis[-1] == 1.0


def test_temperature_schedule_end_points_equal_phases_and_clamp():
    T = [temperature_schedule(s, 100, 4) for s in range(100)]
    assert T[0] == 4 and T[-1] == 1 and np.all(np.diff(T) <= 0)
    assert [T.count(k) for k in (4, 3, 2, 1)] == [25, 25, 25, 25]
    assert temperature_schedule(100, 100, 4) == temperature_schedule(500, 100, 4) == 1
    assert all(temperature_schedule(s, 10, 1) == 1 for s in range(20))
    assert [temperature_schedule(s, 4, 4) for s in range(5)] == [4, 3, 2, 1, 1]  # total_steps = T_max: one step each


def test_psi_schedule_end_points_ramp_and_switch():
    psi = [psi_schedule(s, 100, 0.5, 0.9) for s in range(101)]
    assert psi[0] == psi[49] == 0.0 and psi[90] == psi[100] == 1.0
    assert psi[70] == pytest.approx(0.5) and np.all(np.diff(psi) >= 0)
    assert psi_schedule(49, 100, 0.5, 0.5) == 0.0 and psi_schedule(50, 100, 0.5, 0.5) == 1.0
    assert all(psi_schedule(s, 100) == 0.0 for s in range(100))  # default: never mixes in the task loss


def test_make_ckd_loss_follows_the_schedules_and_mixes_the_task_loss():
    torch.manual_seed(0)
    model = make_mlp([2, 5, 3], random_state=0).double()
    teacher = make_mlp([2, 4, 3], random_state=1).double()
    x, y = torch.randn(6, 2, dtype=torch.float64), torch.randn(6, 3, dtype=torch.float64)

    def mse(out, target):
        return ((out - target) ** 2).mean()

    loss_fn = make_ckd_loss(
        teacher, anneal_steps=40, T_max=4, margin=0.3, task_loss=mse, total_steps=100, psi_start=0.5, psi_end=1.0
    )
    s, t = model(x).detach().numpy(), teacher(x).detach().numpy()
    for step, T, psi in ((0, 4, 0.0), (15, 3, 0.0), (39, 1, 0.0), (75, 1, 0.5), (99, 1, 0.98)):
        phi = 1 - (T - 1) / 4
        expected = (1 - psi) * _loop_loss(s, t, phi, 0.3) + psi * np.mean((s - y.numpy()) ** 2)
        assert loss_fn(model, x, y, step).item() == pytest.approx(expected, abs=TOL)


def test_noisy_teacher_arrays_and_tensors():
    x = np.linspace(-1, 1, 11)
    assert np.allclose(noisy_teacher(x, 0.2, 7.0), np.sin(3 * x) + 0.2 * np.sin(7 * x), atol=TOL)
    assert torch.allclose(noisy_teacher(torch.as_tensor(x)), torch.as_tensor(np.sin(3 * x) + 0.15 * np.sin(12 * x)))


def test_distill_1d_plain_kd_fits_the_teacher():
    model = distill_1d(T_max=1, margin=0.0, steps=300, amplitude=0.0)
    x = np.linspace(-1, 1, 101, dtype=np.float32)[:, None]
    with torch.no_grad():
        out = model(torch.as_tensor(x)).numpy()[:, 0]
    assert np.sqrt(np.mean((out - np.sin(3 * x[:, 0])) ** 2)) < 0.1


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(phi=0.0), "phi"),
        (dict(phi=1.5), "phi"),
        (dict(margin=-0.1), "margin"),
        (dict(phi="a"), "phi"),
    ],
)
def test_loss_bad_arguments_are_named(kwargs, name):
    args = dict(student_logits=torch.zeros(3, 2), teacher_logits=torch.zeros(3, 2), phi=0.5, margin=0.1) | kwargs
    with pytest.raises((ValueError, TypeError), match=name):
        continuation_kd_loss(**args)


def test_loss_shape_and_type_errors():
    with pytest.raises(ValueError, match="same shape"):
        continuation_kd_loss(torch.zeros(3, 2), torch.zeros(3, 1), 0.5, 0.1)
    with pytest.raises(TypeError, match="teacher_logits"):
        continuation_kd_loss(torch.zeros(3), np.zeros(3), 0.5, 0.1)


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: annealing_factor(0.5, 4), "T"),
        (lambda: annealing_factor(5, 4), "T"),
        (lambda: annealing_factor(1, 0.5), "T_max"),
        (lambda: temperature_schedule(-1, 10, 2), "step"),
        (lambda: temperature_schedule(0, 0, 2), "total_steps"),
        (lambda: temperature_schedule(0, 10, 0), "T_max"),
        (lambda: temperature_schedule(0, 10, 2.5), "T_max"),
        (lambda: temperature_schedule(0, 3, 4), "total_steps"),
        (lambda: make_ckd_loss(abs, 3, 4, 0.1), "anneal_steps"),
        (lambda: psi_schedule(0, 10, 0.8, 0.5), "end"),
        (lambda: psi_schedule(0, 10, -0.1), "start"),
        (lambda: make_ckd_loss("teacher", 10, 2, 0.1), "teacher"),
        (lambda: make_ckd_loss(abs, 10, 2, -1.0), "margin"),
        (lambda: make_ckd_loss(abs, 0, 2, 0.1), "anneal_steps"),
        (lambda: make_ckd_loss(abs, 10, 2, 0.1, task_loss=3), "task_loss"),
        (lambda: noisy_teacher(np.zeros(2), amplitude=-1.0), "amplitude"),
        (lambda: distill_1d(1, 0.0, anneal_fraction=0.0), "anneal_fraction"),
    ],
)
def test_bad_arguments_are_named(call, name):
    with pytest.raises((ValueError, TypeError), match=rf"^{name} "):
        call()


@pytest.mark.parametrize(
    "kwargs, name",
    [({"teacher_widths": ()}, "teacher_widths"), ({"teacher_steps": 0}, "teacher_steps"), ({"T_max": 1}, "T_max")],
)
def test_capacity_gap_trial_names_a_bad_argument(kwargs, name):
    from scratchbook.compact.continuation import capacity_gap_trial

    with pytest.raises(ValueError, match=name):
        capacity_gap_trial(**kwargs)
