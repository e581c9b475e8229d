"""Echo state networks, the Mackey–Glass series and the gate-free remedies of chapter 3.

Tolerances (float64): the spectral radius, measured by Gelfand's formula with ||W^16384||, matches to
0.2 %; the readout is compared with the normal equations of ridge regression written out
independently (an augmented system with an unpenalised intercept) and with scikit-learn's ``Ridge``,
to 1e-8 on a well-conditioned problem; ``LeakyRNN`` with no delays and no leak is ``torch.nn.RNN`` to 1e-12.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import Ridge
from sklearn.utils.estimator_checks import parametrize_with_checks

from scratchbook.rnn import EchoStateNetwork, LeakyRNN, checks, identity_init, mackey_glass, run_reservoir
from scratchbook.rnn.esn import reservoir_step


@pytest.fixture(scope="module")
def series():
    s = mackey_glass(400, random_state=0)
    return s[:-1, None], s[1:]


# The rows of X are the time steps of one series, read in order, not independent samples, and predict
# records where the series ended (state_, output_) so that predict(reset=False) and generate can go on.
# Three checks assume the opposite; they are expected to fail, for these stated reasons.
ESN_NOT_IID = {
    "check_methods_sample_order_invariance": "rows are time steps: reordering them changes the series",
    "check_methods_subset_invariance": "rows are time steps: the output at t depends on every earlier row",
    "check_dict_unchanged": "predict stores state_ and output_ so that the series can be continued",
}


# washout=0: the checks fit on a few dozen rows, fewer than the default washout of 100.
@parametrize_with_checks(
    [EchoStateNetwork(n_reservoir=20, washout=0, random_state=0)], expected_failed_checks=lambda est: ESN_NOT_IID
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


@pytest.mark.parametrize("rho", [0.5, 0.95, 1.4])
def test_reservoir_has_the_requested_spectral_radius(series, rho):
    """Gelfand's formula, ||W^k||^(1/k) -> rho(W), by repeated squaring: no eigenvalue solver involved."""
    X, Y = series
    esn = EchoStateNetwork(n_reservoir=40, spectral_radius=rho, washout=20, random_state=1).fit(X, Y)
    power, log_norm = esn.W_res_.copy(), 0.0  # W^(2^m) = power * exp(log_norm)
    for _ in range(14):
        power = power @ power
        scale = np.linalg.norm(power, 2)
        power, log_norm = power / scale, 2 * log_norm + np.log(scale)
    assert abs(np.exp(log_norm / 2**14) - rho) < 2e-3 * rho


def test_readout_is_the_closed_form_ridge_solution(series):
    X, Y = series
    lam, washout = 1e-2, 30
    esn = EchoStateNetwork(n_reservoir=30, spectral_radius=0.8, ridge=lam, washout=washout, random_state=0).fit(X, Y)
    # features [u_t; x_t] rebuilt from the fitted weights, step by step
    x, Z = np.zeros(30), []
    for u in X:
        x = np.tanh(esn.W_in_ @ u + esn.W_res_ @ x + esn.bias_)
        Z.append(np.concatenate([u, x]))
    Z, y = np.array(Z)[washout:], Y[washout:]
    # normal equations of min ||y − Z w − b||² + λ||w||² (intercept b not penalised)
    F = Z.shape[1]
    A = np.block([[Z.T @ Z + lam * np.eye(F), Z.sum(0)[:, None]], [Z.sum(0)[None, :], np.array([[len(Z)]])]])
    sol = np.linalg.solve(A, np.concatenate([Z.T @ y, [y.sum()]]))
    assert np.allclose(esn.W_out_[0], sol[:F], rtol=0, atol=1e-8)
    assert abs(esn.b_out_[0] - sol[F]) < 1e-8
    sk = Ridge(alpha=lam, fit_intercept=True).fit(Z, y)
    assert np.allclose(esn.W_out_[0], sk.coef_, rtol=0, atol=1e-8)
    assert abs(esn.b_out_[0] - sk.intercept_) < 1e-8
    assert np.allclose(esn.predict(X)[washout:], sk.predict(Z), rtol=0, atol=1e-8)


def test_multi_output_and_shapes(series):
    X, Y = series
    Y2 = np.stack([Y, Y**2], axis=1)
    esn = EchoStateNetwork(n_reservoir=20, washout=10, random_state=0).fit(X, Y2)
    assert esn.W_out_.shape == (2, 21) and esn.predict(X).shape == (len(X), 2)
    assert esn.transform(X).shape == (len(X), 20)
    assert EchoStateNetwork(n_reservoir=20, washout=10, random_state=0).fit(X, Y).predict(X).shape == (len(X),)


def test_fixed_random_state_gives_identical_output(series):
    X, Y = series
    a = EchoStateNetwork(n_reservoir=25, washout=10, random_state=3).fit(X, Y).predict(X)
    b = EchoStateNetwork(n_reservoir=25, washout=10, random_state=3).fit(X, Y).predict(X)
    c = EchoStateNetwork(n_reservoir=25, washout=10, random_state=4).fit(X, Y).predict(X)
    assert np.array_equal(a, b) and not np.allclose(a, c)


def test_echo_state_property_forgets_the_initial_state(series):
    X, Y = series
    esn = EchoStateNetwork(n_reservoir=50, spectral_radius=0.8, washout=10, random_state=0).fit(X, Y)
    rng = np.random.default_rng(0)
    runs = [run_reservoir(X, esn.W_in_, esn.W_res_, esn.bias_, 1.0, x0=rng.uniform(-1, 1, 50)) for _ in range(2)]
    gap = np.linalg.norm(runs[0] - runs[1], axis=1)
    assert gap[0] > 0.1 and gap[-1] < 1e-10


def test_leaky_step_matches_leaky_rnn():
    """reservoir_step against LeakyRNN, the torch module of chapter 3, holding the same weights."""
    rng = np.random.default_rng(0)
    x, u, W_in, W, b = (rng.normal(size=s) for s in (4, 2, (4, 2), (4, 4), 4))
    rnn = LeakyRNN(2, 4, leak_rate=0.3).double()
    with torch.no_grad():
        for name, value in (("weight_ih_l0", W_in), ("weight_hh_l0", W), ("bias_ih_l0", b), ("bias_hh_l0", 0 * b)):
            getattr(rnn, name).copy_(torch.from_numpy(value))
    expected = rnn(torch.from_numpy(u)[None, None], torch.from_numpy(x)[None, None])[0][0, 0].detach().numpy()
    np.testing.assert_allclose(reservoir_step(x, u, W_in, W, b, 0.3), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"n_reservoir": 0}, "n_reservoir"),
        ({"spectral_radius": -1.0}, "spectral_radius"),
        ({"leak_rate": 1.5}, "leak_rate"),
        ({"ridge": -1.0}, "ridge"),
        ({"washout": 1000}, "washout"),
    ],
)
def test_bad_parameters_name_the_argument(series, kwargs, name):
    X, Y = series
    with pytest.raises((ValueError, TypeError), match=name):
        EchoStateNetwork(**kwargs).fit(X, Y)


def test_bad_arrays_name_the_argument(series):
    X, Y = series
    with pytest.raises(ValueError, match="X"):
        EchoStateNetwork(washout=5).fit(X[:, 0], Y)
    with pytest.raises(ValueError, match="Y"):
        EchoStateNetwork(washout=5).fit(X, Y[:-1])
    bad = X.copy()
    bad[3] = np.nan
    with pytest.raises(ValueError, match="X"):
        EchoStateNetwork(washout=5).fit(bad, Y)
    esn = EchoStateNetwork(n_reservoir=10, washout=5).fit(X, Y)
    with pytest.raises(ValueError, match="X"):
        esn.predict(np.hstack([X, X]))
    with pytest.raises(ValueError, match="tau"):
        mackey_glass(10, tau=0.0)


def test_mackey_glass_is_bounded_and_tau_controls_chaos():
    s = mackey_glass(1500, random_state=0)
    assert s.shape == (1500,) and np.all(s > 0) and np.all(s < 1.5)
    # τ = 2: the series settles on the fixed point x* = 1 (β/γ = 2, x*ⁿ = 1)
    assert np.max(np.abs(mackey_glass(500, tau=2, random_state=0)[-100:] - 1.0)) < 1e-6
    # τ = 17 (chaos): two histories 1e-2 apart end far apart; τ = 5 (a limit cycle): they stay close
    gap = {
        tau: np.max(
            np.abs(
                mackey_glass(800, tau=tau, random_state=0)[-200:] - mackey_glass(800, tau=tau, random_state=1)[-200:]
            )
        )
        for tau in (5, 17)
    }
    assert gap[17] > 0.2 and gap[5] < 0.01


def test_leaky_rnn_without_leak_or_delays_is_torch_rnn():
    torch.manual_seed(0)
    for nonlinearity in ("tanh", "relu"):
        theirs = torch.nn.RNN(3, 5, nonlinearity=nonlinearity).double()
        ours = LeakyRNN(3, 5, nonlinearity).double()
        ours.load_state_dict(theirs.state_dict())
        x, h0 = torch.randn(7, 2, 3, dtype=torch.float64), torch.randn(1, 2, 5, dtype=torch.float64)
        (o1, h1), (o2, h2) = ours(x, h0), theirs(x, h0)
        assert torch.allclose(o1, o2, rtol=0, atol=1e-12) and torch.allclose(h1, h2, rtol=0, atol=1e-12)


def test_leaky_rnn_delays_and_leak_against_a_loop():
    torch.manual_seed(1)
    rnn = LeakyRNN(2, 3, leak_rate=0.4, delays=(1, 3)).double()
    x = torch.randn(6, 1, 2, dtype=torch.float64)
    W1, W3 = rnn.weight_hh_l0, rnn.weight_hh_delay3
    hs = [torch.zeros(1, 3, dtype=torch.float64)] * 3
    for t in range(6):
        pre = x[t] @ rnn.weight_ih_l0.T + rnn.bias_ih_l0 + rnn.bias_hh_l0 + hs[-1] @ W1.T + hs[-3] @ W3.T
        hs.append(0.6 * hs[-1] + 0.4 * torch.tanh(pre))
    assert torch.allclose(rnn(x)[0][:, 0], torch.cat(hs[3:]), rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="delays"):
        LeakyRNN(2, 3, delays=(2,))


def test_identity_init():
    rnn = identity_init(torch.nn.RNN(2, 4, nonlinearity="relu"), scale=0.5)
    assert torch.equal(rnn.weight_hh_l0, 0.5 * torch.eye(4)) and not rnn.bias_hh_l0.any()
    assert rnn.weight_ih_l0.abs().max() < 0.01


def test_checker_accepts_the_right_answer_and_rejects_a_wrong_one(capsys):
    def reader(x_prev, u, W_in, W_res, bias, leak_rate):  # Eq. (esn-update) written out by a reader
        return x_prev + leak_rate * (np.tanh(W_in @ u + W_res @ x_prev + bias) - x_prev)

    assert checks.check_reservoir_step(reader)
    assert not checks.check_reservoir_step(lambda x, u, W_in, W, b, a: np.tanh(W_in @ u + W @ x + b))
