"""Low-rank adaptation of a frozen linear layer: LoRA, and DyLoRA, which trains every rank at once.

A frozen layer ``y = W x + c`` is adapted by a trainable low-rank update ``ΔW = s · B A`` with
``A`` (r×in) and ``B`` (out×r): Eq. (lora-forward) of chapter 4.6. LoRA uses the scale ``s = α/r``;
DyLoRA uses only the first ``b`` rows of ``A`` and columns of ``B``, with ``s = α/b``, for a rank
``b`` drawn afresh at every training step (Eq. lora-dylora).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from scratchbook._validation import check_int, check_option, check_real

__all__ = ["LoRALinear", "DyLoRALinear", "add_lora", "set_train_rank"]


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
        self.merged = False

    def _check_rank(self, b: int) -> int:
        return check_int("b", b, low=1, high=self.r)

    def set_rank(self, b: int) -> LoRALinear:
        """Use only the first ``b`` rank-one terms of the update from now on."""
        if self.merged:
            raise RuntimeError("unmerge() before changing the rank of a merged layer")
        self.rank = self._check_rank(b)
        return self

    def scale(self, b: int) -> float:
        """The factor in front of B A at rank ``b``: α/r for LoRA, whatever ``b``."""
        return self.alpha / self.r

    def current_rank(self) -> int:
        """The rank the next forward pass uses."""
        return self.rank

    def _factors(self, b: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.lora_A[:b], self.lora_B[:, :b]

    def delta_weight(self, b: int | None = None) -> torch.Tensor:
        """The update s·B[:, :b] A[:b] (out×in) at rank ``b`` (default: the current rank)."""
        b = self.current_rank() if b is None else self._check_rank(b)
        A, B = self.lora_A[:b], self.lora_B[:, :b]
        return self.scale(b) * (B @ A)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """base(x) + s · x A[:b]ᵀ B[:, :b]ᵀ, without forming the out×in update."""
        if self.merged:
            return self.base(x)
        b = self.current_rank()
        A, B = self._factors(b)
        return self.base(x) + self.scale(b) * ((x @ A.T) @ B.T)

    @torch.no_grad()
    def merge(self) -> LoRALinear:
        """Add the update into the frozen weight, so inference costs one matrix product."""
        if not self.merged:
            self.base.weight += self.delta_weight()
            self.merged = True
        return self

    @torch.no_grad()
    def unmerge(self) -> LoRALinear:
        """Subtract the update from the weight again (undo :meth:`merge`)."""
        if self.merged:
            self.merged = False
            self.base.weight -= self.delta_weight()
        return self

    def extra_repr(self) -> str:
        return f"in={self.base.in_features}, out={self.base.out_features}, r={self.r}, alpha={self.alpha}"


class DyLoRALinear(LoRALinear):
    """LoRA trained at a random rank b ∈ {1, …, r} every step, with scale α/b (Eq. lora-dylora).

    In training mode the rank is ``train_rank`` when set (e.g. by :func:`set_train_rank`, one rank
    for the whole model per step), else drawn uniformly from ``generator`` at each forward pass.
    In the paper's "frozen" mode only the b-th row of ``lora_A`` and the b-th column of ``lora_B``
    receive gradient; the earlier ones enter the forward pass detached. In eval mode the rank is
    the one fixed by :meth:`set_rank` (default ``r``).
    """

    def __init__(
        self, base: nn.Linear, r: int, alpha: float = 1.0, frozen: bool = True, generator: torch.Generator | None = None
    ) -> None:
        super().__init__(base, r, alpha)
        self.frozen = bool(frozen)
        self.generator = generator
        self.train_rank: int | None = None
        self.last_rank: int | None = None

    def scale(self, b: int) -> float:
        """The factor in front of B[:, :b] A[:b] at rank ``b``: α/b."""
        return self.alpha / b

    def current_rank(self) -> int:
        """The rank of the next forward pass (training: ``train_rank`` or a fresh draw; eval: ``rank``)."""
        if not self.training:
            return self.rank
        if self.train_rank is not None:
            return self.train_rank
        return int(torch.randint(1, self.r + 1, (1,), generator=self.generator))

    def _factors(self, b: int) -> tuple[torch.Tensor, torch.Tensor]:
        self.last_rank = b
        A, B = self.lora_A[:b], self.lora_B[:, :b]
        if self.training and self.frozen and b > 1:  # rows/columns before the b-th get no gradient
            A = torch.cat([A[: b - 1].detach(), A[b - 1 :]], dim=0)
            B = torch.cat([B[:, : b - 1].detach(), B[:, b - 1 :]], dim=1)
        return A, B

    def extra_repr(self) -> str:
        return super().extra_repr() + f", frozen={self.frozen}"


def set_train_rank(model: nn.Module, b: int | None) -> None:
    """Make every DyLoRA layer of ``model`` train at rank ``b`` (``None``: each layer draws its own)."""
    for module in model.modules():
        if isinstance(module, DyLoRALinear):
            module.train_rank = None if b is None else module._check_rank(b)


def add_lora(
    model: nn.Module, r: int, alpha: float = 1.0, kind: str = "lora", exclude: tuple[str, ...] = ()
) -> nn.Module:
    """Replace every ``nn.Linear`` of ``model`` (except the names in ``exclude``) by an adapter, in place.

    ``kind`` is "lora" (:class:`LoRALinear`) or "dylora" (:class:`DyLoRALinear`). Every other
    parameter of the model is frozen, so only the adapters train. Returns ``model``.
    """
    check_option("kind", kind, ("lora", "dylora"))
    r = check_int("r", r, low=1)
    alpha = check_real("alpha", alpha, low=0.0, strict_low=True)
    cls = LoRALinear if kind == "lora" else DyLoRALinear
    for p in model.parameters():
        p.requires_grad_(False)
    targets = [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Linear) and name not in exclude]
    if not targets:
        raise ValueError("model has no nn.Linear layer to adapt (check exclude)")
    for name, linear in targets:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        if not name:
            raise ValueError("model itself is an nn.Linear: wrap it directly with LoRALinear")
        setattr(parent, child, cls(linear, r, alpha))
    return model
