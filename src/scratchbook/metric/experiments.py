"""One evaluation protocol for every metric learner of Part II, and the data it is run on.

Every comparison of the part goes through :func:`evaluate`: each learner is a factory that returns a
fresh scikit-learn transformer (a learner, or a pipeline ending in one), it is fitted on the training
part of each split only, and a k-NN classifier after it is scored on the test part. All learners see
the same splits, drawn once from ``random_state``, so their accuracies can be compared split by split.

:func:`digits_learners` builds the learners compared on the digits in chapters 2 and 3, each as a
pipeline from the raw pixels, so that the plain Euclidean distance on the pixels is one of the rows;
``scripts/make_metric_results.py`` runs them and stores the accuracies in
``chapters/metric/data/digits_knn.json``. :func:`make_noisy_features` generates a data set on which the
Euclidean distance is misled by design (a few informative features among many loud, useless ones).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from sklearn.base import clone
from sklearn.decomposition import PCA
from sklearn.model_selection import StratifiedShuffleSplit
from sklearn.neighbors import KNeighborsClassifier, NearestNeighbors
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from scratchbook._validation import check_array, check_int, check_real

if TYPE_CHECKING:  # torch is imported where a network is trained: the NumPy experiments need none of it
    import torch

    from scratchbook.metric.deep import EmbeddingNet

__all__ = [
    "evaluate",
    "summarize",
    "digits_learners",
    "noisy_learners",
    "make_noisy_features",
    "load_scores",
    "loo_knn_accuracy",
    "draw_scores",
    "draw_classes",
    "train_triplet_net",
    "mining_scores",
]


def evaluate(
    learners: Mapping[str, Callable[[], object]],
    X,
    y,
    *,
    n_splits: int = 5,
    train_size: float | int = 0.5,
    n_neighbors: int = 3,
    random_state: int = 0,
    scoring: Callable[[np.ndarray, np.ndarray], float] | None = None,
    return_models: bool = False,
):
    """k-NN test accuracy after each learner on the same ``n_splits`` stratified splits of (X, y).

    Returns ``{name: accuracies}``, one accuracy per split, in the order of the splits. ``scoring``,
    a function ``(y_true, y_pred) -> float`` such as scikit-learn's ``balanced_accuracy_score``,
    replaces the accuracy. With ``return_models``, also ``{name: pipelines}``, the fitted
    learner → k-NN pipeline of every split, to look inside the fits that were scored.
    """
    X = check_array("X", X, ndim=2)
    y = np.asarray(y)
    if y.shape != (len(X),):
        raise ValueError(f"y must have shape ({len(X)},), got {y.shape}")
    n_splits = check_int("n_splits", n_splits, low=1)
    n_neighbors = check_int("n_neighbors", n_neighbors, low=1)
    if not learners:
        raise ValueError("learners must name at least one learner factory")
    if scoring is not None and not callable(scoring):
        raise TypeError(f"scoring must be a function (y_true, y_pred) -> float, got {type(scoring).__name__}")
    if not isinstance(return_models, bool):
        raise TypeError(f"return_models must be a bool, got {type(return_models).__name__}")
    splits = list(StratifiedShuffleSplit(n_splits, train_size=train_size, random_state=random_state).split(X, y))
    scores: dict[str, np.ndarray] = {}
    models: dict[str, list] = {}
    for name, make in learners.items():
        if not callable(make):
            raise TypeError(f"learners[{name!r}] must be a function returning a transformer, got {type(make).__name__}")
        acc, models[name] = [], []
        for train, test in splits:
            model = make_pipeline(clone(make()), KNeighborsClassifier(n_neighbors)).fit(X[train], y[train])
            acc.append(model.score(X[test], y[test]) if scoring is None else scoring(y[test], model.predict(X[test])))
            if return_models:
                models[name].append(model)
        scores[name] = np.array(acc)
    return (scores, models) if return_models else scores


def loo_knn_accuracy(Z, y, n_neighbors: int = 3) -> float:
    """Leave-one-out k-NN accuracy of the points Z (a point is never its own neighbour), majority vote."""
    Z = check_array("Z", Z, ndim=2)
    y = np.asarray(y)
    if y.shape != (len(Z),):
        raise ValueError(f"y must have shape ({len(Z)},), got {y.shape}")
    n_neighbors = check_int("n_neighbors", n_neighbors, low=1, high=len(Z) - 1)
    _, codes = np.unique(y, return_inverse=True)
    neighbours = NearestNeighbors().fit(Z).kneighbors(n_neighbors=n_neighbors, return_distance=False)
    votes = np.array([np.bincount(codes[row], minlength=codes.max() + 1).argmax() for row in neighbours])
    return float(np.mean(votes == codes))


def summarize(scores: Mapping[str, np.ndarray]) -> dict[str, tuple[float, float]]:
    """Mean and sample standard deviation (ddof=1; 0 for one split) of each learner's accuracies."""
    return {name: (float(np.mean(a)), float(np.std(a, ddof=1)) if len(a) > 1 else 0.0) for name, a in scores.items()}


def _whitened_pca(n_components: int):
    return [PCA(n_components, random_state=0), StandardScaler()]


def digits_learners(names: list[str] | None = None, n_components: int = 30) -> dict[str, Callable[[], object]]:
    """The digits comparison of Part II: baselines on the pixels and learners on whitened PCA scores.

    Three baselines: the Euclidean distance on the raw pixels, on the first ``n_components`` principal
    components (a rotation and truncation, nearly the same distance), and on those components
    standardized (a *whitened* metric: the Mahalanobis distance with the inverse covariance inside the
    PCA subspace). Every learner runs after the whitened PCA, as in the chapters. ``names`` picks a
    subset.
    """
    from scratchbook.metric import DCA, GMML, ITML, LMNN, MCML, MMC, NCA, RCA, KernelRCA

    n_components = check_int("n_components", n_components, low=1)
    whitened = lambda *last: make_pipeline(*_whitened_pca(n_components), *last)  # noqa: E731
    factories: dict[str, Callable[[], object]] = {
        "Euclidean, pixels": lambda: FunctionTransformer(),
        f"Euclidean, PCA {n_components}": lambda: PCA(n_components, random_state=0),
        f"whitened PCA {n_components}": lambda: whitened(),
        "MMC": lambda: whitened(MMC(random_state=0)),
        "RCA": lambda: whitened(RCA()),
        "DCA": lambda: whitened(DCA()),
        "LMNN": lambda: whitened(LMNN(max_iter=30)),
        "GMML": lambda: whitened(GMML(random_state=0)),
        "kernel RCA": lambda: whitened(KernelRCA()),
        "MCML": lambda: whitened(MCML(max_iter=15)),
        "NCA": lambda: whitened(NCA(random_state=0)),
        "ITML": lambda: whitened(ITML(max_iter=50, random_state=0)),
    }
    return _select(factories, names)


def _select(factories: dict, names: list[str] | None) -> dict:
    """The factories named in ``names`` (all of them for None), in that order."""
    if names is None:
        return factories
    unknown = [n for n in names if n not in factories]
    if unknown:
        raise ValueError(f"names must be among {list(factories)}, got {unknown}")
    return {n: factories[n] for n in names}


def make_noisy_features(
    n_samples: int = 300,
    n_informative: int = 2,
    n_noise: int = 10,
    noise_scale: float = 5.0,
    random_state: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Three classes in ``n_informative`` features, padded with ``n_noise`` loud, useless features.

    The class means sit on a circle of radius 2 in the informative plane, with unit within-class
    spread; the noise features are independent Gaussians of standard deviation ``noise_scale``. The
    Euclidean distance is dominated by the noise; a metric that shrinks the noise features recovers the
    classes. Returns ``(X, y)`` with X of shape (n_samples, n_informative + n_noise).
    """
    n_samples = check_int("n_samples", n_samples, low=6)
    n_informative = check_int("n_informative", n_informative, low=2)
    n_noise = check_int("n_noise", n_noise, low=0)
    noise_scale = check_real("noise_scale", noise_scale, low=0.0)
    rng = np.random.RandomState(random_state)
    y = np.arange(n_samples) % 3
    angles = 2 * np.pi * y / 3
    centres = np.zeros((n_samples, n_informative))
    centres[:, 0], centres[:, 1] = 2 * np.cos(angles), 2 * np.sin(angles)
    informative = centres + rng.normal(size=(n_samples, n_informative))
    noise = noise_scale * rng.normal(size=(n_samples, n_noise))
    return np.hstack([informative, noise]), y


def noisy_learners(names: list[str] | None = None) -> dict[str, Callable[[], object]]:
    """The comparison on :func:`make_noisy_features`: two baselines and every learner after standardizing.

    The baselines are the Euclidean distance on the features as they are and after standardizing each
    feature (a diagonal metric that needs no labels); every learner runs after the standardization.
    """
    from scratchbook.metric import DCA, GMML, ITML, LMNN, MCML, MMC, NCA, RCA, KernelRCA

    def standardized(learner):
        return lambda: make_pipeline(StandardScaler(), learner())

    factories: dict[str, Callable[[], object]] = {
        "Euclidean": lambda: FunctionTransformer(),
        "standardized": lambda: StandardScaler(),
        "MMC": standardized(lambda: MMC(random_state=0)),
        "RCA": standardized(RCA),
        "DCA": standardized(DCA),
        "LMNN": standardized(lambda: LMNN(max_iter=30)),
        "GMML": standardized(lambda: GMML(random_state=0)),
        "kernel RCA": standardized(KernelRCA),
        "MCML": standardized(lambda: MCML(max_iter=15)),
        "NCA": standardized(lambda: NCA(random_state=0)),
        "ITML": standardized(lambda: ITML(max_iter=50, random_state=0)),
    }
    return _select(factories, names)


def load_scores(
    path: str | Path, names: list[str] | None = None, data: str = "digits"
) -> tuple[dict[str, np.ndarray], dict]:
    """Read a file of ``scripts/make_metric_results.py``: ``({name: accuracies}, settings)`` for ``data``."""
    stored = json.loads(Path(path).read_text())
    if data not in stored["accuracy"]:
        raise ValueError(f"data must be one of {list(stored['accuracy'])}, got {data!r}")
    accuracy = stored["accuracy"][data]
    names = list(accuracy) if names is None else names
    missing = [n for n in names if n not in accuracy]
    if missing:
        raise ValueError(f"names {missing} are not in {path}; it holds {list(accuracy)}")
    return {n: np.asarray(accuracy[n], dtype=float) for n in names}, stored["settings"][data]


def draw_classes(ax, Z, y, title: str = "", label: str = "class", s: float = 9) -> None:
    """Scatter the 2-D points Z with one colour per class of y (legend entries "{label} {c}"), no ticks."""
    Z, y = np.asarray(Z), np.asarray(y)
    if Z.ndim != 2 or Z.shape[1] < 2 or len(Z) != len(y):
        raise ValueError(f"Z must have shape (len(y), >=2), got {Z.shape} for {len(y)} labels")
    for k, c in enumerate(np.unique(y)):
        ax.scatter(*Z[y == c, :2].T, s=s, color=f"C{k}", label=f"{label} {c}")
    ax.set(xticks=[], yticks=[], title=title)


def draw_scores(ax, scores: Mapping[str, np.ndarray], reference: str | None = None, title: str = "") -> None:
    """Horizontal bars of the mean accuracy, one dot per split, ± one standard deviation as a line.

    ``reference`` names the row drawn again as a dotted vertical line, to read every row against it.
    """
    names = list(scores)
    for k, name in enumerate(names):
        a = np.asarray(scores[name])
        mean, sd = a.mean(), (a.std(ddof=1) if len(a) > 1 else 0.0)
        ax.barh(k, mean, color=f"C{k % 10}", alpha=0.45)
        ax.plot(a, np.full(len(a), k) + np.linspace(-0.2, 0.2, len(a)), "k.", ms=2.5)
        ax.plot([mean - sd, mean + sd], [k, k], color="k", lw=1.2)
        ax.text(1.0, k, f" {mean:.3f} ± {sd:.3f}", va="center", fontsize=8, transform=ax.get_yaxis_transform())
    if reference is not None:
        ax.axvline(np.mean(scores[reference]), color="k", lw=0.8, ls=":")
    lows = min(np.min(a) for a in scores.values())
    ax.set(yticks=range(len(names)), yticklabels=names, xlim=(max(0.0, lows - 0.03), 1.0), title=title)
    ax.set_xlabel("3-NN test accuracy")
    ax.invert_yaxis()


def train_triplet_net(
    X,
    y,
    mining: str,
    seed: int,
    out: int = 16,
    margin: float = 0.2,
    steps: int = 150,
    device: str | torch.device | None = None,
) -> tuple[EmbeddingNet, np.ndarray]:
    """The 64 → 32 → ``out`` embedding of chapter 4, trained with the triplet loss and one mining strategy.

    Returns the network (on ``device``, default :func:`scratchbook.utils.get_device`) and the loss of every step.
    """
    import torch

    from scratchbook.metric.deep import EmbeddingNet, train_embedding

    torch.manual_seed(seed)
    net = EmbeddingNet(np.asarray(X).shape[1], 32, out)
    history = train_embedding(
        net, X, y, steps=steps, mining=mining, margin=margin, random_state=seed, progress=False, device=device
    )
    return net, history


def mining_scores(net, X_train, y_train, X_test, y_test, unseen_X=None, unseen_y=None) -> dict[str, float]:
    """5-NN test accuracy of the embedding (fitted on the embedded training set) and, given unseen classes,
    Recall@1 among them: the fraction of unseen images whose nearest other unseen image shares its class."""
    from scratchbook.metric.deep import embed

    scores = {"knn5": KNeighborsClassifier(5).fit(embed(net, X_train), y_train).score(embed(net, X_test), y_test)}
    if unseen_X is not None:
        Z = embed(net, unseen_X)
        Z = Z / np.linalg.norm(Z, axis=1, keepdims=True)  # the distance the network was trained for
        scores["recall1_unseen"] = loo_knn_accuracy(Z, unseen_y, n_neighbors=1)
    return {k: float(v) for k, v in scores.items()}
