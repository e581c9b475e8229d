"""Parameter updates for the NumPy RNN: plain gradient descent and Adam, as in torch.optim.

Parameters and gradients are dicts of arrays with the same keys (see ``scratchbook.rnn.bptt``).
Both functions return new arrays and leave their arguments untouched.
"""

from __future__ import annotations

import numpy as np

from scratchbook._validation import check_real

__all__ = ["gradient_step", "adam_step"]

Array = np.ndarray


def _check_same_keys(params: dict, grads: dict) -> None:
    """params and grads must be dicts with the same keys."""
    if not isinstance(params, dict) or not isinstance(grads, dict):
        raise TypeError("params and grads must be dicts of arrays")
    if set(params) != set(grads):
        raise ValueError(f"grads must have the keys of params {sorted(params)}, got {sorted(grads)}")


def gradient_step(params: dict[str, Array], grads: dict[str, Array], lr: float) -> dict[str, Array]:
    """One step of gradient descent, θ ← θ − lr · ∂L/∂θ (torch.optim.SGD without momentum)."""
    _check_same_keys(params, grads)
    lr = check_real("lr", lr, low=0.0)
    return {k: params[k] - lr * grads[k] for k in params}


def adam_step(
    params: dict[str, Array],
    grads: dict[str, Array],
    state: dict | None = None,
    *,
    lr: float = 1e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
) -> tuple[dict[str, Array], dict]:
    """One Adam step with bias-corrected moment estimates (torch.optim.Adam); returns params and state.

    Start with ``state=None``; pass the returned state to the next call.
    """
    _check_same_keys(params, grads)
    lr = check_real("lr", lr, low=0.0)
    beta1 = check_real("betas[0]", betas[0], low=0.0, high=1.0)
    beta2 = check_real("betas[1]", betas[1], low=0.0, high=1.0)
    eps = check_real("eps", eps, low=0.0)
    if state is None:
        state = {
            "step": 0,
            "m": {k: np.zeros_like(v) for k, v in params.items()},
            "v": {k: np.zeros_like(v) for k, v in params.items()},
        }
    step = state["step"] + 1
    m = {k: beta1 * state["m"][k] + (1 - beta1) * grads[k] for k in params}
    v = {k: beta2 * state["v"][k] + (1 - beta2) * grads[k] ** 2 for k in params}
    c1, c2 = 1 - beta1**step, 1 - beta2**step
    new = {k: params[k] - (lr / c1) * m[k] / (np.sqrt(v[k]) / np.sqrt(c2) + eps) for k in params}
    return new, {"step": step, "m": m, "v": v}
