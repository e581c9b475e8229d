"""The from-scratch LSTM and GRU against torch.nn.LSTM/GRU, and each LSTM variant against its formula.

Tolerances (float64 throughout): with the same weights, ours and torch's compute the same sums in a
different order, so outputs, final states and gradients agree to 1e-10. Each variant is checked on
one step against an independent formula written out here with NumPy, to 1e-12.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

from scratchbook.rnn import GRU, LSTM, LSTM_VARIANTS, adding_problem, checks, gru_step, lstm_step, train_adding

D, H = 3, 4


def _pair(kind, num_layers, bidirectional, batch_first, **kw):
    torch.manual_seed(0)
    theirs = getattr(torch.nn, kind)(D, H, num_layers, bidirectional=bidirectional, batch_first=batch_first).double()
    ours = {"LSTM": LSTM, "GRU": GRU}[kind](
        D, H, num_layers, bidirectional=bidirectional, batch_first=batch_first, **kw
    ).double()
    return ours, theirs


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
@pytest.mark.parametrize("num_layers", [1, 3])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
def test_matches_torch_after_load_state_dict(kind, num_layers, bidirectional, batch_first):
    ours, theirs = _pair(kind, num_layers, bidirectional, batch_first)
    assert [(k, v.shape) for k, v in ours.state_dict().items()] == [
        (k, v.shape) for k, v in theirs.state_dict().items()
    ]
    ours.load_state_dict(theirs.state_dict())
    gen = torch.Generator().manual_seed(1)
    T, B, dirs = 6, 2, 2 if bidirectional else 1
    shape = (B, T, D) if batch_first else (T, B, D)
    x = torch.randn(shape, dtype=torch.float64, generator=gen)
    state = [torch.randn(num_layers * dirs, B, H, dtype=torch.float64, generator=gen) for _ in range(2)]
    hx = tuple(state) if kind == "LSTM" else state[0]
    results = []
    for module in (ours, theirs):
        xi = x.clone().requires_grad_()
        out, final = module(xi, hx)
        finals = final if kind == "LSTM" else (final,)
        weights = torch.randn(out.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
        ((out * weights).sum() + sum(f.square().sum() for f in finals)).backward()
        grads = [p.grad.clone() for p in module.parameters()]
        results.append((out.detach(), [f.detach() for f in finals], xi.grad, grads))
    (o1, f1, g1, p1), (o2, f2, g2, p2) = results
    assert o1.shape == o2.shape
    assert torch.allclose(o1, o2, rtol=0, atol=1e-10)
    assert all(torch.allclose(a, b, rtol=0, atol=1e-10) for a, b in zip(f1, f2))
    assert torch.allclose(g1, g2, rtol=0, atol=1e-10)
    assert all(torch.allclose(a, b, rtol=0, atol=1e-10) for a, b in zip(p1, p2))


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_unbatched_input_and_default_state_match_torch(kind):
    ours, theirs = _pair(kind, 2, True, False)
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(5, D, dtype=torch.float64)
    out1, f1 = ours(x)
    out2, f2 = theirs(x)
    assert torch.allclose(out1, out2, atol=1e-10)
    f1, f2 = (f1, f2) if kind == "LSTM" else ((f1,), (f2,))
    assert all(torch.allclose(a, b, atol=1e-10) for a, b in zip(f1, f2))


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
@pytest.mark.parametrize("dtype", [None, torch.float64])
def test_factory_keywords_make_torchs_parameters(kind, dtype):
    """``dtype=``/``device=`` as in torch.nn: under one seed, the very parameters torch.nn.LSTM/GRU draws."""
    torch.manual_seed(0)
    theirs = getattr(torch.nn, kind)(D, H, 2, bidirectional=True, dtype=dtype)
    torch.manual_seed(0)
    ours = {"LSTM": LSTM, "GRU": GRU}[kind](D, H, 2, bidirectional=True, dtype=dtype)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert all(torch.equal(a, b) for a, b in zip(ours.state_dict().values(), theirs.state_dict().values()))
    assert {p.dtype for p in ours.parameters()} == {dtype or torch.get_default_dtype()}
    x = torch.randn(5, 2, D, dtype=dtype)
    assert ours(x)[0].dtype == x.dtype


@pytest.mark.parametrize("variant", ["vanilla", "peephole", "full_gate_recurrence"])
def test_factory_keywords_reach_the_variants_extra_parameters(variant):
    on_meta = LSTM(D, H, variant=variant, device="meta", dtype=torch.float64)
    assert {(p.device.type, p.dtype) for p in on_meta.parameters()} == {("meta", torch.float64)}
    with pytest.raises(TypeError, match="dtype must be None or a floating-point torch.dtype"):
        LSTM(D, H, variant=variant, dtype=torch.int64)


def test_state_dict_moves_back_to_torch():
    ours, theirs = _pair("LSTM", 2, False, False)
    theirs.load_state_dict(ours.state_dict())
    x = torch.randn(4, 2, D, dtype=torch.float64)
    assert torch.allclose(ours(x)[0], theirs(x)[0], atol=1e-10)


# --- the variants, one step each, against NumPy formulas --------------------------------------


def _sigmoid(a):
    return 1 / (1 + np.exp(-a))


def _numpy_lstm_step(x, h, c, W, U, b, variant, peep=None, R=None, prev=None):
    """One step of each variant written out independently (gate order i, f, g, o)."""
    z = x @ W.T + h @ U.T + b
    zi, zf, zg, zo = np.split(z, 4, axis=-1)
    if peep is not None:
        zi, zf = zi + peep[0] * c, zf + peep[1] * c
    if R is not None:
        extra = prev @ R.T
        zi, zf, zo = zi + extra[:, :H], zf + extra[:, H : 2 * H], zo + extra[:, 2 * H :]
    i = np.ones_like(zi) if variant == "no_input_gate" else _sigmoid(zi)
    f = {"no_forget_gate": np.ones_like(zf), "coupled": 1 - i}.get(variant, _sigmoid(zf))
    g = zg if variant == "no_input_activation" else np.tanh(zg)
    c_new = f * c + i * g
    if peep is not None:
        zo = zo + peep[2] * c_new
    o = np.ones_like(zo) if variant == "no_output_gate" else _sigmoid(zo)
    h_new = o * (c_new if variant == "no_output_activation" else np.tanh(c_new))
    return h_new, c_new


@pytest.mark.parametrize("variant", LSTM_VARIANTS)
def test_each_variant_matches_its_formula_for_two_steps(variant):
    torch.manual_seed(3)
    model = LSTM(D, H, variant=variant).double()
    p = {k: v.detach().numpy() for k, v in model.named_parameters()}
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 5, D))
    h0, c0 = rng.normal(size=(2, 1, 5, H))
    out, (h_n, c_n) = model(torch.from_numpy(x), (torch.from_numpy(h0), torch.from_numpy(c0)))
    h, c, prev = h0[0], c0[0], np.zeros((5, 3 * H))
    for t in range(2):
        h_new, c_new = _numpy_lstm_step(
            x[t],
            h,
            c,
            p["weight_ih_l0"],
            p["weight_hh_l0"],
            p["bias_ih_l0"] + p["bias_hh_l0"],
            variant,
            p.get("weight_peep_l0"),
            p.get("weight_gate_l0"),
            prev,
        )
        # the gates of this step, for the full gate recurrence of the next one
        z = x[t] @ p["weight_ih_l0"].T + h @ p["weight_hh_l0"].T + p["bias_ih_l0"] + p["bias_hh_l0"]
        if "weight_gate_l0" in p:
            z_ifo = np.concatenate([z[:, : 2 * H], z[:, 3 * H :]], axis=1) + prev @ p["weight_gate_l0"].T
            prev = _sigmoid(z_ifo)
        h, c = h_new, c_new
        np.testing.assert_allclose(out[t].detach().numpy(), h, rtol=0, atol=1e-12)
    np.testing.assert_allclose(c_n[0].detach().numpy(), c, rtol=0, atol=1e-12)


def test_extra_parameters_of_peephole_and_gate_recurrence():
    names = dict(LSTM(D, H, 2, bidirectional=True, variant="peephole").named_parameters())
    assert names["weight_peep_l1_reverse"].shape == (3, H)
    gates = dict(LSTM(D, H, variant="full_gate_recurrence").named_parameters())
    assert gates["weight_gate_l0"].shape == (3 * H, 3 * H)
    assert set(dict(LSTM(D, H, variant="coupled").named_parameters())) == set(
        dict(torch.nn.LSTM(D, H).named_parameters())
    )


def test_no_forget_gate_is_vanilla_with_a_saturated_forget_gate():
    ours, theirs = _pair("LSTM", 1, False, False)
    state = theirs.state_dict()
    state["bias_ih_l0"][H : 2 * H] = 1e3  # σ(1000) = 1 exactly in float64
    theirs.load_state_dict(state)
    nfg = LSTM(D, H, variant="no_forget_gate").double()
    nfg.load_state_dict(state)
    x = torch.randn(7, 2, D, dtype=torch.float64)
    assert torch.allclose(nfg(x)[0], theirs(x)[0], rtol=0, atol=1e-12)


def test_coupled_with_equal_gates_and_original_gru_step():
    # coupled: with the forget rows set to minus the input rows, σ(−z) = 1 − σ(z) gives vanilla
    ours, theirs = _pair("LSTM", 1, False, False)
    state = theirs.state_dict()
    for key in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
        state[key][H : 2 * H] = -state[key][:H]
    theirs.load_state_dict(state)
    coupled = LSTM(D, H, variant="coupled").double()
    coupled.load_state_dict(state)
    x = torch.randn(5, 2, D, dtype=torch.float64)
    assert torch.allclose(coupled(x)[0], theirs(x)[0], rtol=0, atol=1e-12)
    # Cho et al.'s GRU: n = tanh(W_in x + b_in + W_hn (r ⊙ h) + b_hn), written out with NumPy
    rng = np.random.default_rng(1)
    W, U = rng.normal(size=(3 * H, D)), rng.normal(size=(3 * H, H))
    b, c = rng.normal(size=3 * H), rng.normal(size=3 * H)
    xt, h = rng.normal(size=(2, D)), rng.normal(size=(2, H))
    r = _sigmoid(xt @ W[:H].T + b[:H] + h @ U[:H].T + c[:H])
    z = _sigmoid(xt @ W[H : 2 * H].T + b[H : 2 * H] + h @ U[H : 2 * H].T + c[H : 2 * H])
    n = np.tanh(xt @ W[2 * H :].T + b[2 * H :] + (r * h) @ U[2 * H :].T + c[2 * H :])
    got = gru_step(*map(torch.from_numpy, (xt, h, W, U, b, c)), reset_after=False)
    np.testing.assert_allclose(got.numpy(), (1 - z) * n + z * h, rtol=0, atol=1e-12)


def test_steps_match_torch_cells():
    torch.manual_seed(4)
    cell, gcell = torch.nn.LSTMCell(D, H).double(), torch.nn.GRUCell(D, H).double()
    x, h, c = torch.randn(2, D).double(), torch.randn(2, H).double(), torch.randn(2, H).double()
    h1, c1 = lstm_step(x, h, c, cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)
    h2, c2 = cell(x, (h, c))
    assert torch.allclose(h1, h2, atol=1e-12) and torch.allclose(c1, c2, atol=1e-12)
    assert torch.allclose(
        gru_step(x, h, gcell.weight_ih, gcell.weight_hh, gcell.bias_ih, gcell.bias_hh), gcell(x, h), atol=1e-12
    )


def test_adding_problem_and_training_reduce_the_error():
    x, y = adding_problem(50, 12, random_state=0)
    assert x.shape == (12, 50, 2) and y.shape == (50, 1)
    assert np.all(x[:, :, 1].sum(axis=0) == 2)
    np.testing.assert_allclose((x[:, :, 0] * x[:, :, 1]).sum(axis=0), y[:, 0])
    torch.manual_seed(0)
    result = train_adding(GRU(2, 8), length=5, steps=150, lr=2e-2)
    assert result.test_mse < 0.5 / 6  # well below predicting the mean (1/6)


def test_checkers_accept_the_right_answer_and_reject_a_wrong_one(capsys):
    def lstm_numpy(x, h, c, W_ih, W_hh, b_ih, b_hh):
        return _numpy_lstm_step(x, h, c, W_ih, W_hh, b_ih + b_hh, "vanilla")

    assert checks.check_lstm_step(lstm_numpy)
    assert not checks.check_lstm_step(lambda x, h, c, *w: (h, c))
    assert not checks.check_lstm_step(lambda *a: (_ for _ in ()).throw(NotImplementedError))

    def gru_numpy(x, h, W_ih, W_hh, b_ih, b_hh):
        return gru_step(*map(torch.from_numpy, (x, h, W_ih, W_hh, b_ih, b_hh))).numpy()

    assert checks.check_gru_step(gru_numpy)
    assert not checks.check_gru_step(lambda x, h, *w: h)
    capsys.readouterr()


def _sigmoid(a):
    return 1 / (1 + np.exp(-a))


def _peephole_jacobian(x, c_prev, a_o, W_ih, W_hh, b, P, with_output_peephole=True):
    """∂c_t/∂c_{t-1} of a peephole LSTM by the chain rule, written out independently of the package."""
    tc = np.tanh(c_prev)
    o_prev = _sigmoid(a_o + P[2] * c_prev)
    dh_dc = o_prev * (1 - tc**2) + (tc * o_prev * (1 - o_prev) * P[2] if with_output_peephole else 0.0)
    h_prev = o_prev * tc
    z_i, z_f, z_g, _ = np.split(W_ih @ x + W_hh @ h_prev + b, 4)
    i, f, g = _sigmoid(z_i + P[0] * c_prev), _sigmoid(z_f + P[1] * c_prev), np.tanh(z_g)
    J_i, J_f, J_g = (block * dh_dc for block in np.split(W_hh, 4)[:3])  # W_h· diag(∂h_{t-1}/∂c_{t-1})
    return (
        np.diag(f)
        + (c_prev * f * (1 - f))[:, None] * (np.diag(P[1]) + J_f)
        + (g * i * (1 - i))[:, None] * (np.diag(P[0]) + J_i)
        + (i * (1 - g**2))[:, None] * J_g
    )


def test_peephole_jacobian_checker_uses_finite_differences(capsys):
    """The checker of exercise lstm-ex-3 accepts the full chain rule and rejects the formula without p_o."""
    args = checks._peephole_problem()
    x, c_prev, a_o, W_ih, W_hh, b, P = map(torch.from_numpy, args)

    def c_next(c):  # an autograd oracle for the same map, independent of the checker's differences
        h = torch.sigmoid(a_o + P[2] * c) * torch.tanh(c)
        z_i, z_f, z_g, _ = (W_ih @ x + W_hh @ h + b).chunk(4)
        return torch.sigmoid(z_f + P[1] * c) * c + torch.sigmoid(z_i + P[0] * c) * torch.tanh(z_g)

    autograd = torch.autograd.functional.jacobian(c_next, c_prev).numpy()
    np.testing.assert_allclose(_peephole_jacobian(*args), autograd, rtol=1e-12, atol=1e-12)
    assert checks.check_peephole_jacobian(_peephole_jacobian)
    missing = _peephole_jacobian(*args, with_output_peephole=False)
    assert np.abs(missing - autograd).max() > 1e-3  # the term through p_o is not negligible here
    assert not checks.check_peephole_jacobian(lambda *a: _peephole_jacobian(*a, with_output_peephole=False))
    assert not checks.check_peephole_jacobian(lambda *a: (_ for _ in ()).throw(NotImplementedError))
    capsys.readouterr()


def test_bad_input_names_the_argument():
    with pytest.raises(ValueError, match="variant must be one of"):
        LSTM(D, H, variant="tiny")
    with pytest.raises(ValueError, match="variant must be one of"):
        lstm_step(
            *[torch.zeros(1, 4 * H)] * 3,
            torch.zeros(4 * H, 4 * H),
            torch.zeros(4 * H, 4 * H),
            torch.zeros(4 * H),
            torch.zeros(4 * H),
            variant="nope",
        )
    with pytest.raises(ValueError, match="hidden_size must be >= 1"):
        GRU(D, 0)
    with pytest.raises(TypeError, match="num_layers must be an int"):
        LSTM(D, H, num_layers=1.5)
    with pytest.raises(TypeError, match="bidirectional must be a bool"):
        GRU(D, H, bidirectional="yes")
    model = LSTM(D, H)
    with pytest.raises(ValueError, match="input must have 3 features"):
        model(torch.randn(4, 2, D + 1))
    with pytest.raises(ValueError, match="input must be 2-D"):
        model(torch.randn(4))
    with pytest.raises(TypeError, match="input must be a torch.Tensor"):
        model(np.zeros((4, 2, D)))
    with pytest.raises(ValueError, match=r"h_0 must have shape \(1, 2, 4\)"):
        model(torch.randn(4, 2, D), (torch.zeros(1, 3, H), torch.zeros(1, 2, H)))
    with pytest.raises(TypeError, match="hx must be None or a pair"):
        model(torch.randn(4, 2, D), torch.zeros(1, 2, H))
    with pytest.raises(ValueError, match="hx must have shape"):
        GRU(D, H)(torch.randn(4, 2, D), torch.zeros(2, 2, H))
    with pytest.raises(ValueError, match="length must be >= 2"):
        adding_problem(3, 1)


def test_shipped_adding_curves_are_complete_and_small():
    """chapters/rnn/data/adding_curves.npz, made by scripts/make_adding_curves.py, as chapter 5 loads it."""
    import json
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "chapters" / "rnn" / "data" / "adding_curves.npz"
    assert path.stat().st_size < 200_000
    with np.load(path) as data:
        settings = json.loads(str(data["settings"]))
        steps = data["steps"]
        assert steps[0] == 0 and steps[-1] == settings["steps"]
        assert set(settings["models"]) == {"tanh RNN", "IRNN", "LSTM", "GRU"}
        for model, spec in settings["models"].items():
            scores = {float(lr): s for lr, s in spec["validation_scores"].items()}
            assert set(scores) == set(settings["lr_grid"])  # every rate of the grid was tried
            assert spec["lr"] == min(scores, key=scores.get)  # and the kept one has the best score
            for lr in settings["lr_grid"]:  # the score is the mean log10 of the stored validation curve
                curve = data[f"{model}|validation|{lr:g}"]
                assert np.isclose(scores[lr], np.mean(np.log10(np.maximum(curve, 1e-8))), atol=1e-5)
            for seed in settings["seeds"]:
                curve = data[f"{model}|{seed}"]
                assert curve.shape == steps.shape and np.all(np.isfinite(curve)) and curve[0] > 1 / 6
    assert settings["select_seed"] not in settings["seeds"]  # the rate is not chosen on a reported seed
    assert {"command", "hidden_size", "batch_size", "clip_norm", "total_cpu_seconds"} <= set(settings)


def test_shipped_lstm_variants_are_complete():
    """chapters/rnn/data/lstm_variants.npz, made by scripts/make_lstm_variants.py, as chapter 4 loads it."""
    import json
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "chapters" / "rnn" / "data" / "lstm_variants.npz"
    assert path.stat().st_size < 200_000
    with np.load(path) as data:
        settings = json.loads(str(data["settings"]))
        assert settings["variants"] == list(LSTM_VARIANTS)
        for variant in LSTM_VARIANTS:
            for seed in settings["seeds"]:
                history = data[f"{variant}|{seed}|history"]
                assert history.shape == (settings["steps"],) and np.all(np.isfinite(history))
                assert 0 <= float(data[f"{variant}|{seed}|test_mse"]) < history[0]  # training lowered the error


@pytest.mark.parametrize("reverse", [False, True])
def test_hand_written_lstm_backward_passes_gradcheck_and_equals_autograd(reverse):
    from scratchbook.rnn.lstm import LSTMLayerFunction

    gen = torch.Generator().manual_seed(3)
    T, B, H_ = 5, 2, 3
    args = [
        torch.randn(shape, dtype=torch.float64, generator=gen, requires_grad=True)
        for shape in ((T, B, 4 * H_), (B, H_), (B, H_), (4 * H_, H_))
    ]
    # finite differences on every input: pre-activations, h_0, c_0 and W_hh
    assert torch.autograd.gradcheck(lambda *a: LSTMLayerFunction.apply(*a, reverse), args)
    fused = LSTM(4, H_, bidirectional=True).double()
    plain = LSTM(4, H_, bidirectional=True).double()
    plain.load_state_dict(fused.state_dict())
    plain.fused = False
    x = torch.randn(T, B, 4, dtype=torch.float64, generator=gen)
    h0 = torch.randn(2, B, H_, dtype=torch.float64, generator=gen)
    c0 = torch.randn(2, B, H_, dtype=torch.float64, generator=gen)
    grads = []
    for module in (fused, plain):
        inputs = [t.clone().requires_grad_() for t in (x, h0, c0)]
        out, (h_n, c_n) = module(inputs[0], (inputs[1], inputs[2]))
        (out.sin().sum() + h_n.square().sum() + c_n.cos().sum()).backward()
        grads.append([t.grad for t in inputs] + [p.grad for p in module.parameters()])
    assert all(torch.allclose(a, b, rtol=0, atol=1e-12) for a, b in zip(*grads))


@pytest.mark.parametrize("reverse", [False, True])
def test_plain_lstm_bptt_equals_the_fused_function_and_autograd(reverse):
    """lstm_layer_forward/backward, the listing of chapter 4, against LSTMLayerFunction and autograd."""
    from scratchbook.rnn import lstm_layer_backward, lstm_layer_forward
    from scratchbook.rnn.lstm import LSTMLayerFunction

    gen = torch.Generator().manual_seed(7)
    T, B, H_ = 6, 3, 4
    x_part, h0, c0, w_hh = (
        torch.randn(shape, dtype=torch.float64, generator=gen, requires_grad=True)
        for shape in ((T, B, 4 * H_), (B, H_), (B, H_), (4 * H_, H_))
    )
    grad_out, grad_h, grad_c = (
        torch.randn(s, dtype=torch.float64, generator=gen) for s in ((T, B, H_), (B, H_), (B, H_))
    )
    order = x_part.flip(0) if reverse else x_part  # the plain loop runs forward: reverse the input for it
    hs, cs, gates = lstm_layer_forward(order, h0, c0, w_hh)
    out = hs[1:].flip(0) if reverse else hs[1:]
    # autograd through the plain forward loop is an independent oracle for the hand-written backward
    auto = torch.autograd.grad(
        (out * grad_out).sum() + (hs[-1] * grad_h).sum() + (cs[-1] * grad_c).sum(), (x_part, h0, c0, w_hh)
    )
    d_part, dh0, dc0, dw = lstm_layer_backward(
        hs.detach(),
        cs.detach(),
        gates.detach(),
        w_hh.detach(),
        grad_out.flip(0) if reverse else grad_out,
        grad_h,
        grad_c,
    )
    plain = (d_part.flip(0) if reverse else d_part, dh0, dc0, dw)
    fused_out, fused_h, fused_c = LSTMLayerFunction.apply(x_part, h0, c0, w_hh, reverse)
    torch.testing.assert_close(fused_out, out, rtol=0, atol=1e-12)
    fused = torch.autograd.grad(
        (fused_out * grad_out).sum() + (fused_h * grad_h).sum() + (fused_c * grad_c).sum(), (x_part, h0, c0, w_hh)
    )
    for a, b, c in zip(plain, auto, fused):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
        torch.testing.assert_close(a, c, rtol=0, atol=1e-12)


def test_vanilla_lstm_cell_matches_torch_cell_and_the_variant_switchboard():
    from scratchbook.rnn import lstm_cell, vanilla_lstm_cell

    torch.manual_seed(5)
    cell = torch.nn.LSTMCell(D, H).double()
    x, h, c = torch.randn(3, D).double(), torch.randn(3, H).double(), torch.randn(3, H).double()
    pre = x @ cell.weight_ih.T + cell.bias_ih + h @ cell.weight_hh.T + cell.bias_hh
    h1, c1 = vanilla_lstm_cell(pre, c)
    h2, c2 = cell(x, (h, c))
    assert torch.allclose(h1, h2, atol=1e-12) and torch.allclose(c1, c2, atol=1e-12)
    h3, c3, _ = lstm_cell(pre, c, "vanilla")
    assert torch.allclose(h1, h3, atol=1e-12) and torch.allclose(c1, c3, atol=1e-12)


def _numpy_lstm_bptt(x, h0, c0, weight_ih, weight_hh, bias, dhs, carousel=True, through_tanh=True):
    """BPTT through one LSTM in NumPy; ``carousel=False`` or ``through_tanh=False`` drop one term (wrong answers)."""

    def sigmoid(a):
        return 1 / (1 + np.exp(-a))

    H = h0.size
    hs, cs, gates = [h0], [c0], []
    for x_t in x:
        a = weight_ih @ x_t + weight_hh @ hs[-1] + bias
        i, f, g, o = sigmoid(a[:H]), sigmoid(a[H : 2 * H]), np.tanh(a[2 * H : 3 * H]), sigmoid(a[3 * H :])
        cs.append(f * cs[-1] + i * g)
        hs.append(o * np.tanh(cs[-1]))
        gates.append((i, f, g, o))
    dx, dW_ih, dW_hh, db = np.zeros_like(x), np.zeros_like(weight_ih), np.zeros_like(weight_hh), np.zeros_like(bias)
    dh, dc = np.zeros(H), np.zeros(H)
    for t in reversed(range(len(x))):
        i, f, g, o = gates[t]
        tanh_c = np.tanh(cs[t + 1])
        dh = dh + dhs[t]
        dc = dc + (dh * o * (1 - tanh_c**2) if through_tanh else 0)
        da = np.concatenate(
            [dc * g * i * (1 - i), dc * cs[t] * f * (1 - f), dc * i * (1 - g**2), dh * tanh_c * o * (1 - o)]
        )
        dx[t], dW_ih, dW_hh, db = weight_ih.T @ da, dW_ih + np.outer(da, x[t]), dW_hh + np.outer(da, hs[t]), db + da
        dh, dc = weight_hh.T @ da, (dc * f if carousel else np.zeros(H))
    return {"x": dx, "h0": dh, "c0": dc, "weight_ih": dW_ih, "weight_hh": dW_hh, "bias": db}


def test_lstm_bptt_checker_accepts_the_right_gradients_and_rejects_a_missing_term(capsys):
    values, dhs = checks._bptt_problem()
    autograd, finite = checks.lstm_bptt_references(values, dhs)
    for key in autograd:  # the two references agree with each other
        np.testing.assert_allclose(autograd[key], finite[key], rtol=1e-6, atol=1e-8)
    state = torch.random.get_rng_state()
    assert checks.check_lstm_bptt(_numpy_lstm_bptt)
    assert torch.equal(state, torch.random.get_rng_state())  # the reader's random stream is untouched
    assert not checks.check_lstm_bptt(functools.partial(_numpy_lstm_bptt, carousel=False))
    assert not checks.check_lstm_bptt(functools.partial(_numpy_lstm_bptt, through_tanh=False))
    assert not checks.check_lstm_bptt(lambda *a: {k: v for k, v in _numpy_lstm_bptt(*a).items() if k != "c0"})
    assert not checks.check_lstm_bptt(lambda *a: (_ for _ in ()).throw(NotImplementedError))
    out = capsys.readouterr().out
    assert "✗ ∂L/∂c0 (torch autograd)" in out and "keys" in out


def test_the_chapters_table_of_variant_lines_quotes_lstm_cell():
    import inspect
    import re
    from pathlib import Path

    import nbformat

    from scratchbook.rnn.lstm import lstm_cell

    chapter = Path(__file__).resolve().parents[1] / "chapters" / "rnn" / "04_lstm.ipynb"
    table = next(c.source for c in nbformat.read(chapter, as_version=4).cells if "(lstm-variant-lines)=" in c.source)
    rows = [line for line in table.splitlines() if line.startswith('| `"')]
    source = " ".join(inspect.getsource(lstm_cell).split())
    assert {re.match(r'\| `"(\w+)"`', row).group(1) for row in rows} == set(LSTM_VARIANTS) - {"vanilla"}
    for row in rows:
        for quoted in re.findall(r"`([^`]+)`", row.split("|")[2]):  # every code span of the second column
            assert quoted in source, quoted
