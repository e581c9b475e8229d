"""Products of Jacobians through time, and gradient clipping (Part I, chapter 2).

For the tanh RNN of ``scratchbook.rnn.bptt`` one step back in time multiplies by the Jacobian
∂h_t/∂h_{t-1} = diag(1 − h_t²) W_hh (Eq. (vg-jac-step)); the sensitivity of h_T to h_k is the
product of T − k of them (Eq. (vg-jac-product)). The functions here take one sequence of hidden
states ``hs`` of shape (T + 1, H), with ``hs[t] = h_t`` as returned by ``rnn_forward``.
"""

from __future__ import annotations

import numpy as np

from scratchbook._validation import check_array, check_int, check_real

__all__ = [
    "spectral_radius",
    "set_spectral_radius",
    "step_jacobian",
    "jacobian_product",
    "jacobian_norms",
    "grad_norm",
    "clip_grad_norm",
]

Array = np.ndarray


def _check_square(name: str, W) -> Array:
    """W as a finite float64 square matrix, or an error naming it."""
    return check_array(name, W, ndim=2, square=True)


def _check_states(hs, weight_hh) -> tuple[Array, Array]:
    """hs of shape (T + 1, H) matching a square weight_hh of size H."""
    W = _check_square("weight_hh", weight_hh)
    hs = check_array("hs", hs, ndim=2)
    if hs.shape[1] != W.shape[0] or len(hs) < 1:
        raise ValueError(f"hs must have shape (T + 1, {W.shape[0]}) for one sequence, got {hs.shape}")
    return hs, W


def spectral_radius(W: Array) -> float:
    """Largest absolute eigenvalue ρ(W) of a square matrix."""
    return float(np.max(np.abs(np.linalg.eigvals(_check_square("W", W)))))


def set_spectral_radius(W: Array, rho: float) -> Array:
    """W rescaled so that its spectral radius is ``rho``."""
    rho = check_real("rho", rho, low=0.0)
    current = spectral_radius(W)
    if current == 0.0:
        raise ValueError("W has spectral radius 0 and cannot be rescaled")
    return np.asarray(W, dtype=np.float64) * (rho / current)


def step_jacobian(h_t: Array, weight_hh: Array) -> Array:
    """One step back in time, Eq. (vg-jac-step): ∂h_t/∂h_{t-1} = diag(1 − h_t²) W_hh."""
    return (1.0 - h_t**2)[:, None] * weight_hh


def jacobian_product(hs: Array, weight_hh: Array, k: int, t: int | None = None) -> Array:
    """∂h_t/∂h_k = J_t J_{t-1} ⋯ J_{k+1}, Eq. (vg-jac-product); t defaults to the last step T."""
    hs, W = _check_states(hs, weight_hh)
    T = len(hs) - 1
    t = T if t is None else check_int("t", t, low=0, high=T)
    k = check_int("k", k, low=0, high=t)
    product = np.eye(W.shape[0])
    for s in range(k + 1, t + 1):
        product = step_jacobian(hs[s], W) @ product
    return product


def jacobian_norms(hs: Array, weight_hh: Array, ord: int | float | str = 2) -> Array:
    """‖∂h_T/∂h_{T−ℓ}‖ for every lag ℓ = 0, …, T (entry ℓ), built from h_T backwards."""
    hs, W = _check_states(hs, weight_hh)
    if ord not in (1, 2, np.inf, -np.inf, "fro", "nuc", -1, -2):
        raise ValueError(f"ord must be a matrix norm order accepted by numpy.linalg.norm, got {ord!r}")
    T = len(hs) - 1
    product, norms = np.eye(W.shape[0]), [np.linalg.norm(np.eye(W.shape[0]), ord)]
    for s in range(T, 0, -1):
        product = product @ step_jacobian(hs[s], W)  # ∂h_T/∂h_{s-1} = (∂h_T/∂h_s) J_s
        norms.append(np.linalg.norm(product, ord))
    return np.array(norms)


def _check_grads(grads) -> dict[str, Array]:
    """A non-empty dict of finite arrays."""
    if not isinstance(grads, dict) or not grads:
        raise TypeError(f"grads must be a non-empty dict of arrays, got {type(grads).__name__}")
    return {k: check_array(f"grads['{k}']", v) for k, v in grads.items()}


def grad_norm(grads: dict[str, Array], norm_type: float = 2.0) -> float:
    """Norm of all gradients taken together as one vector (the norm of the per-array norms)."""
    grads = _check_grads(grads)
    if norm_type != np.inf:
        norm_type = check_real("norm_type", norm_type, low=0.0, strict_low=True)
    norms = np.array([np.linalg.norm(g.ravel(), norm_type) for g in grads.values()])
    return float(np.linalg.norm(norms, norm_type))


def clip_grad_norm(grads: dict[str, Array], max_norm: float, norm_type: float = 2.0) -> tuple[dict[str, Array], float]:
    """Rescale the gradients to norm ``max_norm`` when larger, Eq. (vg-clip).

    Returns new arrays and the norm before clipping. As in ``torch.nn.utils.clip_grad_norm_``, the
    factor is max_norm / (norm + 1e-6), capped at 1, so a gradient at the threshold is left as it is.
    """
    max_norm = check_real("max_norm", max_norm, low=0.0, strict_low=True)
    total = grad_norm(grads, norm_type)
    scale = min(1.0, max_norm / (total + 1e-6))
    return {k: np.asarray(g, dtype=np.float64) * scale for k, g in grads.items()}, total
