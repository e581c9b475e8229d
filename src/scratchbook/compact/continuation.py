"""Continuation knowledge distillation: an annealed, margin-insensitive distillation loss.

The student first matches a scaled-down teacher, ``φ·t`` with a small ``φ``, and ignores errors
below a margin; ``φ`` rises to 1 over training, so the target is deformed step by step into the real
one (Eqs. ckd-phi, ckd-loss of chapter 4.3). With ``margin = 0`` this is Annealing KD, and with
``T_max = 1`` as well it is plain regression on the teacher's outputs.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from scratchbook._validation import check_int, check_real
from scratchbook.compact.tasks import digits_few_labels
from scratchbook.compact.training import LossFn, accuracy, fit, make_mlp, predict, train_classifier

__all__ = [
    "annealing_factor",
    "temperature_schedule",
    "psi_schedule",
    "continuation_kd_loss",
    "make_ckd_loss",
    "noisy_teacher",
    "distill_1d",
    "TEACHER_WIDTHS",
    "capacity_gap_trial",
]


def annealing_factor(T: float, T_max: float) -> float:
    """φ(T) = 1 − (T − 1)/T_max (Eq. ckd-phi): 1/T_max at T = T_max, 1 at T = 1."""
    T_max = check_real("T_max", T_max, low=1.0)
    T = check_real("T", T, low=1.0, high=T_max)
    return 1.0 - (T - 1.0) / T_max


def temperature_schedule(step: int, total_steps: int, T_max: int) -> int:
    """The temperature at ``step``: T_max, T_max − 1, …, 1 in ``T_max`` equal phases of ``total_steps``.

    Steps at or after ``total_steps`` stay at T = 1, so the schedule can anneal over a first phase only.
    ``total_steps`` must be at least ``T_max``: with fewer steps some temperatures would get no step.
    """
    step = check_int("step", step, low=0)
    total_steps = check_int("total_steps", total_steps, low=1)
    T_max = check_int("T_max", T_max, low=1)
    if total_steps < T_max:
        raise ValueError(
            f"total_steps must be >= T_max = {T_max} (one step per temperature at least), got {total_steps}"
        )
    return max(1, T_max - step * T_max // total_steps)


def _check_psi_args(step, total_steps, start, end) -> tuple[int, int, float, float]:
    """The checks of :func:`psi_schedule`: step ≥ 0, total_steps ≥ 1 and 0 ≤ start ≤ end ≤ 1."""
    step = check_int("step", step, low=0)
    total_steps = check_int("total_steps", total_steps, low=1)
    start = check_real("start", start, low=0.0, high=1.0)
    return step, total_steps, start, check_real("end", end, low=start, high=1.0)


def psi_schedule(step: int, total_steps: int, start: float = 1.0, end: float = 1.0) -> float:
    """ψ, the weight of the task loss (Eq. ckd-objective): 0 before ``start·total_steps``, 1 from ``end·total_steps``.

    Linear in between; ``start = end`` switches at once (Annealing KD's second phase), and the default
    ``start = end = 1`` never mixes in the task loss.
    """
    step, total_steps, start, end = _check_psi_args(step, total_steps, start, end)
    t = step / total_steps
    if t < start:
        return 0.0
    if t >= end:
        return 1.0
    return (t - start) / (end - start)


def _check_ckd_args(student_logits, teacher_logits, phi, margin) -> tuple[float, float]:
    """The checks of :func:`continuation_kd_loss`: tensors of one shape (n, …), 0 < φ ≤ 1, margin ≥ 0."""
    if not isinstance(student_logits, torch.Tensor) or not isinstance(teacher_logits, torch.Tensor):
        raise TypeError("student_logits and teacher_logits must be torch tensors")
    if student_logits.shape != teacher_logits.shape or student_logits.dim() < 1:
        raise ValueError(
            f"student_logits and teacher_logits must have the same shape (n, ...), got "
            f"{tuple(student_logits.shape)} and {tuple(teacher_logits.shape)}"
        )
    return check_real("phi", phi, low=0.0, high=1.0, strict_low=True), check_real("margin", margin, low=0.0)


def continuation_kd_loss(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, phi: float, margin: float
) -> torch.Tensor:
    """Mean over samples of max(0, ‖s − φ·t‖² − margin·φ) (Eq. ckd-loss).

    ``student_logits`` and ``teacher_logits`` have shape (n, …); the squared norm runs over every
    dimension but the first. The teacher is treated as a constant (no gradient flows to it).
    """
    phi, margin = _check_ckd_args(student_logits, teacher_logits, phi, margin)
    diff = (student_logits - phi * teacher_logits.detach()).reshape(len(student_logits), -1)
    return torch.clamp(diff.pow(2).sum(dim=1) - margin * phi, min=0.0).mean()


def _check_make_ckd_args(teacher, anneal_steps, T_max, margin, task_loss, total_steps, psi_start, psi_end):
    """The checks of :func:`make_ckd_loss`; returns anneal_steps, T_max, margin and total_steps."""
    if not callable(teacher):
        raise TypeError(f"teacher must be callable, got {type(teacher).__name__}")
    if task_loss is not None and not callable(task_loss):
        raise TypeError(f"task_loss must be callable or None, got {type(task_loss).__name__}")
    anneal_steps = check_int("anneal_steps", anneal_steps, low=1)
    T_max = check_int("T_max", T_max, low=1)
    margin = check_real("margin", margin, low=0.0)
    total_steps = anneal_steps if total_steps is None else check_int("total_steps", total_steps, low=1)
    _check_psi_args(0, total_steps, psi_start, psi_end)
    if anneal_steps < T_max:
        raise ValueError(
            f"anneal_steps must be >= T_max = {T_max} (one step per temperature at least), got {anneal_steps}"
        )
    return anneal_steps, T_max, margin, total_steps


def make_ckd_loss(
    teacher: Callable[[torch.Tensor], torch.Tensor],
    anneal_steps: int,
    T_max: int,
    margin: float,
    task_loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    total_steps: int | None = None,
    psi_start: float = 1.0,
    psi_end: float = 1.0,
) -> LossFn:
    """A ``loss_fn`` for :func:`~scratchbook.compact.training.fit`: Eq. ckd-objective at each step.

    ``teacher(xb)`` gives the teacher's outputs (computed without gradient). The temperature falls
    from ``T_max`` to 1 over the first ``anneal_steps`` steps. With a ``task_loss(outputs, yb)`` the
    loss is (1 − ψ)·CKD + ψ·task, ψ from :func:`psi_schedule` over ``total_steps``; without one, ``yb``
    is ignored. ``margin = 0`` gives Annealing KD; ``T_max = 1`` and ``margin = 0`` plain KD (MSE).
    """
    anneal_steps, T_max, margin, total_steps = _check_make_ckd_args(
        teacher, anneal_steps, T_max, margin, task_loss, total_steps, psi_start, psi_end
    )

    def loss_fn(model: nn.Module, xb: torch.Tensor, yb: torch.Tensor, step: int) -> torch.Tensor:
        out = model(xb)
        with torch.no_grad():
            target = teacher(xb)
        phi = annealing_factor(temperature_schedule(step, anneal_steps, T_max), T_max)
        loss = continuation_kd_loss(out, target, phi, margin)
        if task_loss is None:
            return loss
        psi = psi_schedule(step, total_steps, psi_start, psi_end)
        return (1.0 - psi) * loss + psi * task_loss(out, yb)

    return loss_fn


def noisy_teacher(x, amplitude: float = 0.15, frequency: float = 12.0):
    """The toy teacher of chapter 4.3: the smooth curve sin(3x) plus ``amplitude``·sin(``frequency``·x).

    Takes a NumPy array or a torch tensor and returns the same kind; ``amplitude = 0`` is the smooth curve.
    """
    amplitude = check_real("amplitude", amplitude, low=0.0)
    frequency = check_real("frequency", frequency)
    sin = torch.sin if isinstance(x, torch.Tensor) else np.sin
    return sin(3.0 * x) + amplitude * sin(frequency * x)


def distill_1d(
    T_max: int,
    margin: float,
    steps: int = 2000,
    anneal_fraction: float = 0.5,
    random_state: int = 0,
    amplitude: float = 0.15,
    frequency: float = 12.0,
    n_train: int = 128,
    hidden: int = 32,
    lr: float = 1e-2,
    train_steps: int | None = None,
    callback: Callable[[int, nn.Module], None] | None = None,
) -> nn.Module:
    """Distil :func:`noisy_teacher` on ``n_train`` points of [−1, 1] into a 1 → hidden → hidden → 1 MLP.

    Full-batch Adam through :func:`~scratchbook.compact.training.fit` with the loss of
    :func:`make_ckd_loss`, the temperature falling over the first ``anneal_fraction`` of the steps.
    ``T_max = 1, margin = 0`` is plain KD and ``margin = 0`` Annealing KD. ``train_steps`` stops after
    the first steps of that schedule (all ``steps`` by default).
    """
    anneal_fraction = check_real("anneal_fraction", anneal_fraction, low=0.0, high=1.0, strict_low=True)
    steps = check_int("steps", steps, low=1)
    n_train = check_int("n_train", n_train, low=2)
    train_steps = steps if train_steps is None else check_int("train_steps", train_steps, low=1, high=steps)
    X = np.linspace(-1.0, 1.0, n_train, dtype=np.float32)[:, None]
    model = make_mlp([1, hidden, hidden, 1], random_state=random_state)
    loss_fn = make_ckd_loss(
        lambda x: noisy_teacher(x, amplitude, frequency), max(1, round(anneal_fraction * steps)), T_max, margin
    )
    fit(
        model,
        loss_fn,
        X,
        X,
        steps=train_steps,
        batch_size=n_train,
        lr=lr,
        random_state=random_state,
        progress=False,
        callback=callback,
    )
    return model


TEACHER_WIDTHS = (8, 32, 128, 512)
"""The hidden widths of the teachers of chapter 4.3's capacity-gap experiment, smallest to largest."""


def capacity_gap_trial(
    seed: int = 0,
    teacher_widths: tuple[int, ...] = TEACHER_WIDTHS,
    student_hidden: int = 16,
    teacher_steps: int = 1000,
    steps: int = 2000,
    T_max: int = 8,
) -> dict[str, np.ndarray]:
    """One seed of chapter 4.3's capacity-gap experiment: one small student per teacher, plain and annealed.

    Each teacher ``64 → w → w → 10`` (``w`` in ``teacher_widths``, seeded by ``seed + 100``) is trained
    with the cross-entropy on every labelled training digit of :func:`digits_few_labels` for
    ``teacher_steps``; a student ``64 → student_hidden → 10`` (seeded by ``seed``) then regresses the
    teacher's logits on the training digits without labels for ``steps`` (:func:`make_ckd_loss`, no
    margin), with ``T_max = 1`` (plain KD) and with ``T_max`` falling over the first half (Annealing
    KD). Returns, one entry per teacher, the teacher's test accuracy (``"teacher"``), the standard
    deviation of its logits on the training digits (``"logit_std"``) and the students' test accuracies
    (``"plain KD"``, ``"Annealing KD"``).
    """
    seed = check_int("seed", seed, low=0)
    widths = [check_int("teacher_widths", w, low=1) for w in teacher_widths]
    if not widths:
        raise ValueError("teacher_widths must name at least one width")
    student_hidden = check_int("student_hidden", student_hidden, low=1)
    teacher_steps = check_int("teacher_steps", teacher_steps, low=1)
    steps = check_int("steps", steps, low=2)
    T_max = check_int("T_max", T_max, low=2)
    full = digits_few_labels(len(digits_few_labels(10).X_unlabelled), random_state=0)  # every training digit labelled
    X, y = full.X_train, full.y_train
    out = {key: np.zeros(len(widths)) for key in ("teacher", "logit_std", "plain KD", "Annealing KD")}
    for k, width in enumerate(widths):
        teacher = make_mlp([64, width, width, 10], random_state=seed + 100)
        train_classifier(teacher, X, y, steps=teacher_steps, random_state=seed, progress=False)
        teacher.eval()
        out["teacher"][k] = accuracy(teacher, full.X_test, full.y_test)
        out["logit_std"][k] = predict(teacher, X).std()
        for name, t_max in (("plain KD", 1), ("Annealing KD", T_max)):
            student = make_mlp([64, student_hidden, 10], random_state=seed)
            loss_fn = make_ckd_loss(lambda xb, t=teacher: t.to(xb.device)(xb), steps // 2, t_max, 0.0)
            fit(student, loss_fn, X, X, steps=steps, random_state=seed, progress=False)
            out[name][k] = accuracy(student, full.X_test, full.y_test)
    return out
