"""Checkers for the exercises of Part IV: call one with your answer to see whether it is right."""

from __future__ import annotations

import numpy as np

from scratchbook.book import call_or_none, report_check

__all__ = [
    "check_auxiliary_step",
    "check_continuation_kd_loss",
    "check_dylora_forward",
    "check_kd_loss",
    "check_running_average",
    "check_glitter_pick",
]


def check_kd_loss(fn) -> bool:
    """Check ``fn(zs, zt, y, T, alpha) -> float``: the KD loss of NumPy logits (Eq. kd-loss of chapter 4.1)."""
    import torch

    from scratchbook.compact.distillation import kd_loss

    rng = np.random.default_rng(0)
    zs, zt, y = 3 * rng.normal(size=(6, 4)), 3 * rng.normal(size=(6, 4)), rng.integers(0, 4, size=6)
    ok = True
    for T, alpha in ((1.0, 0.0), (1.0, 0.5), (4.0, 0.9), (20.0, 1.0)):
        answer = call_or_none(fn, zs.copy(), zt.copy(), y.copy(), T, alpha)
        if answer is None:
            return False
        expected = kd_loss(torch.as_tensor(zs), torch.as_tensor(zt), torch.as_tensor(y), T, alpha).item()
        ok &= report_check(
            f"loss at T = {T}, α = {alpha}",
            answer,
            expected,
            hint="(1 − α)·CE at T = 1 + α·T²·KL(q_t ‖ q_s) at temperature T, both averaged over rows.",
        )
    return bool(ok)


def check_dylora_forward(fn) -> bool:
    """Check ``fn(x, W, c, A, B, alpha, b) -> y``: a DyLoRA layer's output at rank b (Eq. lora-dylora)."""
    import torch
    from torch import nn

    from scratchbook.compact.lora import DyLoRALinear

    rng = np.random.default_rng(0)
    n_in, n_out, r, alpha = 5, 3, 4, 2.0
    x = rng.normal(size=(6, n_in))
    base = nn.Linear(n_in, n_out).double()
    layer = DyLoRALinear(base, r, alpha).eval()
    with torch.no_grad():
        layer.lora_A.copy_(torch.as_tensor(rng.normal(size=(r, n_in))))
        layer.lora_B.copy_(torch.as_tensor(rng.normal(size=(n_out, r))))
    W, c = base.weight.detach().numpy(), base.bias.detach().numpy()
    A, B = layer.lora_A.detach().numpy(), layer.lora_B.detach().numpy()
    ok = True
    for b in (1, 3, r):
        answer = call_or_none(fn, x.copy(), W.copy(), c.copy(), A.copy(), B.copy(), alpha, b)
        if answer is None:
            return False
        with torch.no_grad():
            expected = layer.set_rank(b)(torch.as_tensor(x)).numpy()
        ok &= report_check(
            f"output at rank b = {b}",
            answer,
            expected,
            hint="y = x Wᵀ + c + (α/b) · x A[:b]ᵀ B[:, :b]ᵀ; rows of A and columns of B.",
        )
    return bool(ok)


def check_auxiliary_step(fn) -> bool:
    """Check ``fn(x, w_t, w_s, eta) -> x'``: one ascent step (Eq. bkd-ascent) for linear teacher and student."""
    import torch
    from torch import nn

    from scratchbook.compact.backward_kd import auxiliary_samples

    rng = np.random.default_rng(0)
    x, w_t, w_s = rng.normal(size=(5, 3)), rng.normal(size=3), rng.normal(size=3)
    teacher, student = nn.Linear(3, 1, bias=False).double(), nn.Linear(3, 1, bias=False).double()
    with torch.no_grad():
        teacher.weight.copy_(torch.as_tensor(w_t)[None])
        student.weight.copy_(torch.as_tensor(w_s)[None])
    ok = True
    for eta in (0.1, 0.5):
        answer = call_or_none(fn, x.copy(), w_t.copy(), w_s.copy(), eta)
        if answer is None:
            return False
        expected = auxiliary_samples(student, teacher, torch.as_tensor(x), eta).numpy()
        ok &= report_check(
            f"auxiliary samples at η = {eta}",
            answer,
            expected,
            hint="x' = x + η · 2 ((w_t − w_s)ᵀx) (w_t − w_s), one row per sample.",
        )
    return bool(ok)


def check_continuation_kd_loss(fn) -> bool:
    """Check ``fn(s, t, phi, margin) -> float``: the continuation KD loss of NumPy logits (Eq. ckd-loss)."""
    import torch

    from scratchbook.compact.continuation import continuation_kd_loss

    rng = np.random.default_rng(0)
    s, t = rng.normal(size=(8, 3)), rng.normal(size=(8, 3))
    ok = True
    for phi, margin in ((1.0, 0.0), (0.25, 1.0), (0.5, 4.0), (0.75, 100.0)):
        answer = call_or_none(fn, s.copy(), t.copy(), phi, margin)
        if answer is None:
            return False
        expected = continuation_kd_loss(torch.as_tensor(s), torch.as_tensor(t), phi, margin).item()
        ok &= report_check(
            f"loss at φ = {phi}, margin = {margin}",
            answer,
            expected,
            hint="mean over rows of max(0, ‖s − φ t‖² − margin · φ); the norm is squared, per row.",
        )
    return bool(ok)


def check_running_average(fn) -> bool:
    """Check ``fn(average, w, n) -> new average``: SWA's running mean (Eq. swa-running) against AveragedModel."""
    import torch
    from torch import nn
    from torch.optim.swa_utils import AveragedModel

    rng = np.random.default_rng(0)
    layer = nn.Linear(3, 2).double()
    averaged = AveragedModel(layer)
    average = np.zeros(8)
    for n in range(5):
        w = rng.normal(size=8)
        nn.utils.vector_to_parameters(torch.as_tensor(w), layer.parameters())
        averaged.update_parameters(layer)
        average = call_or_none(fn, average.copy(), w.copy(), n)
        if average is None:
            return False
        expected = nn.utils.parameters_to_vector(averaged.module.parameters()).detach().numpy()
        if not report_check(
            f"average of {n + 1} weight vector{'s' if n else ''}",
            average,
            expected,
            hint="w̄ + (w − w̄) / (n + 1), where n counts the vectors already in w̄.",
        ):
            return False
    return True


def check_glitter_pick(fn) -> bool:
    """Check ``fn(student_logits, teacher_logits, k, T) -> indices``: Glitter's top-k (Eqs. glitter-div, -select)."""
    import torch

    from scratchbook.compact.backward_kd import divergence
    from scratchbook.compact.glitter import glitter_select

    rng = np.random.default_rng(0)
    ok = True
    for n, k2, k, T in ((5, 8, 1, 1.0), (4, 6, 3, 2.0)):
        s, t = rng.normal(size=(n, k2, 10)), 2 * rng.normal(size=(n, k2, 10))
        answer = call_or_none(fn, s.copy(), t.copy(), k, T)
        if answer is None:
            return False
        scores = divergence(torch.as_tensor(s).flatten(0, 1), torch.as_tensor(t).flatten(0, 1), "kl", T)
        expected = glitter_select(scores.view(n, k2), k).numpy()
        ok &= report_check(
            f"the {k} chosen candidate{'s' if k > 1 else ''} of each row (T = {T})",
            answer,
            expected,
            hint="KL(teacher ‖ student) of the softmaxes at temperature T over the "
            "last axis, then the k largest per row, largest first.",
        )
    return bool(ok)
