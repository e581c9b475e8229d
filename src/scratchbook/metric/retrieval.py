"""Evaluation as deep metric learning does it: retrieval among held-out classes, and few-shot episodes.

Each sample of an evaluation set is a query once; the other samples are the database it searches,
ranked by Euclidean distance between embeddings (leave-one-out). A query whose class has no other
sample cannot retrieve anything right and is left out, as pytorch-metric-learning's
``AccuracyCalculator`` does. Implements Eqs. (retrieval-recall), (retrieval-rprec) and (retrieval-mapr)
of the few-shot chapter.
"""

from __future__ import annotations

import numpy as np
from scipy.special import stdtrit

from scratchbook._validation import check_array, check_int, check_real

__all__ = [
    "retrieval_ranking",
    "recall_at_k",
    "r_precision",
    "map_at_r",
    "retrieval_scores",
    "mean_confidence_interval",
]


def _check_embeddings(embeddings, labels) -> tuple[np.ndarray, np.ndarray]:
    X = check_array("embeddings", embeddings, ndim=2, min_rows=2)
    y = np.asarray(labels)
    if y.ndim != 1 or len(y) != len(X):
        raise ValueError(f"labels must have shape ({len(X)},) to match embeddings, got {y.shape}")
    return X, y


def retrieval_ranking(embeddings, labels, depth: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """For each query that has a same-class sample: its relevance list and its number R of relevant items.

    Returns ``relevant`` (q × m booleans: is the i-th nearest other sample of the query's class?)
    and ``R`` (q,), for the q queries whose class has at least two samples. ``depth`` keeps only the
    m = ``depth`` nearest (a partial sort, much faster than ranking all n − 1 others); ``None``
    ranks them all.
    """
    X, y = _check_embeddings(embeddings, labels)
    n = len(X)
    m = n - 1 if depth is None else check_int("depth", depth, low=1, high=n - 1)
    sq = (X**2).sum(1)
    D = sq[:, None] + sq[None, :] - 2 * X @ X.T
    np.fill_diagonal(D, np.inf)  # a query never retrieves itself
    if m < n - 1:
        top = np.argpartition(D, m - 1, axis=1)[:, :m]
        order = np.take_along_axis(top, np.argsort(np.take_along_axis(D, top, 1), axis=1, kind="stable"), 1)
    else:
        order = np.argsort(D, axis=1, kind="stable")[:, :-1]  # the n−1 others, nearest first
    relevant = y[order] == y[:, None]
    counts = np.unique(y, return_inverse=True, return_counts=True)
    R = counts[2][counts[1]] - 1  # other samples of each query's class
    keep = R > 0
    if not keep.any():
        raise ValueError("labels must give at least one class two samples, so that a query has a match")
    return relevant[keep], R[keep]


def _recall(relevant: np.ndarray, ks) -> dict[int, float]:
    out = {}
    for k in ks:
        k = check_int("k", k, low=1, high=relevant.shape[1])
        out[k] = float(relevant[:, :k].any(1).mean())
    return out


def _r_precision(relevant: np.ndarray, R: np.ndarray) -> float:
    within_r = np.arange(relevant.shape[1])[None, :] < R[:, None]
    return float(((relevant & within_r).sum(1) / R).mean())


def _map_at_r(relevant: np.ndarray, R: np.ndarray) -> float:
    ranks = np.arange(1, relevant.shape[1] + 1)
    within_r = ranks[None, :] <= R[:, None]
    hits = relevant & within_r
    precision_at_i = np.cumsum(hits, axis=1) / ranks[None, :]
    return float(((precision_at_i * hits).sum(1) / R).mean())


def recall_at_k(embeddings, labels, ks=(1, 2, 4, 8)) -> dict[int, float]:
    """Recall@k: the fraction of queries with at least one same-class sample among their k nearest."""
    return _recall(retrieval_ranking(embeddings, labels)[0], ks)


def r_precision(embeddings, labels) -> float:
    """R-precision: the fraction of same-class samples among a query's R nearest, R its class's size − 1."""
    return _r_precision(*retrieval_ranking(embeddings, labels))


def map_at_r(embeddings, labels) -> float:
    """MAP@R: mean over queries of (1/R) Σ_{i≤R} P@i·[item i relevant] (Musgrave et al., 2020)."""
    return _map_at_r(*retrieval_ranking(embeddings, labels))


def retrieval_scores(embeddings, labels, ks=(1, 2, 4, 8)) -> dict[str, float]:
    """Recall@k for each k, R-precision and MAP@R from one partial ranking, as deep as the largest
    of the ks and of the class sizes − 1 (one partial sort instead of three full ones)."""
    y = np.asarray(labels)
    largest_class = int(np.unique(y, return_counts=True)[1].max()) if y.ndim == 1 and y.size else 1
    depth = min(max(max(ks), largest_class - 1, 1), len(y) - 1) if y.ndim == 1 and len(y) > 1 else None
    relevant, R = retrieval_ranking(embeddings, labels, depth=depth)
    scores = {f"recall@{k}": v for k, v in _recall(relevant, ks).items()}
    return {**scores, "r_precision": _r_precision(relevant, R), "map_at_r": _map_at_r(relevant, R)}


def mean_confidence_interval(values, confidence: float = 0.95) -> tuple[float, float]:
    """Mean of ``values`` (e.g. one accuracy per episode) and the half-width of its Student-t interval."""
    v = check_array("values", values, ndim=1, min_rows=2)
    confidence = check_real("confidence", confidence, low=0.0, high=1.0, strict_low=True, strict_high=True)
    half = stdtrit(len(v) - 1, (1 + confidence) / 2) * v.std(ddof=1) / np.sqrt(len(v))  # Student-t quantile
    return float(v.mean()), float(half)
