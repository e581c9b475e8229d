"""Argument checks shared by every estimator and function: each error names the argument at fault.

Scalars: :func:`check_int`, :func:`check_real`, :func:`check_option`. Arrays: :func:`check_array` for a
function's array argument and :func:`check_X` for an estimator's data (scikit-learn's ``validate_data``,
so ``n_features_in_`` is set in ``fit`` and checked afterwards), both built on scikit-learn's public
helpers; the number of dimensions is checked first, so the message names the argument and never
depends on scikit-learn's wording. A value out of range is a ``ValueError``; a value of the wrong type
is a ``TypeError``.
"""

from __future__ import annotations

from collections.abc import Iterable
from numbers import Integral, Real
from typing import Any

import numpy as np

__all__ = ["check_int", "check_real", "check_option", "check_array", "check_X", "check_n_components"]


def check_int(name: str, value, *, low: int | None = None, high: int | None = None) -> int:
    """Return ``value`` as an int, or raise naming ``name`` if it is not an integer in [low, high]."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if low is not None and value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be <= {high}, got {value}")
    return int(value)


def check_real(
    name: str,
    value,
    *,
    low: float | None = None,
    high: float | None = None,
    strict_low: bool = False,
    strict_high: bool = False,
) -> float:
    """Return ``value`` as a finite float in the allowed range, or raise naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if low is not None and (value <= low if strict_low else value < low):
        raise ValueError(f"{name} must be {'>' if strict_low else '>='} {low}, got {value}")
    if high is not None and (value >= high if strict_high else value > high):
        raise ValueError(f"{name} must be {'<' if strict_high else '<='} {high}, got {value}")
    return value


def check_option(name: str, value, options: Iterable[str]) -> str:
    """Return ``value`` if it is one of ``options``, else raise naming ``name`` and the choices."""
    options = tuple(options)
    if value not in options:
        raise ValueError(f"{name} must be one of {options}, got {value!r}")
    return value


def _check_ndim(name: str, value, ndim: int | tuple[int, ...] | None) -> None:
    if ndim is None:
        return
    allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
    got = np.ndim(value)
    if got not in allowed:
        wanted = " or ".join(str(n) for n in allowed)
        raise ValueError(f"{name} must be {wanted}-D, got an array of shape {np.shape(value)}")


def check_array(
    name: str,
    value,
    *,
    ndim: int | tuple[int, ...] | None = None,
    dtype: Any = np.float64,
    finite: bool = True,
    square: bool = False,
    min_rows: int = 0,
) -> np.ndarray:
    """``value`` as a NumPy array of ``dtype``, or a ``ValueError``/``TypeError`` naming ``name``.

    The one array validator of the package (scikit-learn's ``check_array`` underneath). Checks, in this
    order: real numbers at all, the number of dimensions (``ndim``: one int or a tuple of
    allowed ones), NaN or infinity (unless ``finite=False``), a square matrix, at least ``min_rows`` rows.
    """
    from sklearn.utils import check_array as sk_check_array

    if value is None:
        raise TypeError(f"{name} must be an array of numbers, got None")
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be an array of numbers, got {type(value).__name__}") from None
    if arr.dtype == object:  # numbers held as Python objects are accepted, as scikit-learn does
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"{name} must be an array of numbers, got dtype object") from None
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(f"{name} must be an array of numbers, got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.complexfloating):  # a ValueError with scikit-learn's wording, as it raises
        raise ValueError(f"{name} must hold real numbers: Complex data not supported, got dtype {arr.dtype}")
    _check_ndim(name, arr, ndim)
    if finite and np.issubdtype(arr.dtype, np.inexact) and not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinity")
    if type(value) is np.ndarray:  # checked above: only the dtype is left (a hot path of the NumPy RNN)
        arr = arr if dtype is None else arr.astype(dtype, copy=False)
    else:  # lists, array-likes, pandas: scikit-learn's conversion rules
        arr = sk_check_array(
            arr,
            dtype=dtype,
            ensure_2d=False,
            allow_nd=True,
            ensure_all_finite=finite,
            ensure_min_samples=0,
            input_name=name,
        )
    if square and (arr.ndim != 2 or arr.shape[0] != arr.shape[1]):
        raise ValueError(f"{name} must be a square matrix, got shape {arr.shape}")
    if arr.ndim and len(arr) < min_rows:
        raise ValueError(f"{name} must have at least {min_rows} rows, got {len(arr)}")
    return arr


def check_X(estimator, X, y=None, *, reset: bool, min_samples: int = 1, **kwargs):
    """scikit-learn's ``validate_data`` for an estimator's ``X`` (and ``y``), with X's dimensions checked
    first so that the message names X. ``reset=True`` in ``fit`` records ``n_features_in_``; afterwards
    a different number of features is a ``ValueError``. Sparse input is left to scikit-learn, which
    rejects it unless ``accept_sparse`` is passed."""
    from sklearn.utils.validation import validate_data

    if not (hasattr(X, "__array__") or hasattr(X, "tocsr") or isinstance(X, (list, tuple))):
        raise TypeError(f"X must be an array of shape (n_samples, n_features), got {type(X).__name__}")
    try:
        ndim = np.ndim(X)
    except (TypeError, ValueError):  # ragged input: scikit-learn's checks say what is wrong
        ndim = 2
    if ndim != 2:
        raise ValueError(
            f"X must be 2-D of shape (n_samples, n_features), got an array of shape {np.shape(X)}. Reshape your "
            "data, with X.reshape(-1, 1) for a single feature or X.reshape(1, -1) for a single sample."
        )
    kwargs.setdefault("dtype", np.float64)
    if y is None:
        return validate_data(estimator, X, reset=reset, ensure_min_samples=min_samples, **kwargs)
    return validate_data(estimator, X, y, reset=reset, ensure_min_samples=min_samples, **kwargs)


def check_n_components(
    n_components,
    n_features: int,
    *,
    name: str = "n_components",
    bound: str = "n_features",
    allow_none: bool = True,
) -> int:
    """``n_components`` as an int in [1, n_features], or a ``ValueError``/``TypeError`` naming it.

    ``None`` means ``n_features`` unless ``allow_none=False`` (then it is a ``TypeError``). ``bound`` names
    the upper limit in the message when it is not the number of features ("n_samples", a rank).
    """
    if n_components is None and allow_none:
        return n_features
    q = check_int(name, n_components, low=1)
    if q > n_features:
        raise ValueError(f"{name} must be <= {bound} = {n_features}, got {q}")
    return q
