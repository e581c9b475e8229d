"""Small data sets made in code or shipped with scikit-learn: nothing is downloaded."""

from __future__ import annotations

import numpy as np
from sklearn import datasets as _skd
from sklearn.preprocessing import StandardScaler
from sklearn.utils import Bunch, check_random_state

from scratchbook._validation import check_int, check_n_components, check_option, check_real

__all__ = ["make_factor_data", "load_standardized", "make_glyphs"]

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
    n_components = check_n_components(n_components, n_features, allow_none=False)
    rng = check_random_state(random_state)
    if noise_variance is None:
        psi = rng.uniform(0.1, 1.0, size=n_features)
    else:
        psi = np.asarray(noise_variance, dtype=float)
        if psi.ndim > 1 or psi.size not in (1, n_features):
            raise ValueError(
                f"noise_variance must be a scalar or a vector of length n_features = {n_features}, "
                f"got shape {psi.shape}"
            )
        psi = np.broadcast_to(psi, (n_features,)).copy()
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


def _bezier_points(control: np.ndarray, n_points: int) -> np.ndarray:
    """Points along quadratic Bézier curves: ``control`` (..., 3, 2) → (..., n_points, 2)."""
    t = np.linspace(0.0, 1.0, n_points)[:, None]
    p0, p1, p2 = control[..., 0:1, :], control[..., 1:2, :], control[..., 2:3, :]
    return (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t**2 * p2


def _glyph_template(rng: np.random.Generator, max_strokes: int) -> np.ndarray:
    """One class's template: 1 to ``max_strokes`` quadratic strokes, control points (n_strokes, 3, 2) in [0, 1]².

    Each stroke after the first starts where an earlier one ends or passes, as pen strokes of a
    character often touch.
    """
    n_strokes = int(rng.integers(1, max_strokes + 1))
    strokes = []
    for _ in range(n_strokes):
        if strokes and rng.random() < 0.6:
            start = _bezier_points(strokes[int(rng.integers(len(strokes)))], 5)[int(rng.integers(5))]
        else:
            start = rng.uniform(0.15, 0.85, size=2)
        angle, length = rng.uniform(0, 2 * np.pi), rng.uniform(0.25, 0.55)
        end = np.clip(start + length * np.array([np.cos(angle), np.sin(angle)]), 0.15, 0.85)
        middle = np.clip((start + end) / 2 + rng.normal(scale=0.15, size=2), 0.1, 0.9)
        strokes.append(np.stack([start, middle, end]))
    return np.stack(strokes)


def make_glyphs(
    n_classes: int = 100,
    n_per_class: int = 20,
    size: int = 28,
    *,
    max_strokes: int = 4,
    jitter: float = 1.0,
    noise: float = 0.05,
    random_state: int | np.random.RandomState | None = None,
) -> Bunch:
    """Procedurally drawn "characters": ``n_classes`` glyph classes, ``n_per_class`` deformed drawings of each.

    A class is a template of 1 to ``max_strokes`` random pen strokes (quadratic Bézier curves in the
    unit square). Each sample redraws its class's template with its own deformation, scaled by
    ``jitter`` (0: none): every control point moved a little, a random affine map (rotation up to
    about ±12°, scale 0.85–1.15, shear, shift of a few pixels), a random stroke width; then Gaussian
    pixel noise of standard deviation ``noise``, clipped to [0, 1]. Like Omniglot, it has many classes
    with few examples each, so a model can be trained on some classes and tested on others.

    Class c's template depends only on ``random_state`` and c, so the first classes are the same
    whatever ``n_classes`` is. Returns a Bunch with ``images`` (n, size, size) and ``data``
    (n, size²), float32 in [0, 1] with ink bright on a dark background, ``target`` (n,) int64 with the
    samples of each class together (class-major order), and ``templates`` (a list of control-point
    arrays, one per class).
    """
    n_classes = check_int("n_classes", n_classes, low=2)
    n_per_class = check_int("n_per_class", n_per_class, low=1)
    size = check_int("size", size, low=8)
    max_strokes = check_int("max_strokes", max_strokes, low=1)
    jitter = check_real("jitter", jitter, low=0.0)
    noise = check_real("noise", noise, low=0.0)
    base = int(check_random_state(random_state).randint(2**31 - 1))
    templates = [_glyph_template(np.random.default_rng([base, c]), max_strokes) for c in range(n_classes)]

    offsets = np.arange(-3, 4)  # the pen reaches at most 3 pixels from a point of its stroke
    images = np.zeros((n_classes, n_per_class, size * size), dtype=np.float32)
    for c, template in enumerate(templates):
        rng = np.random.default_rng([base, c, 1])
        n = n_per_class
        control = template[None] + jitter * rng.normal(scale=0.03, size=(n,) + template.shape)
        angle = jitter * rng.uniform(-0.2, 0.2, size=n)
        scale = 1 + jitter * rng.uniform(-0.15, 0.15, size=(n, 2))
        shear = jitter * rng.uniform(-0.15, 0.15, size=n)
        shift = jitter * rng.uniform(-0.06, 0.06, size=(n, 2))
        cos, sin = np.cos(angle), np.sin(angle)
        rotation = np.stack([np.stack([cos, -sin], -1), np.stack([sin, cos], -1)], -2)  # (n, 2, 2)
        shearing = np.tile(np.eye(2), (n, 1, 1))
        shearing[:, 0, 1] = shear
        A = rotation @ shearing * scale[:, None, :]  # (n, 2, 2)
        points = _bezier_points(control, 24).reshape(n, -1, 2) - 0.5  # centred, (n, strokes·24, 2)
        points = (points @ A.transpose(0, 2, 1) + 0.5 + shift[:, None, :]) * size  # in pixels, (x, y)
        width = 1.0 + jitter * rng.uniform(-0.3, 0.6, size=n)  # half-width of the pen, in pixels
        # each point inks the pixels around it: full ink within the pen's half-width, fading over one pixel
        ix = np.floor(points[..., 0])[..., None, None].astype(int) + offsets[None, :]  # (n, p, 1, 7)
        iy = np.floor(points[..., 1])[..., None, None].astype(int) + offsets[:, None]  # (n, p, 7, 1)
        d = np.hypot(ix + 0.5 - points[..., 0, None, None], iy + 0.5 - points[..., 1, None, None])
        ink = np.clip(1.0 - (d - width[:, None, None, None]), 0.0, 1.0)
        inside = (ix >= 0) & (ix < size) & (iy >= 0) & (iy < size) & (ink > 0)
        sample = np.broadcast_to(np.arange(n)[:, None, None, None], ink.shape)
        flat = (sample * size * size + np.clip(iy, 0, size - 1) * size + np.clip(ix, 0, size - 1))[inside]
        canvas = np.zeros(n * size * size)
        np.maximum.at(canvas, flat, ink[inside])
        canvas = canvas.reshape(n, size * size) + noise * rng.normal(size=(n, size * size))
        images[c] = np.clip(canvas, 0.0, 1.0)
    images = images.reshape(n_classes * n_per_class, size * size)
    target = np.repeat(np.arange(n_classes, dtype=np.int64), n_per_class)
    return Bunch(images=images.reshape(-1, size, size), data=images, target=target, templates=templates)
