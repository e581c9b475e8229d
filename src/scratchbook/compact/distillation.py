"""Knowledge distillation and label regularization: soft targets, the KD loss, virtual teachers.

Chapter 4.1 derives :func:`kd_loss` (Eq. kd-loss) and shows that label smoothing and teacher-free
distillation are the same loss with a teacher that ignores the input. :func:`distill` trains a student
with it through :func:`scratchbook.compact.training.fit`.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from scratchbook._validation import check_int, check_real
from scratchbook.compact.tasks import digits_few_labels
from scratchbook.compact.training import accuracy, fit, make_mlp, train_classifier

__all__ = [
    "soft_targets",
    "kd_loss",
    "label_smoothing_targets",
    "label_smoothing_loss",
    "virtual_teacher",
    "distill",
    "pretrain_masked_pixels",
    "denoising_pretrained_mlp",
    "kd_teacher",
    "compare_regularizers",
]

Teacher = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _check_logits(name: str, logits: torch.Tensor) -> torch.Tensor:
    """A 2-D float tensor of logits, one row per sample."""
    if not isinstance(logits, torch.Tensor) or not logits.is_floating_point():
        raise TypeError(f"{name} must be a float torch.Tensor, got {type(logits).__name__}")
    if logits.ndim != 2:
        raise ValueError(f"{name} must be n_samples × n_classes, got shape {tuple(logits.shape)}")
    return logits


def _check_targets(targets: torch.Tensor, n: int, n_classes: int) -> torch.Tensor:
    """Integer class labels, one per sample, in [0, n_classes)."""
    if not isinstance(targets, torch.Tensor) or targets.dtype not in (torch.int64, torch.int32):
        raise TypeError(f"targets must be an integer torch.Tensor of class labels, got {targets!r:.60}")
    if targets.shape != (n,):
        raise ValueError(f"targets must have shape ({n},), got {tuple(targets.shape)}")
    if n and (targets.min() < 0 or targets.max() >= n_classes):
        raise ValueError(f"targets must be class labels in [0, {n_classes}), got {targets.min()}…{targets.max()}")
    return targets


def _check_kd_args(student_logits, teacher_logits, targets, temperature, alpha) -> tuple[float, float]:
    """The checks of :func:`kd_loss`: logits of one shape, labels in range, T > 0, 0 ≤ α ≤ 1."""
    _check_logits("student_logits", student_logits)
    _check_logits("teacher_logits", teacher_logits)
    if teacher_logits.shape != student_logits.shape:
        raise ValueError(
            f"teacher_logits must have the student's shape {tuple(student_logits.shape)}, "
            f"got {tuple(teacher_logits.shape)}"
        )
    _check_targets(targets, *student_logits.shape)
    return check_real("temperature", temperature, low=0.0, strict_low=True), check_real(
        "alpha", alpha, low=0.0, high=1.0
    )


def soft_targets(logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """The softmax of ``logits / temperature`` over the last axis (Eq. kd-softmax of chapter 4.1)."""
    temperature = check_real("temperature", temperature, low=0.0, strict_low=True)
    return torch.softmax(_check_logits("logits", logits) / temperature, dim=-1)


def kd_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    targets: torch.Tensor,
    temperature: float = 4.0,
    alpha: float = 0.9,
) -> torch.Tensor:
    """Hinton et al.'s distillation loss, Eq. (kd-loss) of chapter 4.1, averaged over the batch.

    (1 − α) · CE(targets, softmax(z_s)) + α · T² · KL(softmax(z_t / T) ‖ softmax(z_s / T)). The
    teacher's logits are treated as constants (no gradient flows into them).
    """
    T, alpha = _check_kd_args(student_logits, teacher_logits, targets, temperature, alpha)
    log_q_s = F.log_softmax(student_logits / T, dim=1)
    log_q_t = F.log_softmax(teacher_logits.detach() / T, dim=1)
    kl = (log_q_t.exp() * (log_q_t - log_q_s)).sum(dim=1).mean()  # = F.kl_div(..., reduction="batchmean")
    return (1 - alpha) * F.cross_entropy(student_logits, targets) + alpha * T**2 * kl


def label_smoothing_targets(
    targets: torch.Tensor, n_classes: int, epsilon: float = 0.1, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Smoothed one-hot rows (1 − ε) · onehot(y) + ε / K of type ``dtype``, Eq. (kd-smooth) of chapter 4.1."""
    n_classes = check_int("n_classes", n_classes, low=2)
    epsilon = check_real("epsilon", epsilon, low=0.0, high=1.0)
    if not isinstance(targets, torch.Tensor) or targets.ndim != 1:
        raise ValueError(f"targets must be a 1-D torch.Tensor of class labels, got {targets!r:.60}")
    _check_targets(targets, len(targets), n_classes)
    return (1 - epsilon) * F.one_hot(targets, n_classes).to(dtype) + epsilon / n_classes


def label_smoothing_loss(logits: torch.Tensor, targets: torch.Tensor, epsilon: float = 0.1) -> torch.Tensor:
    """The cross-entropy with the smoothed targets of :func:`label_smoothing_targets`, batch mean."""
    _check_logits("logits", logits)
    smooth = label_smoothing_targets(targets, logits.shape[1], epsilon, dtype=logits.dtype)
    if len(smooth) != len(logits):
        raise ValueError(f"targets must have one label per row of logits ({len(logits)}), got {len(smooth)}")
    return -(smooth * F.log_softmax(logits, dim=1)).sum(dim=1).mean()


def virtual_teacher(n_classes: int, a: float = 0.9) -> Teacher:
    """Yuan et al.'s hand-made teacher: probability ``a`` on the true class, (1 − a)/(K − 1) elsewhere.

    Returns a function ``(xb, yb) -> logits`` (the log-probabilities, Eq. kd-virtual of chapter 4.1),
    usable as the ``teacher`` of :func:`distill`; ``a = 1/K`` is the uniform teacher of label smoothing.
    This is the book's reading of the paper's equation, not the authors' released code, which applies
    the temperature differently: here the log-probabilities are softened at ``distill``'s temperature
    (with its factor T²), so at T = 4 and ``a = 0.9`` the soft target puts only about 0.25 on the
    true class, a much flatter target than label smoothing with ε = 0.1.
    """
    n_classes = check_int("n_classes", n_classes, low=2)
    a = check_real("a", a, low=1.0 / n_classes, high=1.0)
    if a >= 1.0:
        raise ValueError(f"a must be < 1 (a one-hot teacher has no soft targets), got {a}")
    on, off = math.log(a), math.log((1 - a) / (n_classes - 1))

    def teacher(xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        logits = torch.full((len(yb), n_classes), off, device=yb.device)
        return logits.scatter(1, yb[:, None], on)

    return teacher


def _check_distill_args(teacher, y, temperature, alpha) -> None:
    """The checks of :func:`distill`: a callable teacher, integer labels, T > 0 and 0 ≤ α ≤ 1."""
    if not callable(teacher):
        raise TypeError(f"teacher must be an nn.Module or a function (xb, yb) -> logits, got {type(teacher).__name__}")
    if not np.issubdtype(np.asarray(y).dtype, np.integer):
        raise TypeError(f"y must hold integer class labels, got dtype {np.asarray(y).dtype}")
    check_real("temperature", temperature, low=0.0, strict_low=True)
    check_real("alpha", alpha, low=0.0, high=1.0)


def distill(
    student: nn.Module,
    teacher: nn.Module | Teacher,
    X,
    y,
    temperature: float = 4.0,
    alpha: float = 0.9,
    steps: int = 300,
    batch_size: int = 64,
    lr: float = 1e-2,
    weight_decay: float = 0.0,
    random_state: int = 0,
    progress: bool = True,
    num_threads: int | None = 1,
) -> np.ndarray:
    """Train ``student`` with Adam on :func:`kd_loss` against ``teacher`` (via :func:`fit`); return the losses.

    ``teacher`` is a trained ``nn.Module`` (its logits on each batch, in eval mode and without
    gradient) or a function ``(xb, yb) -> logits`` such as :func:`virtual_teacher`.
    """
    _check_distill_args(teacher, y, temperature, alpha)
    if isinstance(teacher, nn.Module):
        module = teacher.eval()
        teacher = lambda xb, yb: module.to(xb.device)(xb)  # noqa: E731

    def loss_fn(model: nn.Module, xb: torch.Tensor, yb: torch.Tensor, step: int) -> torch.Tensor:
        with torch.no_grad():
            teacher_logits = teacher(xb, yb)
        return kd_loss(model(xb), teacher_logits, yb, temperature, alpha)

    return fit(
        student,
        loss_fn,
        X,
        y,
        steps=steps,
        batch_size=batch_size,
        lr=lr,
        weight_decay=weight_decay,
        random_state=random_state,
        progress=progress,
        num_threads=num_threads,
    )


def pretrain_masked_pixels(
    model: nn.Module, X, mask_rate: float = 0.25, steps: int = 1000, random_state: int = 0, progress: bool = True
) -> np.ndarray:
    """Pre-train ``model`` (64 → … → 64) without labels: rebuild each image from a copy with pixels zeroed.

    Each step zeroes each pixel of the batch with probability ``mask_rate`` and minimizes the squared
    error of the reconstruction of all pixels, summed over pixels and averaged over the batch (a
    denoising autoencoder, the small cousin of masked language modelling). Returns the losses.
    """
    mask_rate = check_real("mask_rate", mask_rate, low=0.0, high=1.0)
    if mask_rate >= 1.0:
        raise ValueError(f"mask_rate must be < 1 (some pixels must be left), got {mask_rate}")
    random_state = check_int("random_state", random_state, low=0)
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 2:
        raise ValueError(f"X must be n_samples × n_features, got shape {X.shape}")
    gen = torch.Generator().manual_seed(random_state)

    def loss_fn(m: nn.Module, xb: torch.Tensor, yb: torch.Tensor, step: int) -> torch.Tensor:
        keep = (torch.rand(xb.shape, generator=gen) >= mask_rate).to(xb.device, xb.dtype)
        return ((m(xb * keep) - yb) ** 2).sum(dim=1).mean()

    return fit(model, loss_fn, X, X, steps=steps, random_state=random_state, progress=progress)


def denoising_pretrained_mlp(X_unlabelled, hidden: int = 32, random_state: int = 0, steps: int = 3000) -> nn.Module:
    """A classifier ``64 → hidden → hidden → 10`` whose hidden layers were pre-trained without labels.

    The hidden layers of a denoising autoencoder ``64 → hidden → hidden → 64`` (seeded by
    ``random_state``) trained by :func:`pretrain_masked_pixels` on ``X_unlabelled`` for ``steps``,
    under a fresh output layer: the one :func:`~scratchbook.compact.training.make_mlp` gives a
    network ``64 → hidden → hidden → 10`` seeded by ``random_state + 1``, so that a network trained
    from scratch with that seed starts from the same head. The pre-trained student of chapter 4.1, and
    the pre-trained network of chapters 4.5 and 4.6.
    """
    hidden = check_int("hidden", hidden, low=1)
    random_state = check_int("random_state", random_state, low=0)
    model = make_mlp([64, hidden, hidden, 64], random_state=random_state)
    pretrain_masked_pixels(model, X_unlabelled, steps=steps, random_state=random_state, progress=False)
    model[-1] = make_mlp([64, hidden, hidden, 10], random_state=random_state + 1)[-1]
    return model


METHODS = ("none", "label smoothing", "teacher-free KD", "KD", "self-distillation")
STUDENTS = ("scratch", "pre-trained")
PRETRAIN_STEPS = 3000
TEACHER_HIDDEN = 128


def kd_teacher(
    X_unlabelled,
    X,
    y,
    seed: int = 0,
    hidden: int = TEACHER_HIDDEN,
    pretrain_steps: int = PRETRAIN_STEPS,
    steps: int = 300,
) -> nn.Module:
    """The KD teacher of chapter 4.1: a wider network ``64 → hidden → hidden → 10``, pre-trained like the student.

    :func:`denoising_pretrained_mlp` on ``X_unlabelled`` (seeded by ``seed + 1000``), then
    ``steps`` of Adam on the cross-entropy with the labelled ``X``, ``y``: the student's own recipe,
    four times wider.
    """
    seed = check_int("seed", seed, low=0)
    teacher = denoising_pretrained_mlp(X_unlabelled, hidden, seed + 1000, pretrain_steps)
    train_classifier(teacher, X, y, steps=steps, random_state=seed, progress=False)
    return teacher.eval()


def compare_regularizers(
    seed: int = 0,
    methods: tuple[str, ...] = METHODS,
    n_labelled: int = 100,
    hidden: int = 32,
    steps: int = 300,
    students: tuple[str, ...] = STUDENTS,
    pretrain_steps: int = PRETRAIN_STEPS,
) -> dict[tuple[str, str], float]:
    """Test accuracy of a small student trained on few labelled digits with each label regularizer (chapter 4.1).

    One trial of chapter 4.1's experiment on :func:`digits_few_labels`: ``n_labelled`` training digits
    drawn with ``seed``; a student MLP ``64 → hidden → hidden → 10`` either freshly initialized or
    pre-trained without labels on all training digits by :func:`pretrain_masked_pixels` (``pretrain_steps``;
    its hidden layers under the scratch student's fresh output layer); for KD the teacher of
    :func:`kd_teacher`, pre-trained in the same way and four times wider, then trained on the same
    labelled digits; for self-distillation the teacher is the student trained without regularization.
    Settings: label smoothing ε = 0.1; teacher-free KD with a = 0.9, T = 4, α = 0.5; KD and
    self-distillation with T = 4, α = 0.9. Returns ``{(student, method): accuracy on the test digits}``
    for the ``students`` asked for and, when KD is among the ``methods``, ``("teacher", "KD")``: the
    KD teacher's own test accuracy.
    """
    seed = check_int("seed", seed, low=0)
    n_labelled = check_int("n_labelled", n_labelled, low=10)
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise ValueError(f"methods must be a non-empty subset of {METHODS}, got {methods!r}")
    if not students or any(s not in STUDENTS for s in students):
        raise ValueError(f"students must be a non-empty subset of {STUDENTS}, got {students!r}")
    data = digits_few_labels(n_labelled, random_state=seed)
    X, y = data.X_train, data.y_train
    sizes = [64, hidden, hidden, 10]
    if "pre-trained" in students:
        pretrained = denoising_pretrained_mlp(data.X_unlabelled, hidden, seed, pretrain_steps)
    teacher = None
    result = {}
    if "KD" in methods:
        teacher = kd_teacher(data.X_unlabelled, X, y, seed, pretrain_steps=pretrain_steps, steps=steps)
        result["teacher", "KD"] = accuracy(teacher, data.X_test, data.y_test)

    def new(student: str) -> nn.Module:
        # the pre-trained hidden layers come with the same fresh output layer as the scratch student's
        return copy.deepcopy(pretrained) if student == "pre-trained" else make_mlp(sizes, random_state=seed + 1)

    kw = dict(steps=steps, random_state=seed, progress=False)
    for student in students:
        base = new(student)
        train_classifier(base, X, y, **kw)
        for method in methods:
            model = base if method == "none" else new(student)
            if method == "label smoothing":
                fit(model, lambda m, xb, yb, step: label_smoothing_loss(m(xb), yb, 0.1), X, y, **kw)
            elif method == "teacher-free KD":
                distill(model, virtual_teacher(10, 0.9), X, y, temperature=4.0, alpha=0.5, **kw)
            elif method == "KD":
                distill(model, teacher, X, y, temperature=4.0, alpha=0.9, **kw)
            elif method == "self-distillation":
                distill(model, base, X, y, temperature=4.0, alpha=0.9, **kw)
            result[student, method] = accuracy(model, data.X_test, data.y_test)
    return result
