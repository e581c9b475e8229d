"""The NumPy RNN, BPTT, Jacobian products and clipping against finite differences and torch.

Tolerances (float64 throughout): BPTT and central differences with step 1e-6 agree to a relative
error below 1e-6 (the differences themselves are only good to about 1e-9 relative); BPTT and torch's
autograd on the same weights compute the same sums in a different order and agree to 1e-10;
Jacobian products agree with torch.autograd.functional.jacobian to 1e-10; clipping and Adam follow
torch's formulas and agree to 1e-12.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from scratchbook.rnn import (
    PARAM_NAMES,
    adam_step,
    checks,
    clip_grad_norm,
    grad_norm,
    gradient_step,
    grads_from_torch,
    init_rnn_params,
    jacobian_norms,
    jacobian_product,
    numerical_gradient,
    params_from_torch,
    rnn_backward,
    rnn_forward,
    rnn_loss_and_grads,
    sequence_loss,
    sequence_loss_grad,
    set_spectral_radius,
    spectral_radius,
    step_jacobian,
    temporal_xor,
    to_torch,
)

T, B, D, H, O = 7, 3, 2, 5, 3


def rel_err(a, b):
    return np.abs(a - b).max() / max(np.abs(b).max(), 1e-12)


@pytest.fixture
def problem():
    rng = np.random.default_rng(0)
    params = init_rnn_params(D, H, O, random_state=0)
    params["weight_hh"] = set_spectral_radius(params["weight_hh"], 1.2)  # not a trivially small W_hh
    x = rng.normal(size=(T, B, D))
    h0 = 0.5 * rng.normal(size=(B, H))
    targets = rng.normal(size=(T, B, O))
    classes = rng.integers(0, O, size=(T, B))
    return params, x, h0, targets, classes


def torch_loss(params, x, h0, targets, loss):
    """The same model and loss in torch: (loss, rnn, readout, x tensor, h0 tensor) after backward."""
    rnn, readout = to_torch(params)
    xt = torch.from_numpy(x).requires_grad_()
    h0t = torch.from_numpy(h0)[None].requires_grad_()  # torch wants (num_layers, B, H)
    ys = readout(rnn(xt, h0t)[0])
    if loss == "mse":
        value = 0.5 * ((ys - torch.from_numpy(targets)) ** 2).sum()
    else:
        value = torch.nn.functional.cross_entropy(
            ys.reshape(-1, O), torch.from_numpy(targets).reshape(-1), reduction="sum"
        )
    value.backward()
    return value.item(), rnn, readout, xt, h0t


# --- forward pass and state dicts -----------------------------------------------------------


def test_forward_matches_torch_rnn(problem):
    params, x, h0, _, _ = problem
    hs, ys = rnn_forward(x, params, h0)
    rnn, readout = to_torch(params)
    out, h_n = rnn(torch.from_numpy(x), torch.from_numpy(h0)[None])
    np.testing.assert_allclose(hs[0], h0)
    np.testing.assert_allclose(hs[1:], out.detach().numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(ys, readout(out).detach().numpy(), rtol=0, atol=1e-12)
    # one unbatched sequence gives the same states as row 0 of the batch
    hs0, ys0 = rnn_forward(x[:, 0], params, h0[0])
    np.testing.assert_allclose(hs0, hs[:, 0], atol=1e-14)
    np.testing.assert_allclose(ys0, ys[:, 0], atol=1e-14)


def test_state_dict_round_trip_through_torch(problem):
    params = problem[0]
    torch.manual_seed(0)
    rnn, readout = torch.nn.RNN(D, H, dtype=torch.float64), torch.nn.Linear(H, O, dtype=torch.float64)
    back = params_from_torch(*to_torch(params))
    assert set(back) == set(PARAM_NAMES)
    for k in PARAM_NAMES:
        np.testing.assert_array_equal(back[k], params[k])
    theirs = params_from_torch(rnn, readout)
    np.testing.assert_array_equal(theirs["weight_ih"], rnn.weight_ih_l0.detach().numpy())
    np.testing.assert_array_equal(theirs["weight_hy"], readout.weight.detach().numpy())
    with pytest.raises(ValueError, match="rnn must be"):
        params_from_torch(torch.nn.RNN(D, H, nonlinearity="relu"), readout)
    with pytest.raises(ValueError, match="readout must be"):
        params_from_torch(rnn, torch.nn.Linear(H, O, bias=False))
    with pytest.raises(ValueError, match="call backward"):
        grads_from_torch(rnn, readout)


def test_init_follows_torch_bounds():
    p = init_rnn_params(4, 16, 2, random_state=0)
    assert all(np.abs(v).max() <= 1 / 4 for v in p.values())
    assert p["weight_ih"].shape == (16, 4) and p["weight_hy"].shape == (2, 16)
    np.testing.assert_array_equal(p["weight_hh"], init_rnn_params(4, 16, 2, random_state=0)["weight_hh"])


# --- backpropagation through time -----------------------------------------------------------


@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
def test_bptt_matches_finite_differences(problem, loss):
    params, x, h0, targets, classes = problem
    y = targets if loss == "mse" else classes
    value, grads = rnn_loss_and_grads(params, x, y, h0, loss=loss)
    numeric = numerical_gradient(lambda p: rnn_loss_and_grads(p, x, y, h0, loss=loss)[0], params)
    for k in PARAM_NAMES:
        assert rel_err(grads[k], numeric[k]) < 1e-6, k
    # ∂L/∂h_0 as well, through a loss seen as a function of h_0 only
    hs, ys = rnn_forward(x, params, h0)
    _, dh0 = rnn_backward(x, hs, sequence_loss_grad(ys, y, loss), params)
    numeric_h0 = numerical_gradient(lambda p: sequence_loss(rnn_forward(x, params, p["h0"])[1], y, loss), {"h0": h0})[
        "h0"
    ]
    assert rel_err(dh0, numeric_h0) < 1e-6


@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
def test_bptt_matches_torch_autograd(problem, loss):
    params, x, h0, targets, classes = problem
    y = targets if loss == "mse" else classes
    value, grads = rnn_loss_and_grads(params, x, y, h0, loss=loss)
    ref, rnn, readout, _, h0t = torch_loss(params, x, h0, y, loss)
    assert abs(value - ref) < 1e-10 * abs(ref)
    for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        np.testing.assert_allclose(grads[k], getattr(rnn, f"{k}_l0").grad.numpy(), rtol=0, atol=1e-10)
    np.testing.assert_allclose(grads["weight_hy"], readout.weight.grad.numpy(), rtol=0, atol=1e-10)
    np.testing.assert_allclose(grads["bias_y"], readout.bias.grad.numpy(), rtol=0, atol=1e-10)
    theirs = grads_from_torch(rnn, readout)  # the same comparison through the helper the chapters use
    assert set(theirs) == set(PARAM_NAMES)
    for k in PARAM_NAMES:
        np.testing.assert_allclose(grads[k], theirs[k], rtol=0, atol=1e-10)
    hs, ys = rnn_forward(x, params, h0)
    _, dh0 = rnn_backward(x, hs, sequence_loss_grad(ys, y, loss), params)
    np.testing.assert_allclose(dh0, h0t.grad[0].numpy(), rtol=0, atol=1e-10)


def test_numerical_gradient_of_a_quadratic():
    A = np.array([[2.0, 1.0], [1.0, 3.0]])
    w = {"w": np.array([0.3, -1.2])}
    g = numerical_gradient(lambda p: 0.5 * p["w"] @ A @ p["w"], w)["w"]
    np.testing.assert_allclose(g, A @ w["w"], rtol=1e-9)


# --- Jacobian products ----------------------------------------------------------------------


def test_jacobian_product_matches_torch_autograd(problem):
    params, x, h0, _, _ = problem
    hs, _ = rnn_forward(x[:, 0], params, h0[0])
    rnn, _ = to_torch(params)
    xt = torch.from_numpy(x[:, 0])
    for k in (0, 3, T - 1, T):

        def h_T(h_k, k=k):  # run the torch RNN from step k + 1 to T starting at h_k
            return rnn(xt[k:], h_k[None])[1][0] if k < T else h_k

        ref = torch.autograd.functional.jacobian(h_T, torch.from_numpy(hs[k])).numpy()
        np.testing.assert_allclose(jacobian_product(hs, params["weight_hh"], k), ref, rtol=0, atol=1e-10)
    # the norms for every lag are the norms of these products
    norms = jacobian_norms(hs, params["weight_hh"])
    for lag in range(T + 1):
        expected = np.linalg.norm(jacobian_product(hs, params["weight_hh"], T - lag), 2)
        assert abs(norms[lag] - expected) < 1e-12 * max(expected, 1)


def test_jacobian_product_at_the_origin_is_a_matrix_power():
    # with h_t = 0 every factor diag(1 − h_t²) is the identity: ∂h_T/∂h_k = W_hh^(T−k)
    W = set_spectral_radius(np.random.default_rng(3).normal(size=(4, 4)), 0.9)
    hs = np.zeros((11, 4))
    np.testing.assert_allclose(jacobian_product(hs, W, 4), np.linalg.matrix_power(W, 6), atol=1e-14)
    np.testing.assert_allclose(jacobian_product(hs, W, 2, t=5), np.linalg.matrix_power(W, 3), atol=1e-14)
    np.testing.assert_allclose(step_jacobian(np.zeros(4), W), W)
    assert abs(spectral_radius(W) - 0.9) < 1e-12


# --- clipping and optimizers ----------------------------------------------------------------


@pytest.mark.parametrize("max_norm, norm_type", [(0.5, 2.0), (100.0, 2.0), (0.3, 1.0), (0.2, np.inf)])
def test_clip_grad_norm_matches_torch(max_norm, norm_type):
    rng = np.random.default_rng(4)
    grads = {"weight_hh": rng.normal(size=(3, 3)), "bias_ih": rng.normal(size=3)}
    tensors = [torch.nn.Parameter(torch.zeros(g.shape, dtype=torch.float64)) for g in grads.values()]
    for t, g in zip(tensors, grads.values()):
        t.grad = torch.from_numpy(g.copy())
    ref_norm = torch.nn.utils.clip_grad_norm_(tensors, max_norm, norm_type=norm_type)
    clipped, total = clip_grad_norm(grads, max_norm, norm_type)
    assert abs(total - ref_norm.item()) < 1e-12
    assert abs(grad_norm(grads, norm_type) - ref_norm.item()) < 1e-12
    for t, key in zip(tensors, grads):
        np.testing.assert_allclose(clipped[key], t.grad.numpy(), rtol=1e-12, atol=0)
    assert grad_norm(clipped, norm_type) <= max_norm + 1e-12


def test_adam_and_sgd_match_torch_optim(problem):
    params, x, h0, targets, _ = problem
    rnn, readout = to_torch(params)
    opt = torch.optim.Adam([*rnn.parameters(), *readout.parameters()], lr=0.01)
    state, ours = None, params
    for _ in range(5):
        opt.zero_grad()
        ys = readout(rnn(torch.from_numpy(x), torch.from_numpy(h0)[None])[0])
        (0.5 * ((ys - torch.from_numpy(targets)) ** 2).sum()).backward()
        opt.step()
        ours, state = adam_step(ours, rnn_loss_and_grads(ours, x, targets, h0)[1], state, lr=0.01)
    theirs = params_from_torch(rnn, readout)
    for k in PARAM_NAMES:
        np.testing.assert_allclose(ours[k], theirs[k], rtol=0, atol=1e-12)
    _, grads = rnn_loss_and_grads(params, x, targets, h0)
    stepped = gradient_step(params, grads, 0.1)
    np.testing.assert_allclose(stepped["weight_hh"], params["weight_hh"] - 0.1 * grads["weight_hh"])


def test_temporal_xor_every_third_bit_is_the_xor():
    x, y = temporal_xor(5, 4, random_state=0)
    assert x.shape == y.shape == (11, 5, 1)
    bits = np.concatenate([x, y[-1:]])[:, :, 0].astype(int)
    np.testing.assert_array_equal(bits[2::3], bits[0::3] ^ bits[1::3])
    np.testing.assert_array_equal(x[1:], y[:-1])
    with pytest.raises(ValueError, match="n_triples must be >= 1"):
        temporal_xor(2, 0)


# --- bad input ------------------------------------------------------------------------------


def test_bad_input_names_the_argument(problem):
    params, x, h0, targets, classes = problem
    with pytest.raises(ValueError, match="x must be 2 or 3-D"):
        rnn_forward(x[0, 0], params)
    with pytest.raises(ValueError, match=r"x must have shape \(T, D\)"):
        rnn_forward(x[..., :1], params)
    with pytest.raises(ValueError, match="x contains NaN"):
        rnn_forward(np.where(x > 1, np.nan, x), params)
    with pytest.raises(ValueError, match="h0 must have shape"):
        rnn_forward(x, params, h0[0])
    with pytest.raises(ValueError, match="params is missing"):
        rnn_forward(x, {k: v for k, v in params.items() if k != "bias_hh"})
    with pytest.raises(ValueError, match=r"params\['weight_hh'\] must have shape"):
        rnn_forward(x, {**params, "weight_hh": np.zeros((H, H + 1))})
    with pytest.raises(ValueError, match=r"params\['bias_ih'\] contains NaN"):
        rnn_forward(x, {**params, "bias_ih": np.full(H, np.inf)})
    with pytest.raises(TypeError, match="params must be a dict"):
        rnn_forward(x, list(params.values()))
    with pytest.raises(ValueError, match="loss must be one of"):
        rnn_loss_and_grads(params, x, targets, loss="hinge")
    with pytest.raises(ValueError, match="targets must have the shape"):
        rnn_loss_and_grads(params, x, targets[:-1])
    with pytest.raises(ValueError, match="targets must be integer classes"):
        rnn_loss_and_grads(params, x, targets, loss="cross_entropy")
    with pytest.raises(ValueError, match="targets must be classes in"):
        rnn_loss_and_grads(params, x, classes + O, loss="cross_entropy")
    hs, ys = rnn_forward(x, params)
    with pytest.raises(ValueError, match="hs must have shape"):
        rnn_backward(x, hs[1:], ys, params)
    with pytest.raises(ValueError, match="dys must have shape"):
        rnn_backward(x, hs, ys[..., :1], params)
    with pytest.raises(ValueError, match="hidden_size must be >= 1"):
        init_rnn_params(2, 0, 1)
    with pytest.raises(ValueError, match="weight_hh must be a square matrix"):
        jacobian_product(hs[:, 0], params["weight_hh"][:, :2], 0)
    with pytest.raises(ValueError, match="hs must be 2-D"):
        jacobian_norms(hs, params["weight_hh"])
    with pytest.raises(ValueError, match="hs must have shape"):
        jacobian_norms(hs[:, 0, :3], params["weight_hh"])
    with pytest.raises(ValueError, match="k must be <= 7"):
        jacobian_product(hs[:, 0], params["weight_hh"], T + 1)
    with pytest.raises(ValueError, match="ord must be"):
        jacobian_norms(hs[:, 0], params["weight_hh"], ord=3)
    with pytest.raises(ValueError, match="max_norm must be > 0"):
        clip_grad_norm({"w": np.ones(2)}, 0.0)
    with pytest.raises(ValueError, match=r"grads\['w'\] contains NaN"):
        clip_grad_norm({"w": np.array([1.0, np.nan])}, 1.0)
    with pytest.raises(TypeError, match="grads must be a non-empty dict"):
        grad_norm([np.ones(2)])
    with pytest.raises(ValueError, match="grads must have the keys"):
        gradient_step(params, {"weight_hh": params["weight_hh"]}, 0.1)
    with pytest.raises(ValueError, match="lr must be >= 0"):
        adam_step(params, params, lr=-1.0)


# --- the exercise checkers ------------------------------------------------------------------


def test_checkers_accept_right_answers_and_reject_wrong_ones(capsys):
    def input_gradient(x, hs, dys, params):
        dx, future = np.zeros_like(x), np.zeros(hs.shape[1])
        for t in range(len(x), 0, -1):
            eps = (1 - hs[t] ** 2) * (dys[t - 1] @ params["weight_hy"] + future)
            dx[t - 1], future = eps @ params["weight_ih"], eps @ params["weight_hh"]
        return dx

    def not_done(*args):
        raise NotImplementedError

    assert checks.check_input_gradient(input_gradient)
    assert not checks.check_input_gradient(lambda x, hs, dys, p: np.zeros_like(x))

    def jacobian_by_autograd(hs, weight_hh, k):  # a reader's answer: differentiate the tanh steps back to h_k
        W = torch.from_numpy(np.asarray(weight_hh, dtype=float))
        pre = torch.from_numpy(np.arctanh(hs[1:])) - torch.from_numpy(hs[:-1]) @ W.T  # W_ih x_t + b of each step

        def h_T(h):
            for t in range(k, len(hs) - 1):
                h = torch.tanh(pre[t] + W @ h)
            return h

        return torch.autograd.functional.jacobian(h_T, torch.from_numpy(hs[k])).numpy()

    def clip_by_hand(grads, max_norm):  # a reader's answer: one norm over every entry of every array
        norm = np.sqrt(sum(float(np.sum(g**2)) for g in grads.values()))
        return {key: g * min(1.0, max_norm / (norm + 1e-6)) for key, g in grads.items()}

    assert checks.check_jacobian_product(jacobian_by_autograd)
    assert not checks.check_jacobian_product(lambda hs, W, k: np.linalg.matrix_power(W, len(hs) - 1 - k))
    assert checks.check_clip_grad_norm(clip_by_hand)
    assert not checks.check_clip_grad_norm(lambda g, m: {k: np.clip(v, -m, m) for k, v in g.items()})
    for checker in (checks.check_input_gradient, checks.check_jacobian_product, checks.check_clip_grad_norm):
        assert checker(not_done) is False
    out = capsys.readouterr().out
    assert out.count("Not implemented yet") == 3 and "✓" in out and "✗" in out
