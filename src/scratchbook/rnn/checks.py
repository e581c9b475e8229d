"""Checkers for the exercises of Part I: call one with your function to see whether it is right."""

from __future__ import annotations

import numpy as np

from scratchbook.book import call_or_none, report_check

__all__ = [
    # chapter 1: backpropagation through time
    "check_input_gradient",
    # chapter 2: vanishing and exploding gradients
    "check_jacobian_product",
    "check_clip_grad_norm",
    # chapter 3: remedies without gates
    "check_reservoir_step",
    # chapters 4 and 5: LSTM and GRU
    "check_lstm_step",
    "check_gru_step",
    "check_peephole_jacobian",
    "lstm_bptt_references",
    "check_lstm_bptt",
    # chapter 6: bidirectional networks
    "check_bidirectional",
    # chapter 7: language models and generation
    "check_next_char_probs",
    # chapter 8: ELMo
    "check_scalar_mix",
]


def _small_sequence(seed: int = 0, T: int = 6, D: int = 3, H: int = 4, O: int = 2):
    """One short sequence, random weights, its states and random output gradients ∂L/∂y_t."""
    from scratchbook.rnn.bptt import init_rnn_params, rnn_forward

    rng = np.random.default_rng(seed)
    params = init_rnn_params(D, H, O, random_state=seed)
    params["weight_hh"] = params["weight_hh"] * 3.0  # larger recurrent weights: a less trivial check
    x = rng.normal(size=(T, D))
    hs, _ = rnn_forward(x, params)
    return x, hs, rng.normal(size=(T, O)), params


# --- Chapter 1: backpropagation through time ----------------------------------------------------


def check_input_gradient(fn) -> bool:
    """Check ``fn(x, hs, dys, params) -> dx`` (T×D): the gradient of the loss with respect to each x_t.

    The reference is torch's autograd on a ``torch.nn.RNN`` holding the same weights.
    """
    import torch

    from scratchbook.rnn.bptt import to_torch

    x, hs, dys, params = _small_sequence()
    answer = call_or_none(fn, x, hs, dys, params)
    if answer is None:
        return False
    rnn, readout = to_torch(params)
    xt = torch.from_numpy(x).requires_grad_()
    ys = readout(rnn(xt)[0])
    (ys * torch.from_numpy(dys)).sum().backward()  # a loss whose ∂L/∂y_t is dys
    return report_check(
        "∂L/∂x_t for every t",
        answer,
        xt.grad.numpy(),
        rtol=1e-8,
        atol=1e-10,
        hint="∂L/∂x_t = W_ihᵀ ε_t, with ε_t = (1 − h_t²) ⊙ δ_t from the backward recursion.",
    )


# --- Chapter 2: vanishing and exploding gradients -----------------------------------------------


def check_jacobian_product(fn) -> bool:
    """Check ``fn(hs, weight_hh, k) -> ∂h_T/∂h_k`` (H×H) for a few k, for one sequence of states."""
    from scratchbook.rnn.gradients import jacobian_product

    _, hs, _, params = _small_sequence(seed=1)
    ok = True
    for k in (len(hs) - 1, len(hs) - 2, 0):
        answer = call_or_none(fn, hs, params["weight_hh"], k)
        if answer is None:
            return False
        ok &= report_check(
            f"∂h_T/∂h_k with T − k = {len(hs) - 1 - k}",
            answer,
            jacobian_product(hs, params["weight_hh"], k),
            rtol=1e-8,
            atol=1e-12,
            hint="Multiply diag(1 − h_t²) W_hh for t = k+1, …, T, the latest step "
            "on the left; with k = T the product is empty (the identity).",
        )
    return bool(ok)


def check_clip_grad_norm(fn) -> bool:
    """Check ``fn(grads, max_norm) -> clipped grads`` (a dict like grads) above and below the norm."""
    from scratchbook.rnn.gradients import clip_grad_norm, grad_norm

    rng = np.random.default_rng(2)
    grads = {"weight_hh": rng.normal(size=(3, 3)), "bias_ih": rng.normal(size=3)}
    total = grad_norm(grads)
    ok = True
    for max_norm, case in ((total / 4, "norm above max_norm"), (total * 2, "norm below max_norm")):
        answer = call_or_none(fn, {k: v.copy() for k, v in grads.items()}, max_norm)
        if answer is None:
            return False
        if not isinstance(answer, dict) or set(answer) != set(grads):
            print(f"✗ fn must return a dict with the keys {sorted(grads)}.")
            return False
        expected, _ = clip_grad_norm(grads, max_norm)
        for key in grads:
            ok &= report_check(
                f"{key}, {case}",
                answer[key],
                expected[key],
                rtol=1e-5,
                atol=1e-9,
                hint="One norm for all arrays together; scale every array by the same factor min(1, max_norm / norm).",
            )
    return bool(ok)


# --- Chapters 4 and 5: LSTM and GRU -------------------------------------------------------------


def _cell_problem(kind: str, seed: int = 3, B: int = 3, D: int = 2, H: int = 4):
    """A torch cell with random float64 weights, an input and states, as NumPy arrays."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    cell = getattr(torch.nn, kind)(D, H).double()
    with torch.no_grad():
        for p in cell.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64))
    x, h, c = (torch.randn(B, n, generator=gen, dtype=torch.float64) for n in (D, H, H))
    weights = [p.detach().numpy() for p in (cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)]
    return cell, x, h, c, weights


def check_lstm_step(fn) -> bool:
    """Check ``fn(x, h, c, weight_ih, weight_hh, bias_ih, bias_hh) -> (h_t, c_t)`` (NumPy arrays).

    Gate order i, f, g, o as in torch; the reference is ``torch.nn.LSTMCell`` with the same weights.
    """
    import torch

    cell, x, h, c, weights = _cell_problem("LSTMCell")
    answer = call_or_none(fn, x.numpy(), h.numpy(), c.numpy(), *weights)
    if answer is None:
        return False
    if not (isinstance(answer, (tuple, list)) and len(answer) == 2):
        print("✗ fn must return a pair (h_t, c_t).")
        return False
    with torch.no_grad():
        h_ref, c_ref = cell(x, (h, c))
    hint = "Split the pre-activations into i, f, g, o (in that order); c_t = f ⊙ c + i ⊙ g."
    ok = report_check("c_t", answer[1], c_ref.numpy(), rtol=1e-8, atol=1e-10, hint=hint)
    ok &= report_check(
        "h_t", answer[0], h_ref.numpy(), rtol=1e-8, atol=1e-10, hint="h_t = o ⊙ tanh(c_t), with the new cell state."
    )
    return bool(ok)


def check_gru_step(fn) -> bool:
    """Check ``fn(x, h, weight_ih, weight_hh, bias_ih, bias_hh) -> h_t`` (NumPy), torch's convention.

    Gate order r, z, n; the reference is ``torch.nn.GRUCell`` with the same weights.
    """
    import torch

    cell, x, h, _, weights = _cell_problem("GRUCell", seed=4)
    answer = call_or_none(fn, x.numpy(), h.numpy(), *weights)
    if answer is None:
        return False
    with torch.no_grad():
        expected = cell(x, h).numpy()
    return report_check(
        "h_t",
        answer,
        expected,
        rtol=1e-8,
        atol=1e-10,
        hint="torch applies r to (W_hn h + b_hn), after the product, and mixes h_t = (1 − z) ⊙ n + z ⊙ h.",
    )


def _peephole_problem(seed: int = 5, D: int = 2, H: int = 4):
    """Random float64 peephole-LSTM weights, an input x_t, a cell c_{t-1} and a_o (NumPy arrays)."""
    rng = np.random.default_rng(seed)
    weight_ih, weight_hh = rng.normal(size=(4 * H, D)), rng.normal(size=(4 * H, H))
    bias, weight_peep = rng.normal(size=4 * H), rng.normal(size=(3, H))
    x, c_prev, a_o = rng.normal(size=D), rng.normal(size=H), rng.normal(size=H)
    return x, c_prev, a_o, weight_ih, weight_hh, bias, weight_peep


def _peephole_next_cell(c_prev, x, a_o, weight_ih, weight_hh, bias, weight_peep):
    """c_t as a function of c_{t-1} alone: h_{t-1} = σ(a_o + p_o ⊙ c_{t-1}) ⊙ tanh(c_{t-1}), then one step."""
    import torch

    from scratchbook.rnn.lstm import lstm_cell

    c, peep = torch.from_numpy(c_prev), torch.from_numpy(weight_peep)
    h_prev = torch.sigmoid(torch.from_numpy(a_o) + peep[2] * c) * torch.tanh(c)
    pre = torch.from_numpy(weight_ih @ x + bias) + torch.from_numpy(weight_hh) @ h_prev
    _, c_next, _ = lstm_cell(pre[None], c[None], "peephole", weight_peep=peep)
    return c_next[0].numpy()


def check_peephole_jacobian(fn) -> bool:
    """Check ``fn(x, c_prev, a_o, weight_ih, weight_hh, bias, weight_peep) -> ∂c_t/∂c_{t-1}`` (H×H).

    One peephole LSTM step for one sequence (vectors, no batch), torch's gate order i, f, g, o and
    one summed ``bias`` (4H). ``a_o`` is the output gate's pre-activation at step t − 1 without its
    peephole term, so that h_{t-1} = σ(a_o + p_o ⊙ c_{t-1}) ⊙ tanh(c_{t-1}) with p_o =
    ``weight_peep[2]``. The reference is a central finite difference of that map, c_{t-1} ↦ c_t.
    """
    args = _peephole_problem()
    x, c_prev, a_o, weight_ih, weight_hh, bias, weight_peep = args
    answer = call_or_none(fn, *args)
    if answer is None:
        return False
    eps = 1e-6
    expected = np.empty((c_prev.size, c_prev.size))
    for j in range(c_prev.size):
        step = np.zeros_like(c_prev)
        step[j] = eps
        plus = _peephole_next_cell(c_prev + step, x, a_o, weight_ih, weight_hh, bias, weight_peep)
        minus = _peephole_next_cell(c_prev - step, x, a_o, weight_ih, weight_hh, bias, weight_peep)
        expected[:, j] = (plus - minus) / (2 * eps)
    return report_check(
        "∂c_t/∂c_{t-1} (finite differences)",
        answer,
        expected,
        rtol=1e-6,
        atol=1e-8,
        hint="c_{t-1} reaches c_t directly, through the peepholes of i and f, and through h_{t-1}, "
        "which depends on it through tanh(c_{t-1}) and through the output gate's peephole p_o.",
    )


_BPTT_NAMES = ("x", "h0", "c0", "weight_ih", "weight_hh", "bias")


def _bptt_problem(seed: int = 9, T: int = 5, D: int = 2, H: int = 3):
    """One short sequence, random float64 LSTM weights, initial states and output gradients ∂L/∂h_t."""
    rng = np.random.default_rng(seed)
    values = {
        "x": rng.normal(size=(T, D)),
        "h0": rng.normal(size=H) / 2,
        "c0": rng.normal(size=H),
        "weight_ih": rng.normal(size=(4 * H, D)),
        "weight_hh": rng.normal(size=(4 * H, H)),
        "bias": rng.normal(size=4 * H),
    }
    return values, rng.normal(size=(T, H))


def _torch_lstm_loss(values, dhs):
    """L = Σ_t dhs_t · h_t for ``torch.nn.LSTM`` holding the given weights (bias_ih = bias, bias_hh = 0)."""
    import torch

    D, H = values["weight_ih"].shape[1], values["h0"].size
    torch_state = torch.random.get_rng_state()
    lstm = torch.nn.LSTM(D, H).double()  # its random initial weights are replaced below
    torch.random.set_rng_state(torch_state)  # the reader's global random stream is left as it was
    tensors = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in values.items()}
    out, _ = torch.func.functional_call(
        lstm,
        {
            "weight_ih_l0": tensors["weight_ih"],
            "weight_hh_l0": tensors["weight_hh"],
            "bias_ih_l0": tensors["bias"],
            "bias_hh_l0": torch.zeros_like(tensors["bias"]),
        },
        (tensors["x"][:, None], (tensors["h0"][None, None], tensors["c0"][None, None])),
    )
    return (out[:, 0] * torch.from_numpy(dhs)).sum(), tensors


def lstm_bptt_references(values, dhs, eps: float = 1e-6) -> tuple[dict, dict]:
    """The gradients of L = Σ_t dhs_t · h_t from torch's autograd on ``torch.nn.LSTM`` and from central differences.

    ``values`` holds ``x`` (T×D), ``h0`` and ``c0`` (H), ``weight_ih`` (4H×D), ``weight_hh`` (4H×H)
    and ``bias`` (4H), gate order i, f, g, o; returns two dicts with the same keys.
    """
    loss, tensors = _torch_lstm_loss(values, dhs)
    loss.backward()
    autograd = {k: t.grad.numpy() for k, t in tensors.items()}
    finite = {}
    for key, value in values.items():
        grad = np.empty(value.size)
        for j in range(value.size):
            step = np.zeros(value.size)
            step[j] = eps
            plus = {**values, key: value + step.reshape(value.shape)}
            minus = {**values, key: value - step.reshape(value.shape)}
            grad[j] = (_torch_lstm_loss(plus, dhs)[0].item() - _torch_lstm_loss(minus, dhs)[0].item()) / (2 * eps)
        finite[key] = grad.reshape(value.shape)
    return autograd, finite


def check_lstm_bptt(fn) -> bool:
    """Check ``fn(x, h0, c0, weight_ih, weight_hh, bias, dhs) -> dict`` of gradients: BPTT through one LSTM.

    One sequence (no batch): ``x`` is T×D, ``h0`` and ``c0`` have H entries, the weights have torch's
    layout with gate order i, f, g, o and one summed ``bias`` (4H). The loss is L = Σ_t dhs_t · h_t, so
    ``dhs`` (T×H) is ∂L/∂h_t from the outputs. ``fn`` returns a dict with the keys ``"x"``, ``"h0"``,
    ``"c0"``, ``"weight_ih"``, ``"weight_hh"`` and ``"bias"``. The references are torch's autograd on a
    ``torch.nn.LSTM`` holding the same weights and central finite differences of that network's loss.
    """
    values, dhs = _bptt_problem()
    answer = call_or_none(fn, *(v.copy() for v in values.values()), dhs.copy())
    if answer is None:
        return False
    if not isinstance(answer, dict) or set(answer) != set(_BPTT_NAMES):
        print(f"✗ fn must return a dict with the keys {list(_BPTT_NAMES)}.")
        return False
    autograd, finite = lstm_bptt_references(values, dhs)
    hints = {
        "x": "∂L/∂x_t = W_ihᵀ δa_t, with δa_t the four blocks of the pre-activation gradient at step t.",
        "h0": "∂L/∂h_0 = W_hhᵀ δa_1: what the first step passes back to its input state.",
        "c0": "∂L/∂c_0 = δc_1 ⊙ f_1: the carousel carries δc back multiplied by the forget gate.",
        "weight_ih": "Sum δa_t x_tᵀ over the steps.",
        "weight_hh": "Sum δa_t h_{t-1}ᵀ over the steps, with the state before the step.",
        "bias": "Sum δa_t over the steps.",
    }
    hint_c = " δc_t collects δc_{t+1} ⊙ f_{t+1} and δh_t ⊙ o_t ⊙ (1 − tanh² c_t); δh_t the output and W_hhᵀ δa_{t+1}."
    ok = True
    for key in _BPTT_NAMES:
        ok &= report_check(
            f"∂L/∂{key} (torch autograd)", answer[key], autograd[key], rtol=1e-8, atol=1e-10, hint=hints[key] + hint_c
        )
        ok &= report_check(
            f"∂L/∂{key} (finite differences)", answer[key], finite[key], rtol=1e-5, atol=1e-7, hint=hints[key]
        )
    return bool(ok)


# --- Chapter 3: remedies without gates ----------------------------------------------------------


def check_reservoir_step(fn) -> bool:
    """Check ``fn(x_prev, u, W_in, W_res, bias, leak_rate) -> x_t``, the leaky reservoir update (NumPy).

    The reference is ``scratchbook.rnn.esn.reservoir_step``, for a full leak and a small one.
    """
    from scratchbook.rnn.esn import reservoir_step

    rng = np.random.default_rng(5)
    x, u = rng.uniform(-1, 1, size=6), rng.normal(size=2)
    W_in, W_res, bias = rng.normal(size=(6, 2)), rng.normal(size=(6, 6)) / 3, rng.normal(size=6)
    ok = True
    for leak_rate in (1.0, 0.2):
        answer = call_or_none(fn, x.copy(), u, W_in, W_res, bias, leak_rate)
        if answer is None:
            return False
        ok &= report_check(
            f"x_t with leak rate {leak_rate}",
            answer,
            reservoir_step(x, u, W_in, W_res, bias, leak_rate),
            rtol=1e-10,
            atol=1e-12,
            hint="Mix the old state and the new tanh: (1 − α) x_{t−1} + α tanh(W_in u_t + W_res x_{t−1} + b).",
        )
    return bool(ok)


# --- Chapter 6: bidirectional networks ----------------------------------------------------------


def check_bidirectional(fn) -> bool:
    """Check ``fn(x, forward, backward) -> output`` (T×B×2H): a bidirectional layer from two one-way ones.

    ``x`` is a T×B×D tensor, ``forward`` and ``backward`` are one-layer, one-direction
    ``torch.nn.GRU`` modules; the reference is ``torch.nn.GRU(bidirectional=True)`` holding the
    forward weights under torch's plain names and the backward weights under the ``_reverse`` names.
    """
    import torch

    gen = torch.Generator().manual_seed(6)
    T, B, D, H = 7, 3, 2, 4
    torch_state = torch.random.get_rng_state()
    forward, backward = torch.nn.GRU(D, H).double(), torch.nn.GRU(D, H).double()
    both = torch.nn.GRU(D, H, bidirectional=True).double()
    torch.random.set_rng_state(torch_state)  # the reader's global random stream is left as it was
    with torch.no_grad():
        for p in (*forward.parameters(), *backward.parameters()):
            p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64))
    state = {**forward.state_dict(), **{f"{k}_reverse": v for k, v in backward.state_dict().items()}}
    both.load_state_dict(state)
    x = torch.randn(T, B, D, generator=gen, dtype=torch.float64)
    answer = call_or_none(fn, x, forward, backward)
    if answer is None:
        return False
    with torch.no_grad():
        expected = both(x)[0].numpy()
    return report_check(
        "bidirectional output",
        answer,
        expected,
        rtol=1e-8,
        atol=1e-10,
        hint="Run `backward` on x flipped in time, flip its output back, and put the "
        "forward output first: torch.cat([fwd, bwd], dim=-1).",
    )


# --- Chapter 8: ELMo ------------------------------------------------------------------------------


def check_scalar_mix(fn) -> bool:
    """Check ``fn(layers, w, gamma) -> γ Σ_j softmax(w)_j layers[j]`` for a (L+1)×n×D tensor of layers.

    ``w`` is the vector of L + 1 unnormalised weights and ``gamma`` a scalar tensor; the reference is
    ``scratchbook.rnn.elmo.ScalarMix`` holding the same ``w`` and ``gamma``.
    """
    import torch

    from scratchbook.rnn.elmo import ScalarMix

    gen = torch.Generator().manual_seed(7)
    layers = torch.randn(3, 5, 4, generator=gen, dtype=torch.float64)
    w, gamma = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64), torch.tensor(1.5, dtype=torch.float64)
    answer = call_or_none(fn, layers.clone(), w.clone(), gamma.clone())
    if answer is None:
        return False
    mix = ScalarMix(3).double()
    with torch.no_grad():
        mix.scalar_parameters.copy_(w)
        mix.gamma.copy_(gamma)
        expected = mix(layers).numpy()
    return report_check(
        "ELMo mix of 3 layers",
        answer,
        expected,
        rtol=1e-8,
        atol=1e-10,
        hint="Normalise w with a softmax (not by its sum), weight layer j by s_j, add over "
        "layers (dim 0), then multiply by gamma.",
    )


# --- Chapter 7: language models and generation ----------------------------------------------------


def check_next_char_probs(fn) -> bool:
    """Check ``fn(logits, temperature, top_k) -> probs``: softmax(logits / T) kept on the top k, renormalised.

    ``logits`` is a B×V float64 tensor, ``top_k`` an int or None; the reference is
    ``scratchbook.rnn.generation.next_token_probs``.
    """
    import torch

    from scratchbook.rnn.generation import next_token_probs

    logits = torch.randn(4, 9, generator=torch.Generator().manual_seed(8), dtype=torch.float64)
    ok = True
    for temperature, top_k in ((1.0, None), (0.5, None), (2.0, 3), (0.7, 1)):
        answer = call_or_none(fn, logits.clone(), temperature, top_k)
        if answer is None:
            return False
        ok &= report_check(
            f"probabilities at T = {temperature}, top_k = {top_k}",
            answer,
            next_token_probs(logits, temperature, top_k).numpy(),
            rtol=1e-8,
            atol=1e-10,
            hint="Divide the logits by T before the softmax; with top_k, set every logit below the k-th "
            "largest to -inf first, so the kept ones sum to 1.",
        )
    return bool(ok)
