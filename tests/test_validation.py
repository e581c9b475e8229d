"""The argument checks of ``scratchbook._validation``: every error names the argument at fault.

``check_array`` is the package's one array validator; the RNN (``rnn.bptt``, ``rnn.gradients``,
``rnn.esn``) and the distances of Part II (``metric.distances``) call it, so the last tests check
that their errors still name the argument.
"""

from __future__ import annotations

import numpy as np
import pytest

from scratchbook._validation import check_array, check_int, check_n_components, check_option, check_real
from scratchbook.metric.distances import mahalanobis_distances, project_psd
from scratchbook.rnn.bptt import init_rnn_params, rnn_forward
from scratchbook.rnn.esn import run_reservoir
from scratchbook.rnn.gradients import spectral_radius


def test_argument_checks_name_the_argument():
    assert check_int("k", 3, low=1) == 3
    with pytest.raises(ValueError, match="k must be >= 1"):
        check_int("k", 0, low=1)
    with pytest.raises(TypeError, match="k must be an int"):
        check_int("k", 2.0)
    with pytest.raises(ValueError, match="tol must be > 0"):
        check_real("tol", 0.0, low=0.0, strict_low=True)
    with pytest.raises(ValueError, match="tol must be finite"):
        check_real("tol", float("nan"))
    with pytest.raises(ValueError, match="method must be one of"):
        check_option("method", "svd", ("em", "closed_form"))


def test_check_array_returns_a_float64_copy_of_good_input():
    out = check_array("W", [[1, 2], [3, 4]], ndim=2, square=True)
    assert out.dtype == np.float64 and out.shape == (2, 2)
    np.testing.assert_array_equal(out, [[1.0, 2.0], [3.0, 4.0]])
    assert check_array("x", np.float32(2.5)).shape == ()  # ndim=None accepts any number of dimensions
    assert check_array("x", [np.nan], finite=False).shape == (1,)
    assert check_array("x", np.array([1, 2.5], dtype=object)).dtype == np.float64  # numbers as objects


@pytest.mark.parametrize(
    "value, kwargs, error, match",
    [
        ([1.0, np.nan], {}, ValueError, "weights contains NaN or infinity"),
        ([[1.0, np.inf]], {"ndim": 2}, ValueError, "weights contains NaN or infinity"),
        ([1.0, 2.0], {"ndim": 2}, ValueError, r"weights must be 2-D, got an array of shape \(2,\)"),
        (np.zeros((2, 2, 2)), {"ndim": (1, 2)}, ValueError, "weights must be 1 or 2-D"),
        (np.zeros((2, 3)), {"ndim": 2, "square": True}, ValueError, r"weights must be a square matrix.*\(2, 3\)"),
        (np.zeros(3), {"square": True}, ValueError, "weights must be a square matrix"),
        (np.zeros((1, 2)), {"min_rows": 2}, ValueError, "weights must have at least 2 rows"),
        ("abc", {}, TypeError, "weights must be an array of numbers"),
        (None, {}, TypeError, "weights must be an array of numbers"),
        (np.array([1.0, {}], dtype=object), {}, TypeError, "weights must be an array of numbers"),
        ([[1.0, 2.0], [3.0]], {}, TypeError, "weights must be an array of numbers"),
        (np.ones(2) * 1j, {}, ValueError, "weights must hold real numbers: Complex data not supported"),
    ],
)
def test_check_array_rejects_bad_input_naming_the_argument(value, kwargs, error, match):
    with pytest.raises(error, match=match):
        check_array("weights", value, **kwargs)


def test_check_n_components():
    assert check_n_components(None, 4) == 4 and check_n_components(2, 4) == 2
    with pytest.raises(ValueError, match="n_components must be <= n_features = 4, got 5"):
        check_n_components(5, 4)
    with pytest.raises(ValueError, match="rank must be >= 1"):
        check_n_components(0, 4, name="rank")
    with pytest.raises(TypeError, match="n_components must be an int"):
        check_n_components(2.0, 4)
    with pytest.raises(TypeError, match="n_components must be an int"):
        check_n_components(None, 4, allow_none=False)
    with pytest.raises(ValueError, match="n_components must be <= n_samples = 3, got 4"):
        check_n_components(4, 3, bound="n_samples")


@pytest.mark.parametrize(
    "name",
    ["FactorAnalysis", "PPCA", "LLE", "StochasticLLE", "DCA", "NCA", "LMNN", "KernelRCA", "FisherHSIC"]
    + ["more_spectral.AdversarialSML", "more_spectral.KernelFisher"],
)
def test_estimators_check_n_components_naming_it(name):
    """Each estimator with n_components rejects one more than the number of features (ValueError)."""
    from importlib import import_module

    import scratchbook.latent
    import scratchbook.metric

    if "." in name:
        module, name = name.split(".")
        cls = getattr(import_module(f"scratchbook.metric.{module}"), name)
    else:
        cls = getattr(scratchbook.latent, name, None) or getattr(scratchbook.metric, name)
    X, y = np.random.default_rng(0).normal(size=(30, 3)), np.arange(30) % 3
    with pytest.raises(ValueError, match="n_components must be <="):
        cls(n_components=40).fit(X, y)


_PARAMS = init_rnn_params(2, 3, 1, random_state=0)
_N = 4  # reservoir size: W_in (N, 1), W_res (N, N), bias (N,)
_RESERVOIR = (np.zeros((_N, 1)), np.zeros((_N, _N)), np.zeros(_N))


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: rnn_forward([[np.nan, 0.0]], _PARAMS), "x contains NaN"),
        (lambda: rnn_forward(np.zeros(2), _PARAMS), "x must be 2 or 3-D"),
        (
            lambda: rnn_forward(np.zeros((1, 2)), {**_PARAMS, "bias_y": np.zeros((1, 1))}),
            r"params\['bias_y'\] must be 1-D",
        ),
        (lambda: spectral_radius(np.ones((2, 3))), "W must be a square matrix"),
        (lambda: spectral_radius([[np.inf]]), "W contains NaN"),
        (lambda: run_reservoir(np.zeros(3), *_RESERVOIR), "U must be 2-D"),
        (lambda: run_reservoir(np.zeros((2, 1)), *_RESERVOIR, x0=np.zeros((1, _N))), "x0 must be 1-D"),
        (lambda: project_psd(np.ones((2, 3))), "M must be a square matrix"),
        (lambda: project_psd([[np.nan]]), "M contains NaN"),
        (lambda: mahalanobis_distances(np.ones(3)), "X must be 2-D"),
        (lambda: mahalanobis_distances(np.ones((2, 2)), np.ones(2)), "Y must be 2-D"),
    ],
)
def test_callers_of_check_array_name_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()
