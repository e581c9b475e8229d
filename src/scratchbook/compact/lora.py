"""Low-rank adaptation of a frozen linear layer: LoRA, and DyLoRA, which trains every rank at once.

A frozen layer ``y = W x + c`` is adapted by a trainable low-rank update ``ΔW = s · B A`` with
``A`` (r×in) and ``B`` (out×r): Eq. (lora-forward) of chapter 4.6. LoRA uses the scale ``s = α/r``;
DyLoRA uses only the first ``b`` rows of ``A`` and columns of ``B``, with ``s = α/b``, for a rank
``b`` drawn afresh at every training step (Eq. lora-dylora).
"""

from __future__ import annotations

import copy
import math

import numpy as np
import torch
from torch import nn

from scratchbook._validation import check_int, check_option, check_real
from scratchbook.training import LossFn, fit

__all__ = [
    "LoRALinear",
    "DyLoRALinear",
    "add_lora",
    "set_rank",
    "set_train_rank",
    "NestedDropoutLinear",
    "nested_dropout_p",
    "random_rank_loss",
    "svd_reorder",
    "principal_angles",
    "subspace_overlap",
    "fine_tune_adapters",
]


class LoRALinear(nn.Module):
    """A frozen ``nn.Linear`` plus a trainable low-rank update (α/r)·B A (Eq. lora-forward).

    ``lora_A`` (r×in) starts Gaussian with variance 1/in, ``lora_B`` (out×r) at zero, so the layer
    starts equal to ``base``. ``set_rank(b)`` truncates the update to its first ``b`` rank-one
    terms, keeping the scale α/r (the trained terms are used as they are).
    """

    def __init__(self, base: nn.Linear, r: int, alpha: float = 1.0) -> None:
        super().__init__()
        if not isinstance(base, nn.Linear):
            raise TypeError(f"base must be a torch.nn.Linear, got {type(base).__name__}")
        self.r = check_int("r", r, low=1)
        self.alpha = check_real("alpha", alpha, low=0.0, strict_low=True)
        self.base = base
        for p in base.parameters():
            p.requires_grad_(False)
        w = base.weight
        self.lora_A = nn.Parameter(
            torch.randn(self.r, base.in_features, dtype=w.dtype, device=w.device) / math.sqrt(base.in_features)
        )
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, self.r, dtype=w.dtype, device=w.device))
        self.rank = self.r
        self.merged_rank: int | None = None  # the rank merge() added into base.weight

    @property
    def merged(self) -> bool:
        """Whether the update is currently added into ``base.weight``."""
        return self.merged_rank is not None

    def _check_rank(self, b: int) -> int:
        return check_int("b", b, low=1, high=self.r)

    def set_rank(self, b: int) -> LoRALinear:
        """Use only the first ``b`` rank-one terms of the update from now on."""
        if self.merged:
            raise RuntimeError("unmerge() before changing the rank of a merged layer")
        self.rank = self._check_rank(b)
        return self

    def _scale(self, b: int) -> float:
        return self.alpha / self.r  # LoRA: α/r at every rank

    def _forward_rank(self) -> int:
        return self.rank

    def _factors(self, b: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.lora_A[:b], self.lora_B[:, :b]

    def delta_weight(self, b: int | None = None) -> torch.Tensor:
        """The update s·B[:, :b] A[:b] (out×in) at rank ``b`` (default: the rank set by ``set_rank``)."""
        b = self.rank if b is None else self._check_rank(b)
        return self._scale(b) * (self.lora_B[:, :b] @ self.lora_A[:b])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """base(x) + s · x A[:b]ᵀ B[:, :b]ᵀ, without forming the out×in update."""
        if self.merged:
            return self.base(x)
        b = self._forward_rank()
        A, B = self._factors(b)
        return self.base(x) + self._scale(b) * ((x @ A.T) @ B.T)

    @torch.no_grad()
    def merge(self) -> LoRALinear:
        """Add the update at the set rank into the frozen weight: inference then costs one matrix product."""
        if not self.merged:
            self.base.weight += self.delta_weight(self.rank)
            self.merged_rank = self.rank
        return self

    @torch.no_grad()
    def unmerge(self) -> LoRALinear:
        """Subtract exactly the update that :meth:`merge` added (same rank), whatever the mode."""
        if self.merged:
            self.base.weight -= self.delta_weight(self.merged_rank)
            self.merged_rank = None
        return self

    def extra_repr(self) -> str:
        return f"in={self.base.in_features}, out={self.base.out_features}, r={self.r}, alpha={self.alpha}"


class DyLoRALinear(LoRALinear):
    """LoRA trained at a random rank b ∈ {1, …, r} every step, with scale α/b (Eq. lora-dylora).

    In training mode each forward pass uses ``train_rank`` when set (e.g. by :func:`set_train_rank`,
    one rank for the whole model per step), else a rank drawn uniformly from ``generator``. In the
    paper's "frozen" mode only the b-th row of ``lora_A`` and the b-th column of ``lora_B`` receive
    gradient; the earlier ones enter the forward pass detached. In eval mode, and for
    :meth:`merge`, the rank is the one fixed by :meth:`set_rank` (default ``r``): only ``forward``
    ever draws a rank.
    """

    def __init__(
        self, base: nn.Linear, r: int, alpha: float = 1.0, frozen: bool = True, generator: torch.Generator | None = None
    ) -> None:
        super().__init__(base, r, alpha)
        self.frozen = bool(frozen)
        self.generator = generator
        self.train_rank: int | None = None

    def _scale(self, b: int) -> float:
        return self.alpha / b  # DyLoRA: α/b, the scale of a rank-b LoRA

    def _forward_rank(self) -> int:
        if not self.training:
            return self.rank
        if self.train_rank is not None:
            return self.train_rank
        return int(torch.randint(1, self.r + 1, (1,), generator=self.generator))

    def _factors(self, b: int) -> tuple[torch.Tensor, torch.Tensor]:
        A, B = self.lora_A[:b], self.lora_B[:, :b]
        if self.training and self.frozen and b > 1:  # rows/columns before the b-th get no gradient
            A = torch.cat([A[: b - 1].detach(), A[b - 1 :]], dim=0)
            B = torch.cat([B[:, : b - 1].detach(), B[:, b - 1 :]], dim=1)
        return A, B

    def extra_repr(self) -> str:
        return super().extra_repr() + f", frozen={self.frozen}"


class NestedDropoutLinear(DyLoRALinear):
    """LoRA trained with nested dropout (Rippel et al., 2014): a random truncation b, every term ≤ b updated.

    As :class:`DyLoRALinear` with ``frozen=False``, but the scale stays LoRA's α/r at every rank: the
    truncation drops the terms after the b-th, and the kept ones are used as they are. The rank is
    drawn by :func:`random_rank_loss` (a geometric law in :func:`fine_tune_adapters`).
    """

    def __init__(self, base: nn.Linear, r: int, alpha: float = 1.0, generator: torch.Generator | None = None) -> None:
        super().__init__(base, r, alpha, frozen=False, generator=generator)

    def _scale(self, b: int) -> float:
        return self.alpha / self.r


def svd_reorder(model: nn.Module) -> nn.Module:
    """Rewrite each LoRA adapter's update s·B A in the basis of its singular vectors, in place.

    After it, term i of the adapter is the i-th singular triple of ΔW (A's rows the right singular
    vectors, B's columns the left ones times σᵢ / s), so ``set_rank(b)`` keeps the best rank-b
    approximation of ΔW in the Frobenius norm (Eckart–Young): post-hoc ordering of a trained adapter.
    The full-rank update is unchanged. Only :class:`LoRALinear` layers (scale α/r at every rank).
    """
    layers = _adapters(model)
    if any(type(m) is not LoRALinear for m in layers) or not layers:
        raise TypeError("model must hold LoRALinear adapters only (the scale of DyLoRA depends on the rank)")
    with torch.no_grad():
        for m in layers:
            if m.merged:
                raise RuntimeError("unmerge() before reordering a merged layer")
            U, S, Vh = torch.linalg.svd(m.delta_weight(m.r), full_matrices=False)
            k = min(m.r, len(S))  # an r above min(out, in) leaves terms k+1, …, r at zero
            m.lora_A.zero_()
            m.lora_B.zero_()
            m.lora_A[:k] = Vh[:k]
            m.lora_B[:, :k] = U[:, :k] * S[:k] / m._scale(m.r)
    return model


def principal_angles(X, Y) -> np.ndarray:
    """The principal angles (radians, largest first) between the column spaces of ``X`` and ``Y``.

    With orthonormal bases Q_X and Q_Y (from the SVD, so that rank-deficient inputs work), the cosines
    of the angles are the singular values of Q_Xᵀ Q_Y; there are min(rank X, rank Y) of them. The
    angles do not change when a column is rescaled: they compare subspaces, not matrices.
    """
    bases = []
    for name, M in (("X", X), ("Y", Y)):
        M = np.asarray(M.detach().cpu() if isinstance(M, torch.Tensor) else M)
        eps = np.finfo(M.dtype if M.dtype == np.float32 else np.float64).eps  # the precision it was computed in
        M = M.astype(float)
        if M.ndim != 2 or not np.all(np.isfinite(M)):
            raise ValueError(f"{name} must be a finite 2-D array, got shape {M.shape}")
        U, s, _ = np.linalg.svd(M, full_matrices=False)
        rank = int((s > s.max(initial=0.0) * max(M.shape) * eps).sum())
        if rank == 0:
            raise ValueError(f"{name} must have a non-zero column")
        bases.append(U[:, :rank])
    if len(bases[0]) != len(bases[1]):
        raise ValueError(f"X and Y must have the same number of rows, got {len(bases[0])} and {len(bases[1])}")
    cosines = np.linalg.svd(bases[0].T @ bases[1], compute_uv=False)
    return np.arccos(np.clip(cosines, 0.0, 1.0))[::-1].copy()


def subspace_overlap(layer: LoRALinear, b: int) -> float:
    """How much of the column space of the rank-b update lies in the top-b left singular subspace of the rank-r one.

    Both subspaces are spanned by the top-b left singular vectors (of ΔW_b and of ΔW_r); the overlap is
    the mean of cos² over their b principal angles, ‖U_bᵀ V_b‖²_F / b: 1 when they are the same (as for
    an SVD-reordered LoRA adapter, :func:`svd_reorder`). For a random b-dimensional subspace of an
    m-dimensional space holding the top-b one its mean is b/m; the columns of the rank-b update lie in
    the span of ``lora_B``, so m = r here. Scale-free: LoRA's α/r and DyLoRA's α/b give the same value.
    """
    if not isinstance(layer, LoRALinear):
        raise TypeError(f"layer must be a LoRALinear (or DyLoRALinear), got {type(layer).__name__}")
    b = check_int("b", b, low=1, high=min(layer.r, layer.base.out_features))
    with torch.no_grad():
        top = [torch.linalg.svd(layer.delta_weight(k), full_matrices=False)[0][:, :b] for k in (b, layer.r)]
    return float(np.mean(np.cos(principal_angles(*top)) ** 2))


def _adapters(model: nn.Module, cls: type = LoRALinear) -> list[LoRALinear]:
    return [m for m in model.modules() if isinstance(m, cls)]


def set_rank(model: nn.Module, b: int) -> nn.Module:
    """Evaluate every adapter of ``model`` at rank ``b`` (LoRA truncated, DyLoRA at its rank-b scale)."""
    for module in _adapters(model):
        module.set_rank(b)
    return model


def set_train_rank(model: nn.Module, b: int | None) -> None:
    """Make every DyLoRA layer of ``model`` train at rank ``b`` (``None``: each layer draws its own)."""
    for module in _adapters(model, DyLoRALinear):
        module.train_rank = None if b is None else module._check_rank(b)


def _check_rank_law(p, r: int | None = None):
    """``p`` as an array of probabilities (of length ``r`` when given), or None."""
    if p is None:
        return None
    p = np.asarray(p, dtype=float)
    if p.ndim != 1 or np.any(p < 0) or not np.isclose(p.sum(), 1.0):
        raise ValueError("p must be a 1-D array of probabilities summing to 1")
    if r is not None and len(p) != r:
        raise ValueError(f"p must have one probability per rank 1..{r}, got {len(p)}")
    return p


def random_rank_loss(loss_fn: LossFn, rng: np.random.Generator, p=None) -> LossFn:
    """Wrap ``loss_fn`` so that each step first draws one rank b for every DyLoRA layer of the model.

    The rank is drawn from ``rng`` on {1, …, r} (r the smallest of the model's DyLoRA layers):
    uniformly, or with probabilities ``p`` (length r). Pass the generator that
    :func:`scratchbook.training.fit` draws its batches from.
    """
    p = _check_rank_law(p)

    def loss(model: nn.Module, xb: torch.Tensor, yb: torch.Tensor, step: int) -> torch.Tensor:
        ranks = [m.r for m in _adapters(model, DyLoRALinear)]
        if ranks:
            r = min(ranks)
            _check_rank_law(p, r)
            b = int(rng.integers(1, r + 1)) if p is None else int(rng.choice(r, p=p)) + 1
            set_train_rank(model, b)
        return loss_fn(model, xb, yb, step)

    return loss


KINDS = {"lora": LoRALinear, "dylora": DyLoRALinear, "nested": NestedDropoutLinear}
NESTED_RHO = 0.8
"""The ratio of the geometric law of the rank for nested dropout: P(b) ∝ ρ^(b−1), b = 1, …, r."""


def nested_dropout_p(r: int, rho: float = NESTED_RHO) -> np.ndarray:
    """The truncated geometric law P(b) ∝ ρ^(b−1) on b = 1, …, r of nested dropout (Rippel et al., 2014)."""
    r = check_int("r", r, low=1)
    rho = check_real("rho", rho, low=0.0, high=1.0, strict_low=True)
    p = rho ** np.arange(r)
    return p / p.sum()


def add_lora(
    model: nn.Module, r: int, alpha: float = 1.0, kind: str = "lora", exclude: tuple[str, ...] = ()
) -> nn.Module:
    """Replace every ``nn.Linear`` of ``model`` (except the names in ``exclude``) by an adapter, in place.

    ``kind`` is "lora" (:class:`LoRALinear`), "dylora" (:class:`DyLoRALinear`) or "nested"
    (:class:`NestedDropoutLinear`). Every other
    parameter of the model is frozen, so only the adapters train. Returns ``model``.
    """
    check_option("kind", kind, tuple(KINDS))
    r = check_int("r", r, low=1)
    alpha = check_real("alpha", alpha, low=0.0, strict_low=True)
    targets = [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Linear) and name not in exclude]
    if not targets:
        raise ValueError("model has no nn.Linear layer to adapt (check exclude)")
    if any(not name for name, _ in targets):
        raise ValueError("model itself is an nn.Linear: wrap it directly with LoRALinear")
    cls = KINDS[kind]
    for p in model.parameters():
        p.requires_grad_(False)
    for name, linear in targets:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, cls(linear, r, alpha))
    return model


def _check_fine_tune_args(pretrained, train, random_state) -> int:
    """The checks of :func:`fine_tune_adapters`: a module, names of its linear layers, a seed."""
    if not isinstance(pretrained, nn.Module):
        raise TypeError(f"pretrained must be a torch.nn.Module, got {type(pretrained).__name__}")
    linear = sorted(n for n, m in pretrained.named_modules() if isinstance(m, nn.Linear))
    if isinstance(train, str) or not set(train) <= set(linear):
        raise ValueError(f"train must be a tuple of names of linear layers of pretrained ({linear}), got {train!r}")
    return check_int("random_state", random_state, low=0)


def fine_tune_adapters(
    pretrained: nn.Module,
    X,
    y,
    r: int,
    alpha: float = 1.0,
    kind: str = "lora",
    frozen: bool = True,
    train: tuple[str, ...] = (),
    steps: int = 300,
    lr: float = 1e-2,
    random_state: int = 0,
) -> nn.Module:
    """Adapt a copy of ``pretrained`` to (X, y): adapters on its linear layers, cross-entropy, Adam.

    Every ``nn.Linear`` gets an adapter of ``kind`` ("lora", "dylora" with ``frozen``, or "nested")
    except the layers named in ``train``, which are trained in full (e.g. ``("4",)`` for the head of
    a three-layer :func:`~scratchbook.compact.training.make_mlp`). ``random_state`` seeds the
    adapters' initial ``A``, the mini-batches and, for DyLoRA and nested dropout, the rank drawn at
    each step (one for all layers: uniform for DyLoRA, :func:`nested_dropout_p` for nested dropout).
    Returns the adapted model, in eval mode.
    """
    random_state = _check_fine_tune_args(pretrained, train, random_state)
    model = copy.deepcopy(pretrained)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(random_state)
        add_lora(model, r, alpha, kind=kind, exclude=train)
    for module in _adapters(model, DyLoRALinear):
        module.frozen = bool(frozen) and kind == "dylora"
    for name in train:
        for p in model.get_submodule(name).parameters():
            p.requires_grad_(True)
    rng = np.random.default_rng(random_state)

    def cross_entropy(m: nn.Module, xb: torch.Tensor, yb: torch.Tensor, step: int) -> torch.Tensor:
        return nn.functional.cross_entropy(m(xb), yb)

    try:
        p = nested_dropout_p(r) if kind == "nested" else None
        loss = random_rank_loss(cross_entropy, rng, p)
        fit(model, loss, X, y, steps=steps, lr=lr, random_state=rng, progress=False)
    finally:
        set_train_rank(model, None)
    return model
