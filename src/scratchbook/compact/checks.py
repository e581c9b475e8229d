"""Checkers for the exercises of Part IV: call one with your answer to see whether it is right."""

from __future__ import annotations

import numpy as np

from scratchbook.book import call_or_none, report_check

__all__ = ["check_dylora_forward"]


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
        ok &= report_check(f"output at rank b = {b}", answer, expected,
                           hint="y = x Wᵀ + c + (α/b) · x A[:b]ᵀ B[:, :b]ᵀ; rows of A and columns of B.")
    return bool(ok)
