"""A plain tanh RNN in NumPy, its loss over time, and backpropagation through time (Part I, chapter 1).

The model, for t = 1, …, T (chapter 1, Eqs. (rnn-state) and (rnn-output)):

    h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh),      y_t = W_hy h_t + b_y.

Parameters live in a dict whose names follow ``torch.nn.RNNCell``: ``weight_ih`` is W_ih (H×D, the
tutorial's W_xh), ``weight_hh`` is W_hh (H×H), ``bias_ih`` and ``bias_hh`` are the two biases that
torch keeps (their sum is the tutorial's single b_h). The readout ``weight_hy`` (O×H) and ``bias_y``
(O,) are the ``weight`` and ``bias`` of a ``torch.nn.Linear(H, O)``. ``to_torch`` and
``params_from_torch`` move the weights between the two.

Arrays follow torch's time-major layout: one sequence is ``(T, D)``, a batch is ``(T, B, D)``. The
hidden states come back as ``hs`` of length T + 1 with ``hs[0] = h_0``, so ``hs[t]`` is h_t.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from scratchbook._validation import check_array, check_int, check_option, check_real

__all__ = [
    "PARAM_NAMES",
    "init_rnn_params",
    "rnn_step",
    "rnn_forward",
    "sequence_loss",
    "sequence_loss_grad",
    "rnn_step_backward",
    "rnn_backward",
    "rnn_loss_and_grads",
    "numerical_gradient",
    "to_torch",
    "params_from_torch",
    "grads_from_torch",
]

Array = np.ndarray
Params = dict[str, Array]
#: The names of the six parameter arrays: torch.nn.RNNCell's four, then the readout's two.
PARAM_NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hy", "bias_y")
LOSSES = ("mse", "cross_entropy")


# --- input checks ----------------------------------------------------------------------------


def check_params(params: Params) -> Params:
    """Check the six RNN arrays (names, shapes agree, finite) and return them as float64."""
    if not isinstance(params, dict):
        raise TypeError(f"params must be a dict of arrays, got {type(params).__name__}")
    missing = [k for k in PARAM_NAMES if k not in params]
    if missing:
        raise ValueError(f"params is missing {missing}; expected the keys {PARAM_NAMES}")
    p = {k: check_array(f"params['{k}']", params[k], ndim=2 if k.startswith("weight") else 1) for k in PARAM_NAMES}
    H, O = p["weight_hh"].shape[0], p["weight_hy"].shape[0]
    expected = {
        "weight_ih": (H, p["weight_ih"].shape[1]),
        "weight_hh": (H, H),
        "bias_ih": (H,),
        "bias_hh": (H,),
        "weight_hy": (O, H),
        "bias_y": (O,),
    }
    for k, shape in expected.items():
        if p[k].shape != shape:
            raise ValueError(f"params['{k}'] must have shape {shape} (H={H}, O={O}), got {p[k].shape}")
    return p


def _check_inputs(x, params: Params, h0) -> tuple[Array, Params, Array]:
    """Validate a sequence (T, D) or batch (T, B, D), the parameters and h_0 (zeros when None)."""
    p = check_params(params)
    x = check_array("x", x, ndim=(2, 3))
    H, D = p["weight_ih"].shape
    if x.shape[-1] != D or x.shape[0] < 1:
        raise ValueError(f"x must have shape (T, D) or (T, B, D) with T >= 1 and D = {D}, got {x.shape}")
    state_shape = x.shape[1:-1] + (H,)
    if h0 is None:
        return x, p, np.zeros(state_shape)
    h0 = check_array("h0", h0)
    if h0.shape != state_shape:
        raise ValueError(f"h0 must have shape {state_shape} to match x, got {h0.shape}")
    return x, p, h0


# --- model -----------------------------------------------------------------------------------


def init_rnn_params(
    input_size: int,
    hidden_size: int,
    output_size: int,
    random_state: int | np.random.Generator | None = None,
) -> Params:
    """Random weights, uniform in ±1/√H like torch.nn.RNN's and torch.nn.Linear(H, O)'s defaults."""
    D = check_int("input_size", input_size, low=1)
    H = check_int("hidden_size", hidden_size, low=1)
    O = check_int("output_size", output_size, low=1)
    rng = np.random.default_rng(random_state)
    bound = 1.0 / np.sqrt(H)
    shapes = {
        "weight_ih": (H, D),
        "weight_hh": (H, H),
        "bias_ih": (H,),
        "bias_hh": (H,),
        "weight_hy": (O, H),
        "bias_y": (O,),
    }
    return {k: rng.uniform(-bound, bound, size=s) for k, s in shapes.items()}


def rnn_step(x_t: Array, h_prev: Array, params: Params) -> Array:
    """One step of Eq. (rnn-state): h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh), rows as in torch."""
    a_t = x_t @ params["weight_ih"].T + params["bias_ih"] + h_prev @ params["weight_hh"].T + params["bias_hh"]
    return np.tanh(a_t)


def rnn_forward(x: Array, params: Params, h0: Array | None = None) -> tuple[Array, Array]:
    """Unroll the RNN, Eqs. (rnn-state), (rnn-output): states hs (hs[0] = h_0) and outputs ys."""
    x, params, h0 = _check_inputs(x, params, h0)
    hs = [h0]
    for x_t in x:
        hs.append(rnn_step(x_t, hs[-1], params))
    hs = np.stack(hs)
    ys = hs[1:] @ params["weight_hy"].T + params["bias_y"]
    return hs, ys


# --- loss over time --------------------------------------------------------------------------


def _check_targets(ys: Array, targets, loss: str) -> Array:
    """Targets shaped like ys (mse), or integer classes of shape ys.shape[:-1] (cross_entropy)."""
    check_option("loss", loss, LOSSES)
    if loss == "mse":
        targets = check_array("targets", targets)
        if targets.shape != ys.shape:
            raise ValueError(f"targets must have the shape of the outputs {ys.shape}, got {targets.shape}")
        return targets
    targets = np.asarray(targets)
    if targets.shape != ys.shape[:-1] or not np.issubdtype(targets.dtype, np.integer):
        raise ValueError(
            f"targets must be integer classes of shape {ys.shape[:-1]} for cross_entropy, "
            f"got {targets.dtype} {targets.shape}"
        )
    if targets.min() < 0 or targets.max() >= ys.shape[-1]:
        raise ValueError(f"targets must be classes in [0, {ys.shape[-1] - 1}]")
    return targets


def _log_softmax(ys: Array) -> Array:
    """log softmax over the last axis, shifted by the maximum for stability."""
    z = ys - ys.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def sequence_loss(ys: Array, targets: Array, loss: str = "mse") -> float:
    """Loss summed over time and batch, Eq. (rnn-loss): ½‖y_t − y*_t‖² or −log softmax(y_t)[c_t]."""
    targets = _check_targets(ys, targets, loss)
    if loss == "mse":
        return float(0.5 * np.sum((ys - targets) ** 2))
    logp = np.take_along_axis(_log_softmax(ys), targets[..., None], axis=-1)
    return float(-np.sum(logp))


def sequence_loss_grad(ys: Array, targets: Array, loss: str = "mse") -> Array:
    """∂L/∂y_t for every t, Eq. (rnn-bptt-out): y_t − y*_t, or softmax(y_t) − onehot(c_t)."""
    targets = _check_targets(ys, targets, loss)
    if loss == "mse":
        return ys - targets
    one_hot = np.eye(ys.shape[-1])[targets]  # onehot(c_t), the shape of ys
    return np.exp(_log_softmax(ys)) - one_hot


# --- backpropagation through time ------------------------------------------------------------


def _outer_sum(a: Array, b: Array) -> Array:
    """Σ over the batch of the outer products a bᵀ (plain outer product for one sequence)."""
    return a.reshape(-1, a.shape[-1]).T @ b.reshape(-1, b.shape[-1])


def _check_backward_inputs(x, hs, dys, params: Params) -> tuple[Array, Array, Array, Params]:
    """x, params as for the forward pass; hs of shape (T + 1, …, H) and dys of shape (T, …, O)."""
    x, p, _ = _check_inputs(x, params, None)
    hs, dys = check_array("hs", hs), check_array("dys", dys)
    batch = x.shape[1:-1]
    H, O = p["weight_hh"].shape[0], p["weight_hy"].shape[0]
    if hs.shape != (len(x) + 1,) + batch + (H,):
        raise ValueError(f"hs must have shape {(len(x) + 1,) + batch + (H,)} (h_0 to h_T), got {hs.shape}")
    if dys.shape != (len(x),) + batch + (O,):
        raise ValueError(f"dys must have shape {(len(x),) + batch + (O,)}, got {dys.shape}")
    return x, hs, dys, p


def rnn_step_backward(dh_t: Array, h_t: Array, params: Params) -> tuple[Array, Array]:
    """One step back, Eqs. (rnn-bptt-tanh), (rnn-bptt-delta): ε_t = (1 − h_t²) ⊙ δ_t, W_hhᵀ ε_t."""
    eps_t = (1.0 - h_t**2) * dh_t
    return eps_t, eps_t @ params["weight_hh"]


def rnn_backward(x: Array, hs: Array, dys: Array, params: Params) -> tuple[Params, Array]:
    """BPTT, Eqs. (rnn-bptt-out) to (rnn-bptt-weights): gradients of all parameters and of h_0."""
    x, hs, dys, p = _check_backward_inputs(x, hs, dys, params)
    grads = {k: np.zeros_like(v) for k, v in p.items()}
    grads["weight_hy"] = _outer_sum(dys, hs[1:])  # Σ_t (∂L/∂y_t) h_tᵀ
    grads["bias_y"] = dys.reshape(-1, dys.shape[-1]).sum(axis=0)  # Σ_t ∂L/∂y_t
    dh_from_future = np.zeros_like(hs[0])  # W_hhᵀ ε_{T+1} = 0
    for t in range(len(x), 0, -1):
        delta_t = dys[t - 1] @ p["weight_hy"] + dh_from_future  # δ_t = ∂L/∂h_t
        eps_t, dh_from_future = rnn_step_backward(delta_t, hs[t], p)
        grads["weight_hh"] += _outer_sum(eps_t, hs[t - 1])  # ε_t h_{t-1}ᵀ
        grads["weight_ih"] += _outer_sum(eps_t, x[t - 1])  # ε_t x_tᵀ
        grads["bias_ih"] += eps_t.reshape(-1, eps_t.shape[-1]).sum(axis=0)
    grads["bias_hh"] = grads["bias_ih"].copy()  # both biases enter a_t alike
    return grads, dh_from_future  # W_hhᵀ ε_1 = ∂L/∂h_0


def rnn_loss_and_grads(
    params: Params, x: Array, targets: Array, h0: Array | None = None, loss: str = "mse"
) -> tuple[float, Params]:
    """Forward, loss over time and BPTT in one call: the loss and the gradient of every parameter."""
    x, params, h0 = _check_inputs(x, params, h0)
    hs, ys = rnn_forward(x, params, h0)
    grads, _ = rnn_backward(x, hs, sequence_loss_grad(ys, targets, loss), params)
    return sequence_loss(ys, targets, loss), grads


def numerical_gradient(f: Callable[[Params], float], params: Params, eps: float = 1e-6) -> Params:
    """Central differences (f(θ + εe_i) − f(θ − εe_i)) / 2ε, Eq. (rnn-fd), for every entry."""
    eps = check_real("eps", eps, low=0.0, strict_low=True)
    grads = {}
    for name, value in params.items():
        value = np.asarray(value, dtype=np.float64)
        g = np.zeros_like(value)
        for i in np.ndindex(value.shape):
            shifted = {k: np.array(v, dtype=np.float64) for k, v in params.items()}
            shifted[name][i] = value[i] + eps
            up = f(shifted)
            shifted[name][i] = value[i] - eps
            g[i] = (up - f(shifted)) / (2 * eps)
        grads[name] = g
    return grads


# --- moving weights to and from torch --------------------------------------------------------


def to_torch(params: Params, dtype=None):
    """A ``torch.nn.RNN`` (tanh, one layer) and a ``torch.nn.Linear`` readout holding these weights."""
    import torch

    p = check_params(params)
    dtype = torch.float64 if dtype is None else dtype
    H, D = p["weight_ih"].shape
    rnn = torch.nn.RNN(D, H, nonlinearity="tanh", dtype=dtype)
    readout = torch.nn.Linear(H, p["weight_hy"].shape[0], dtype=dtype)
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(rnn, f"{name}_l0").copy_(torch.from_numpy(p[name]))
        readout.weight.copy_(torch.from_numpy(p["weight_hy"]))
        readout.bias.copy_(torch.from_numpy(p["bias_y"]))
    return rnn, readout


def _check_torch_pair(rnn, readout) -> None:
    """A one-layer tanh torch.nn.RNN with biases, and a torch.nn.Linear readout."""
    import torch

    if (
        not isinstance(rnn, torch.nn.RNN)
        or rnn.num_layers != 1
        or rnn.nonlinearity != "tanh"
        or rnn.bidirectional
        or not rnn.bias
    ):
        raise ValueError("rnn must be a one-layer, one-direction torch.nn.RNN with tanh and biases")
    if not isinstance(readout, torch.nn.Linear) or readout.bias is None:
        raise ValueError("readout must be a torch.nn.Linear with a bias")


def params_from_torch(rnn, readout) -> Params:
    """The parameter dict of a one-layer tanh ``torch.nn.RNN`` and its ``torch.nn.Linear`` readout."""
    _check_torch_pair(rnn, readout)
    tensors = {name: getattr(rnn, f"{name}_l0") for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
    tensors.update(weight_hy=readout.weight, bias_y=readout.bias)
    return check_params({k: t.detach().double().numpy().copy() for k, t in tensors.items()})


def grads_from_torch(rnn, readout) -> Params:
    """The gradients torch stored in ``.grad`` after ``backward()``, as a dict keyed like the parameters."""
    _check_torch_pair(rnn, readout)
    tensors = {name: getattr(rnn, f"{name}_l0") for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
    tensors.update(weight_hy=readout.weight, bias_y=readout.bias)
    if any(t.grad is None for t in tensors.values()):
        raise ValueError("rnn and readout hold no gradients: call backward() on a loss first")
    return {k: t.grad.detach().double().numpy().copy() for k, t in tensors.items()}
