"""Glitter: train on the few pre-generated augmentations the student finds hardest.

Each training example comes with a fixed pool of k₂ augmentations, made once before training
(:func:`augment_pool`). At every step Glitter runs the student, without gradient, on the whole pool of
each example in the mini-batch, scores every candidate by its divergence from the teacher
(:func:`scratchbook.compact.backward_kd.divergence`, Eq. (glitter-div) of chapter 4.4), keeps the k₁
highest (:func:`glitter_select`) and distils on the original examples plus those k₁ augmentations
only (:class:`AugmentedKD`, Eq. (glitter-loss)).
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from scipy import ndimage
from sklearn.model_selection import train_test_split
from sklearn.utils import Bunch
from torch import nn

from scratchbook._validation import check_int, check_option, check_real
from scratchbook.compact.backward_kd import divergence
from scratchbook.compact.distillation import kd_loss
from scratchbook.compact.tasks import digits_transfer
from scratchbook.compact.training import fit, make_mlp, train_classifier
from scratchbook.utils import get_device

__all__ = ["glitter_select", "augment_pool", "AugmentedKD", "distill_with_pool", "digits_glitter_task"]

STRATEGIES = ("none", "all", "random", "glitter")


def _check_selection(divergences, k) -> int:
    """The checks of :func:`glitter_select`: a 2-D tensor without NaN, 1 ≤ k ≤ its number of columns."""
    if not isinstance(divergences, torch.Tensor):
        raise TypeError(f"divergences must be a torch.Tensor, got {type(divergences).__name__}")
    if divergences.ndim != 2 or divergences.shape[1] == 0:
        raise ValueError(f"divergences must be 2-D (examples × candidates), got shape {tuple(divergences.shape)}")
    if torch.isnan(divergences).any():
        raise ValueError("divergences contains NaN")
    return check_int("k", k, low=1, high=divergences.shape[1])


def glitter_select(divergences: torch.Tensor, k: int) -> torch.Tensor:
    """The column indices (n × k, int64) of the k largest entries of each row, largest first.

    Implements the top-k₁ selection of Eq. (glitter-select) of chapter 4.4. Ties go to the lower
    column index, so the choice is deterministic; NaN is rejected.
    """
    k = _check_selection(divergences, k)
    order = torch.sort(divergences, dim=1, descending=True, stable=True).indices
    return order[:, :k]


def augment_pool(
    X: np.ndarray,
    k2: int,
    random_state: int = 0,
    max_angle: float = 15.0,
    max_shift: float = 1.0,
    noise: float = 0.05,
    erase: float = 0.5,
) -> np.ndarray:
    """A fixed pool of ``k2`` random augmentations of each flattened 8×8 image in ``X`` → (n, k2, 64).

    Each candidate is the image rotated by a uniform angle in ±``max_angle`` degrees, shifted by a
    uniform (sub-)pixel offset in ±``max_shift`` along each axis, with probability ``erase`` a random
    3×3 patch set to zero, plus Gaussian pixel noise of standard deviation ``noise``; clipped to [0, 1].
    """
    X = np.asarray(X, dtype=float)
    if X.ndim != 2 or X.shape[1] != 64:
        raise ValueError(f"X must be n×64 (flattened 8×8 images), got shape {X.shape}")
    k2 = check_int("k2", k2, low=1)
    max_angle = check_real("max_angle", max_angle, low=0.0)
    max_shift = check_real("max_shift", max_shift, low=0.0)
    noise = check_real("noise", noise, low=0.0)
    erase = check_real("erase", erase, low=0.0, high=1.0)
    rng = np.random.default_rng(check_int("random_state", random_state, low=0))
    pool = np.empty((len(X), k2, 8, 8))
    for i, image in enumerate(X.reshape(-1, 8, 8)):
        for j in range(k2):
            out = ndimage.rotate(image, rng.uniform(-max_angle, max_angle), reshape=False, order=1)
            out = ndimage.shift(out, rng.uniform(-max_shift, max_shift, size=2), order=1)
            if rng.random() < erase:
                r, c = rng.integers(0, 6, size=2)
                out[r : r + 3, c : c + 3] = 0.0
            pool[i, j] = out + noise * rng.normal(size=(8, 8))
    return np.clip(pool, 0.0, 1.0).reshape(len(X), k2, 64)


class AugmentedKD:
    """A loss for :func:`~scratchbook.compact.training.fit`: distillation on originals plus chosen augmentations.

    Rows of ``X`` given to ``fit`` are (1 + k₂) × features: the original example, then its pool.
    ``strategy`` picks the augmentations distilled on at each step: "none", "all" k₂, "random" k₁ or
    "glitter" k₁ (Eq. (glitter-loss) of chapter 4.4). The counters ``forward_`` and ``backward_`` add
    up the student's sample passes (the selection's gradient-free forward passes included).

    The caller's ``teacher`` is left untouched: the loss keeps its own copy, on the device of
    :func:`~scratchbook.utils.get_device` and in eval mode.
    """

    def __init__(
        self,
        teacher: nn.Module,
        strategy: str = "glitter",
        k1: int = 1,
        temperature: float = 2.0,
        alpha: float = 0.5,
        random_state: int = 0,
    ) -> None:
        if not isinstance(teacher, nn.Module):
            raise TypeError(f"teacher must be a torch.nn.Module, got {type(teacher).__name__}")
        self.teacher = copy.deepcopy(teacher).to(get_device()).eval()
        self.strategy = check_option("strategy", strategy, STRATEGIES)
        self.k1 = check_int("k1", k1, low=1)
        self.temperature = check_real("temperature", temperature, low=0.0, strict_low=True)
        self.alpha = check_real("alpha", alpha, low=0.0, high=1.0)
        self.generator = torch.Generator().manual_seed(check_int("random_state", random_state, low=0))
        self.forward_, self.backward_ = 0, 0

    def select(self, student: nn.Module, pool: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
        """The indices (b × k) of the pool's candidates to train on, one row per example."""
        b, k2 = pool.shape[:2]
        if self.strategy == "all":
            return torch.arange(k2, device=pool.device).expand(b, k2)
        if self.k1 > k2:
            raise ValueError(f"k1 must be <= the pool size k2 = {k2}, got {self.k1}")
        if self.strategy == "random":
            scores = torch.rand(b, k2, generator=self.generator).to(pool.device)
        else:
            with torch.no_grad():  # Eq. (glitter-div), one score per candidate
                s = student(pool.flatten(0, 1))
                scores = divergence(s, teacher_logits.flatten(0, 1), "kl", self.temperature).view(b, k2)
            self.forward_ += b * k2
        return glitter_select(scores, self.k1)

    def __call__(self, student: nn.Module, xb: torch.Tensor, yb: torch.Tensor, step: int) -> torch.Tensor:
        """Eq. (glitter-loss): distillation on the originals, the teacher's soft labels on the chosen candidates."""
        if xb.ndim != 3:
            raise ValueError(f"each row of X must be (1 + k2) × features, got a batch of shape {tuple(xb.shape)}")
        b = len(xb)
        with torch.no_grad():
            t_all = self.teacher(xb)
        self.forward_ += b
        self.backward_ += b
        loss = kd_loss(student(xb[:, 0]), t_all[:, 0], yb, self.temperature, self.alpha)
        if self.strategy == "none":
            return loss
        idx = self.select(student, xb[:, 1:], t_all[:, 1:]) + 1  # +1: column 0 is the original
        rows = torch.arange(b, device=xb.device)[:, None]
        x_aug, t_aug = xb[rows, idx].flatten(0, 1), t_all[rows, idx].flatten(0, 1)
        self.forward_ += len(x_aug)
        self.backward_ += len(x_aug)
        # alpha = 1: only the teacher labels an augmentation (its class may have changed)
        return loss + kd_loss(student(x_aug), t_aug, yb.repeat_interleave(idx.shape[1]), self.temperature, 1.0)


def distill_with_pool(
    teacher: nn.Module,
    X: np.ndarray,
    y: np.ndarray,
    pool: np.ndarray,
    strategy: str = "glitter",
    k1: int = 1,
    hidden: int = 32,
    steps: int = 300,
    batch_size: int = 32,
    lr: float = 1e-2,
    temperature: float = 2.0,
    alpha: float = 0.5,
    random_state: int = 0,
    progress: bool = False,
) -> tuple[nn.Sequential, AugmentedKD]:
    """Distil a features → ``hidden`` → classes student from ``teacher`` on (X, y) and its ``pool`` (via fit).

    Returns the student and its :class:`AugmentedKD` loss, whose counters hold the training cost.
    Like :class:`AugmentedKD`, it leaves the caller's ``teacher`` untouched (the loss works on a copy).
    """
    if not isinstance(teacher, nn.Module):
        raise TypeError(f"teacher must be a torch.nn.Module, got {type(teacher).__name__}")
    linears = [m for m in teacher.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError("teacher must contain an nn.Linear layer (its last one gives the number of classes)")
    X, pool = np.asarray(X, dtype=np.float32), np.asarray(pool, dtype=np.float32)
    if pool.ndim != 3 or pool.shape[0] != len(X) or pool.shape[2] != X.shape[1]:
        raise ValueError(f"pool must be n × k2 × features for X of shape {X.shape}, got shape {pool.shape}")
    n_classes = linears[-1].out_features
    student = make_mlp([X.shape[1], hidden, n_classes], random_state=random_state)
    loss = AugmentedKD(teacher, strategy, k1, temperature, alpha, random_state)
    fit(
        student,
        loss,
        np.concatenate([X[:, None], pool], axis=1),
        y,
        steps=steps,
        batch_size=batch_size,
        lr=lr,
        random_state=random_state,
        progress=progress,
    )
    return student, loss


def digits_glitter_task(n_labelled: int = 200, k2: int = 16, teacher_steps: int = 300) -> Bunch:
    """Chapter 4.4's task: a teacher on all upright training digits, a few labelled ones and their pool.

    The teacher is a 64 → 128 → 10 perceptron trained on the training half of :func:`digits_transfer`;
    ``n_labelled`` of those digits (a stratified draw) each get a pool of ``k2`` augmentations. Returns
    a Bunch with ``teacher``, ``X``, ``y``, ``pool`` and the upright test digits ``X_test``, ``y_test``.
    """
    n_labelled = check_int("n_labelled", n_labelled, low=10, high=800)
    data = digits_transfer()
    teacher = make_mlp([64, 128, 10], random_state=0)
    train_classifier(
        teacher, data.X_train, data.y_train, steps=check_int("teacher_steps", teacher_steps, low=1), progress=False
    )
    X, _, y, _ = train_test_split(
        data.X_train, data.y_train, train_size=n_labelled, stratify=data.y_train, random_state=0
    )
    return Bunch(
        teacher=teacher, X=X, y=y, pool=augment_pool(X, k2, random_state=0), X_test=data.X_test, y_test=data.y_test
    )
