"""Echo state networks: a fixed random reservoir and a ridge-regression readout (Part I, chapter 3).

The reservoir is a leaky tanh RNN whose weights are drawn once and never trained (chapter 3,
Eq. (esn-update)); only the linear readout from the input and the reservoir state to the target is
fitted, in closed form (Eq. (esn-ridge)). Arrays are time first: one series is ``(T, features)``.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, TransformerMixin
from sklearn.utils import metadata_routing
from sklearn.utils.validation import check_is_fitted

from scratchbook._validation import check_array, check_int, check_real, check_X
from scratchbook.rnn.gradients import set_spectral_radius

__all__ = ["reservoir_step", "run_reservoir", "ridge_readout", "EchoStateNetwork"]

Array = np.ndarray


def reservoir_step(x_prev: Array, u: Array, W_in: Array, W_res: Array, bias: Array, leak_rate: float) -> Array:
    """One leaky reservoir step, Eq. (esn-update): (1 − α) x_{t−1} + α tanh(W_in u_t + W_res x_{t−1} + b)."""
    return (1.0 - leak_rate) * x_prev + leak_rate * np.tanh(W_in @ u + W_res @ x_prev + bias)


def run_reservoir(
    U: Array, W_in: Array, W_res: Array, bias: Array, leak_rate: float = 1.0, x0: Array | None = None
) -> Array:
    """The reservoir states x_1, …, x_T (shape (T, N)) driven by the inputs U (T, D) from x_0 (zeros if None)."""
    U = check_array("U", U, ndim=2)
    x = np.zeros(W_res.shape[0]) if x0 is None else check_array("x0", x0, ndim=1)
    if x.shape != (W_res.shape[0],):
        raise ValueError(f"x0 must have shape ({W_res.shape[0]},), got {x.shape}")
    states = np.empty((len(U), len(x)))
    for t, u in enumerate(U):
        x = reservoir_step(x, u, W_in, W_res, bias, leak_rate)
        states[t] = x
    return states


def ridge_readout(Z: Array, Y: Array, ridge: float) -> tuple[Array, Array]:
    """Ridge regression with an unpenalised intercept, Eq. (esn-ridge): returns W_out (O, F) and b_out (O,).

    W_out = Ycᵀ Zc (Zcᵀ Zc + λ I)⁻¹ with Zc, Yc the centred features and targets, and
    b_out = ȳ − W_out z̄: the same model as ``sklearn.linear_model.Ridge(alpha=λ)``.
    """
    z_mean, y_mean = Z.mean(axis=0), Y.mean(axis=0)
    Zc, Yc = Z - z_mean, Y - y_mean
    gram = Zc.T @ Zc + ridge * np.eye(Z.shape[1])
    W_out = np.linalg.solve(gram, Zc.T @ Yc).T  # gram is symmetric: solve instead of inverting
    return W_out, y_mean - W_out @ z_mean


class EchoStateNetwork(RegressorMixin, TransformerMixin, BaseEstimator):
    """An echo state network for series shaped (time, features), with scikit-learn's fit/predict.

    A reservoir of ``n_reservoir`` tanh units with random weights W_res rescaled to
    ``spectral_radius``, input weights and biases uniform in ±``input_scaling``, and leak rate
    ``leak_rate`` (1: no leak). ``fit(X, Y)`` drives the reservoir with X from a zero state, drops the
    first ``washout`` steps and fits the readout Y_t ≈ W_out [u_t; x_t] + b_out by ridge regression
    with penalty ``ridge``. ``predict(X)`` runs the reservoir from a zero state again (its first
    ``washout`` outputs are transients), or, with ``reset=False``, from the state where the last
    ``fit`` or ``predict`` left it, so a series can be read in pieces. ``generate(n_steps)`` runs the
    network closed on itself (chapter 7): its last output is its next input. Fitted: ``W_in_`` (N, D),
    ``bias_`` (N,), ``W_res_`` (N, N), ``W_out_`` (O, D + N), ``b_out_`` (O,), ``n_features_in_``, and
    ``state_`` (N,) and ``output_`` (O,), the reservoir state and the readout after the last step read.
    """

    # predict's ``reset`` is an option, not metadata to route: no ``set_predict_request`` method
    __metadata_request__predict = {"reset": metadata_routing.UNUSED}

    def __init__(
        self,
        n_reservoir: int = 200,
        spectral_radius: float = 0.9,
        leak_rate: float = 1.0,
        input_scaling: float = 1.0,
        ridge: float = 1e-6,
        washout: int = 100,
        random_state: int | None = None,
    ) -> None:
        self.n_reservoir = n_reservoir
        self.spectral_radius = spectral_radius
        self.leak_rate = leak_rate
        self.input_scaling = input_scaling
        self.ridge = ridge
        self.washout = washout
        self.random_state = random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True  # Y may be (T, O): one readout row per output
        tags.target_tags.required = True
        return tags

    def _check_params(self) -> None:
        check_int("n_reservoir", self.n_reservoir, low=1)
        check_real("spectral_radius", self.spectral_radius, low=0.0, strict_low=True)
        check_real("leak_rate", self.leak_rate, low=0.0, high=1.0, strict_low=True)
        check_real("input_scaling", self.input_scaling, low=0.0)
        check_real("ridge", self.ridge, low=0.0)
        check_int("washout", self.washout, low=0)

    def _init_reservoir(self, n_features: int) -> None:
        """Draw W_in_, bias_ and W_res_ (Gaussian, rescaled to the spectral radius) from random_state."""
        rng = np.random.default_rng(self.random_state)
        N, s = self.n_reservoir, self.input_scaling
        self.W_in_ = rng.uniform(-s, s, size=(N, n_features))
        self.bias_ = rng.uniform(-s, s, size=N)
        self.W_res_ = set_spectral_radius(rng.standard_normal((N, N)), self.spectral_radius)

    def _features(self, X: Array, x0: Array | None = None) -> Array:
        """The readout's input [u_t; x_t] for every step, shape (T, D + N), from the state x0 (zeros if None)."""
        states = run_reservoir(X, self.W_in_, self.W_res_, self.bias_, self.leak_rate, x0=x0)
        self.state_ = states[-1].copy()
        return np.hstack([X, states])

    def fit(self, X: Array, Y: Array) -> EchoStateNetwork:
        """Drive the reservoir with X (T, D) and fit the ridge readout to Y (T,) or (T, O) after the washout."""
        self._check_params()
        if Y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is None (fit needs Y)")
        X = check_X(self, X, reset=True)  # records n_features_in_
        Y = check_array("Y", Y, ndim=(1, 2))
        if len(Y) != len(X):
            raise ValueError(f"Y must have as many time steps as X ({len(X)}), got {len(Y)}")
        if len(X) <= self.washout + 1:
            raise ValueError(
                f"X must have more than washout + 1 = {self.washout + 1} time steps, got n_samples = {len(X)}"
            )
        self._y_1d = Y.ndim == 1
        Y2 = Y.reshape(len(Y), -1)
        self._init_reservoir(X.shape[1])
        Z_all = self._features(X)
        Z = Z_all[self.washout :]
        self.W_out_, self.b_out_ = ridge_readout(Z, Y2[self.washout :], self.ridge)
        self.output_ = Z_all[-1] @ self.W_out_.T + self.b_out_
        return self

    def transform(self, X: Array) -> Array:
        """The reservoir states (T, N) driven by X from a zero state."""
        check_is_fitted(self)
        X = self._check_X(X)
        return run_reservoir(X, self.W_in_, self.W_res_, self.bias_, self.leak_rate)

    def predict(self, X: Array, reset: bool = True) -> Array:
        """The readout at every step of X (T, D): shape (T,) or (T, O) like the Y given to fit.

        ``reset=True`` starts from a zero state; ``reset=False`` continues from ``state_``, where the
        last ``fit`` or ``predict`` ended, so no new washout is needed.
        """
        check_is_fitted(self)
        X = self._check_X(X)
        if not isinstance(reset, bool):
            raise TypeError(f"reset must be a bool, got {type(reset).__name__}")
        out = self._features(X, x0=None if reset else self.state_) @ self.W_out_.T + self.b_out_
        self.output_ = out[-1].copy()
        return out[:, 0] if self._y_1d else out

    def generate(self, n_steps: int) -> Array:
        """Run closed on itself for ``n_steps`` from where the last ``fit``/``predict`` ended, Eq. (lm-esn-loop).

        For a one-step-ahead predictor (Y_t ≈ X_{t+1}) the last readout ``output_`` is the next input:
        returns ``output_`` followed by the readouts obtained by feeding each one back as the next
        input, n_steps values in all, shape (n_steps,) or (n_steps, O). Needs outputs of the input's
        size. Afterwards the network has read every returned value, so ``state_`` and ``output_`` are
        ready for the next call, as after ``fit``.
        """
        check_is_fitted(self)
        n_steps = check_int("n_steps", n_steps, low=1)
        if self.W_out_.shape[0] != self.n_features_in_:
            raise ValueError(
                f"generate needs as many outputs as inputs to feed its output back, got {self.W_out_.shape[0]} "
                f"outputs and {self.n_features_in_} inputs"
            )
        x, y = self.state_.copy(), self.output_.copy()
        out = np.empty((n_steps, len(y)))
        with np.errstate(over="ignore", invalid="ignore"):  # a loop that diverges ends in inf: a result, not a bug
            for t in range(n_steps):
                out[t] = y
                x = reservoir_step(x, y, self.W_in_, self.W_res_, self.bias_, self.leak_rate)
                y = self.W_out_ @ np.concatenate([y, x]) + self.b_out_
        self.state_, self.output_ = x, y  # read through the last value: output_ is the next one, as after fit
        return out[:, 0] if self._y_1d else out

    def _check_X(self, X: Array) -> Array:
        """X (T, D) after fit: finite, 2-D, with the n_features_in_ columns seen in fit."""
        return check_X(self, X, reset=False)
