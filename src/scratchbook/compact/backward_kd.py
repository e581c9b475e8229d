"""Distillation with the teacher's backward pass: auxiliary samples where teacher and student disagree.

Plain knowledge distillation matches the student to the teacher at the training inputs only.
Jafari et al. (arXiv 2301.12006) move each training input uphill on the teacher–student divergence,
Eq. (bkd-ascent) of chapter 4.2, and train the student on those auxiliary samples too.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from scratchbook._validation import check_int, check_option, check_real
from scratchbook.compact.training import fit, make_mlp

__all__ = ["DIVERGENCES", "divergence", "auxiliary_samples", "BackwardKDLoss", "wiggly_teacher", "distill_few_points"]

DIVERGENCES = ("squared_error", "kl")


def wiggly_teacher(steps: int = 300, random_state: int = 0) -> nn.Sequential:
    """The teacher of chapter 4.2: a 1→64→64→1 perceptron fitted by :func:`fit` to sin 3x + ½ sin 9x."""
    X = np.linspace(-1, 1, 256, dtype=np.float32)[:, None]  # on [−1, 1]
    teacher = make_mlp([1, 64, 64, 1], random_state=random_state)
    fit(
        teacher,
        lambda m, xb, yb, step: (m(xb) - yb).pow(2).mean(),
        X,
        np.sin(3 * X) + 0.5 * np.sin(9 * X),
        steps=steps,
        batch_size=64,
        lr=1e-2,
        random_state=random_state,
        progress=False,
    )
    return teacher.requires_grad_(False)


def divergence(
    student_out: torch.Tensor, teacher_out: torch.Tensor, kind: str = "squared_error", temperature: float = 1.0
) -> torch.Tensor:
    """The per-sample divergence D(t, s) of Eq. (bkd-divergence): squared error, or KL of softmaxes.

    ``"squared_error"`` is ‖t − s‖² summed over the outputs (regression); ``"kl"`` is
    KL(softmax(t/T) ‖ softmax(s/T)) of logits at temperature T (classification). Returns one value per row.
    """
    for name, value in (("student_out", student_out), ("teacher_out", teacher_out)):
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    kind = check_option("kind", kind, DIVERGENCES)
    temperature = check_real("temperature", temperature, low=0.0, strict_low=True)
    if student_out.shape != teacher_out.shape or student_out.ndim != 2:
        raise ValueError(
            f"student_out and teacher_out must be equal (n, k) arrays, got "
            f"{tuple(student_out.shape)} and {tuple(teacher_out.shape)}"
        )
    if kind == "squared_error":
        return (teacher_out - student_out).pow(2).sum(dim=1)
    log_p = torch.log_softmax(teacher_out / temperature, dim=1)
    log_q = torch.log_softmax(student_out / temperature, dim=1)
    return (log_p.exp() * (log_p - log_q)).sum(dim=1)


def _check_bounds(bounds):
    """``bounds`` unchanged if it is None or a pair (low, high) with low < high; else a ValueError."""
    if bounds is not None and (len(bounds) != 2 or not bounds[0] < bounds[1]):
        raise ValueError(f"bounds must be None or a pair (low, high) with low < high, got {bounds!r}")
    return bounds


def _check_ascent_args(student, teacher, x, step_size, n_steps, bounds) -> tuple[float, int]:
    """The checks of :func:`auxiliary_samples`: two modules, a float tensor (n, …), η ≥ 0, K ≥ 1, bounds."""
    for name, net in (("student", student), ("teacher", teacher)):
        if not isinstance(net, nn.Module):
            raise TypeError(f"{name} must be a torch.nn.Module, got {type(net).__name__}")
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if not torch.is_floating_point(x) or x.ndim < 2:
        raise ValueError(f"x must be a floating-point tensor of shape (n, ...), got {x.dtype} {tuple(x.shape)}")
    _check_bounds(bounds)
    return check_real("step_size", step_size, low=0.0), check_int("n_steps", n_steps, low=1)


def auxiliary_samples(
    student: nn.Module,
    teacher: nn.Module,
    x: torch.Tensor,
    step_size: float,
    n_steps: int = 1,
    kind: str = "squared_error",
    normalize: bool = False,
    bounds: tuple[float, float] | None = None,
    temperature: float = 1.0,
) -> torch.Tensor:
    """Move ``x`` ``n_steps`` times uphill on D(t(x), s(x)): Eq. (bkd-ascent) of chapter 4.2.

    Each step is x ← x + η g, with g = ∇ₓ D(t(x), s(x)) per row (the unit vector g/‖g‖ when
    ``normalize``), then clipped to ``bounds`` = (low, high) if given. Only ``x`` is differentiated:
    the parameters of both networks receive no gradient. Rows must not interact inside the networks
    (no batch normalization in training mode), so that each row gets its own gradient.
    """
    step_size, n_steps = _check_ascent_args(student, teacher, x, step_size, n_steps, bounds)
    x = x.detach().clone()
    for _ in range(n_steps):
        x.requires_grad_(True)
        d = divergence(student(x), teacher(x), kind, temperature).sum()
        (g,) = torch.autograd.grad(d, x)  # only x: no parameter gets a .grad
        if normalize:
            norms = g.flatten(1).norm(dim=1).clamp_min(1e-12)
            g = g / norms.view(-1, *[1] * (g.ndim - 1))
        x = (x + step_size * g).detach()
        if bounds is not None:
            x = x.clamp(bounds[0], bounds[1])
    return x


class BackwardKDLoss:
    """A ``loss_fn`` for :func:`~scratchbook.compact.training.fit`: Eq. (bkd-loss) of chapter 4.2.

    The loss is the mean divergence between student and teacher outputs on the batch (``y`` holds the
    teacher's outputs for ``X``) plus ``aux_weight`` times the same on a batch of auxiliary samples.
    Every ``every`` steps the auxiliary pool ``aux_x_`` is regenerated from all of ``X`` with
    :func:`auxiliary_samples` and the current student, and labelled by the teacher (``aux_t_``).
    ``aux_weight=0`` is plain distillation (nothing is generated). ``direction="random"`` is a control:
    each row moves a uniform random distance in [0, ``n_steps`` · ``step_size``] along a random unit
    direction (then clipped to ``bounds``), with no gradient and on the same schedule: random directions,
    distances up to the same maximum as the ascent's. ``direction="matched"`` is the distance-matched
    control: each row moves exactly ``n_steps`` · ``step_size`` along a random unit direction (in one
    dimension, a random sign), the distance a normalized ascent travels unless clipped or turned back.
    """

    def __init__(
        self,
        teacher: nn.Module,
        X,
        step_size: float,
        n_steps: int = 1,
        every: int = 10,
        kind: str = "squared_error",
        normalize: bool = False,
        bounds: tuple[float, float] | None = None,
        aux_weight: float = 1.0,
        temperature: float = 1.0,
        direction: str = "ascent",
        random_state: int = 0,
    ):
        if not isinstance(teacher, nn.Module):
            raise TypeError(f"teacher must be a torch.nn.Module, got {type(teacher).__name__}")
        self.teacher = teacher.eval()
        self.X = torch.as_tensor(np.asarray(X, dtype=np.float32))
        if self.X.ndim < 2 or len(self.X) == 0:
            raise ValueError(f"X must have one row per sample, shape (n, ...), got {tuple(self.X.shape)}")
        self.step_size = check_real("step_size", step_size, low=0.0)
        self.n_steps = check_int("n_steps", n_steps, low=1)
        self.every = check_int("every", every, low=1)
        self.kind = check_option("kind", kind, DIVERGENCES)
        self.normalize, self.bounds = bool(normalize), _check_bounds(bounds)
        self.aux_weight = check_real("aux_weight", aux_weight, low=0.0)
        self.temperature = check_real("temperature", temperature, low=0.0, strict_low=True)
        self.direction = check_option("direction", direction, ("ascent", "random", "matched"))
        self.rng = np.random.default_rng(check_int("random_state", random_state, low=0))
        self.aux_x_: torch.Tensor | None = None
        self.aux_t_: torch.Tensor | None = None

    def __call__(self, student: nn.Module, xb: torch.Tensor, yb: torch.Tensor, step: int) -> torch.Tensor:
        loss = divergence(student(xb), yb, self.kind, self.temperature).mean()
        if self.aux_weight == 0:
            return loss
        if step % self.every == 0 or self.aux_x_ is None:
            self.teacher.to(xb.device)
            X = self.X.to(xb.device, xb.dtype)
            if self.direction == "ascent":
                self.aux_x_ = auxiliary_samples(
                    student,
                    self.teacher,
                    X,
                    self.step_size,
                    self.n_steps,
                    self.kind,
                    self.normalize,
                    self.bounds,
                    self.temperature,
                )
            else:
                self.aux_x_ = self._random_samples(X)
            with torch.no_grad():
                self.aux_t_ = self.teacher(self.aux_x_)
        idx = self.rng.choice(len(self.aux_x_), size=min(len(xb), len(self.aux_x_)), replace=False)
        idx = torch.as_tensor(idx, device=xb.device)
        aux = divergence(student(self.aux_x_[idx]), self.aux_t_[idx], self.kind, self.temperature).mean()
        return loss + self.aux_weight * aux

    def _random_samples(self, X: torch.Tensor) -> torch.Tensor:
        """The controls: X moved along random unit directions, a uniform random distance in [0, n_steps · η]
        ("random": the same maximum as the normalized ascent) or exactly n_steps · η ("matched")."""
        u = torch.as_tensor(self.rng.normal(size=X.shape), dtype=X.dtype, device=X.device)
        u = u / u.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *[1] * (X.ndim - 1))
        reach = self.n_steps * self.step_size
        distance = self.rng.uniform(0, reach, size=len(X)) if self.direction == "random" else np.full(len(X), reach)
        r = torch.as_tensor(distance, dtype=X.dtype, device=X.device)
        X = X + r.view(-1, *[1] * (X.ndim - 1)) * u
        return X if self.bounds is None else X.clamp(self.bounds[0], self.bounds[1])


def distill_few_points(
    teacher: nn.Module,
    n_train: int,
    method: str = "bkd",
    step_size: float = 0.04,
    n_steps: int = 3,
    steps: int = 300,
    random_state: int = 0,
) -> tuple[nn.Sequential, BackwardKDLoss]:
    """The experiment of chapter 4.2: a 1→32→32→1 student distilled from ``teacher`` at ``n_train`` points.

    The points are evenly spaced on [−1, 1]; ``method`` is ``"kd"`` (plain distillation), ``"bkd"``
    (normalized ascent, clipped to [−1, 1], pool regenerated every 10 steps), ``"random"`` (random
    directions, random distances up to the ascent's) or ``"matched"`` (random directions, the ascent's
    distance).
    Adam, learning rate 0.01, full batches; ``random_state`` seeds the student and the sampling.
    """
    if not isinstance(teacher, nn.Module):
        raise TypeError(f"teacher must be a torch.nn.Module, got {type(teacher).__name__}")
    n_train = check_int("n_train", n_train, low=2)
    method = check_option("method", method, ("kd", "bkd", "random", "matched"))
    X = np.linspace(-1, 1, n_train, dtype=np.float32)[:, None]
    with torch.no_grad():
        Y = teacher(torch.as_tensor(X, device=next(teacher.parameters()).device)).cpu().numpy()
    loss_fn = BackwardKDLoss(
        teacher,
        X,
        step_size,
        n_steps,
        every=10,
        normalize=True,
        bounds=(-1.0, 1.0),
        aux_weight=0.0 if method == "kd" else 1.0,
        direction=method if method in ("random", "matched") else "ascent",
        random_state=random_state,
    )
    student = make_mlp([1, 32, 32, 1], random_state=random_state)
    fit(student, loss_fn, X, Y, steps=steps, batch_size=n_train, lr=1e-2, random_state=random_state, progress=False)
    return student, loss_fn
