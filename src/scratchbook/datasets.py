"""Small data sets made in code or shipped with scikit-learn: nothing is downloaded."""

from __future__ import annotations

import numpy as np
from sklearn import datasets as _skd
from sklearn.preprocessing import StandardScaler
from sklearn.utils import Bunch, check_random_state

from scratchbook._validation import check_int, check_option

__all__ = ["make_factor_data", "load_standardized"]

_LOADERS = {
    "iris": _skd.load_iris,
    "wine": _skd.load_wine,
    "breast_cancer": _skd.load_breast_cancer,
    "digits": _skd.load_digits,
    "diabetes": _skd.load_diabetes,
}


def make_factor_data(
    n_samples: int = 500,
    n_features: int = 10,
    n_components: int = 2,
    noise_variance: np.ndarray | float | None = None,
    random_state: int | np.random.RandomState | None = None,
) -> Bunch:
    """Sample x = Λz + μ + ε with z ~ N(0, I) and ε ~ N(0, diag(ψ)): the factor analysis model.

    ``noise_variance`` is a scalar (isotropic noise, the PPCA model) or a vector of length
    ``n_features``; ``None`` draws per-feature variances uniformly in [0.1, 1.0]. Returns a Bunch
    with ``data``, ``latent``, ``components`` (q×d, rows are loadings), ``noise_variance`` and ``mean``.
    """
    n_samples = check_int("n_samples", n_samples, low=1)
    n_features = check_int("n_features", n_features, low=1)
    n_components = check_int("n_components", n_components, low=1, high=n_features)
    rng = check_random_state(random_state)
    if noise_variance is None:
        psi = rng.uniform(0.1, 1.0, size=n_features)
    else:
        psi = np.broadcast_to(np.asarray(noise_variance, dtype=float), (n_features,)).copy()
        if np.any(~np.isfinite(psi)) or np.any(psi <= 0):
            raise ValueError("noise_variance must be positive and finite")
    components = rng.normal(size=(n_components, n_features))
    mean = rng.normal(scale=2.0, size=n_features)
    latent = rng.normal(size=(n_samples, n_components))
    noise = rng.normal(size=(n_samples, n_features)) * np.sqrt(psi)
    data = latent @ components + mean + noise
    return Bunch(data=data, latent=latent, components=components, noise_variance=psi, mean=mean)


def load_standardized(name: str) -> Bunch:
    """Load a scikit-learn toy data set with every feature standardized to zero mean, unit variance.

    Constant features (e.g. blank pixels of digits) are dropped first, so no column is all zeros.
    """
    check_option("name", name, _LOADERS)
    raw = _LOADERS[name]()
    X = np.asarray(raw.data, dtype=float)
    keep = X.std(axis=0) > 0
    X = StandardScaler().fit_transform(X[:, keep])
    return Bunch(
        data=X, target=raw.target, feature_names=np.asarray(raw.get("feature_names", np.arange(keep.size)))[keep]
    )
