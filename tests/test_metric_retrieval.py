"""Retrieval metrics against pytorch-metric-learning's AccuracyCalculator and a brute-force oracle."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from sklearn.neighbors import NearestNeighbors

from scratchbook.metric.retrieval import map_at_r, mean_confidence_interval, r_precision, recall_at_k, retrieval_scores

pml = pytest.importorskip("pytorch_metric_learning")


def _pml(X, y):
    from pytorch_metric_learning.distances import LpDistance
    from pytorch_metric_learning.utils.accuracy_calculator import AccuracyCalculator
    from pytorch_metric_learning.utils.inference import CustomKNN

    calc = AccuracyCalculator(
        include=("precision_at_1", "r_precision", "mean_average_precision_at_r"),
        k="max_bin_count",
        device=__import__("torch").device("cpu"),
        knn_func=CustomKNN(LpDistance(normalize_embeddings=False)),
    )
    return calc.get_accuracy(X.astype(np.float32), y)


def _data(seed, n_classes=6, spread=1.0, unbalanced=False):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 9, size=n_classes) if unbalanced else np.full(n_classes, 6)
    y = np.repeat(np.arange(n_classes), sizes)
    centres = rng.normal(size=(n_classes, 5))
    return (centres[y] + spread * rng.normal(size=(len(y), 5))).astype(np.float32), y


@pytest.mark.parametrize("seed, unbalanced", [(0, False), (1, True), (2, True)])
def test_equal_to_pytorch_metric_learning(seed, unbalanced):
    X, y = _data(seed, unbalanced=unbalanced)
    ref = _pml(X, y)
    assert recall_at_k(X, y, ks=(1,))[1] == pytest.approx(ref["precision_at_1"], abs=1e-12)
    assert r_precision(X, y) == pytest.approx(ref["r_precision"], abs=1e-12)
    assert map_at_r(X, y) == pytest.approx(ref["mean_average_precision_at_r"], abs=1e-12)
    scores = retrieval_scores(X, y, ks=(1,))
    assert scores["recall@1"] == pytest.approx(ref["precision_at_1"], abs=1e-12)
    assert scores["r_precision"] == pytest.approx(ref["r_precision"], abs=1e-12)
    assert scores["map_at_r"] == pytest.approx(ref["mean_average_precision_at_r"], abs=1e-12)


def test_recall_at_k_equals_brute_force():
    X, y = _data(3, n_classes=8, spread=1.5)
    nn = NearestNeighbors(n_neighbors=9).fit(X)
    _, idx = nn.kneighbors(X)
    idx = idx[:, 1:]  # drop the query itself (continuous data: no ties)
    for k in (1, 2, 4, 8):
        expected = np.mean([(y[idx[i, :k]] == y[i]).any() for i in range(len(y))])
        assert recall_at_k(X, y, ks=(k,))[k] == pytest.approx(expected)


def test_perfect_and_known_rankings():
    # two tight far-apart clusters: every metric is 1
    X = np.array([[0.0], [0.1], [0.2], [10.0], [10.1], [10.2]])
    y = np.array([0, 0, 0, 1, 1, 1])
    assert map_at_r(X, y) == r_precision(X, y) == recall_at_k(X, y, ks=(1,))[1] == 1.0
    # worked by hand, R = 2 for class 0, class 1 is a lone query (left out):
    # query 0 ranks [1 ✓, 2 ✗, 3 ✓] → AP@R = (1/1)/2; query 1 ranks [0 ✓, 2 ✗, 3 ✓] → 1/2;
    # query 3 ranks [2 ✗, 1 ✓, 0 ✓] → (1/2)/2. R-precision: 1/2, 1/2, 1/2. Recall@1: 1, 1, 0.
    X = np.array([[0.0], [1.0], [2.1], [3.3]])
    y = np.array([0, 0, 1, 0])
    assert map_at_r(X, y) == pytest.approx((0.5 + 0.5 + 0.25) / 3)
    assert r_precision(X, y) == pytest.approx(0.5)
    assert recall_at_k(X, y, ks=(1, 2)) == pytest.approx({1: 2 / 3, 2: 1.0})


def test_lone_queries_are_left_out():
    X, y = _data(4)
    X2, y2 = np.vstack([X, [[50.0] * 5]]), np.append(y, 99)  # a class of one sample far away
    assert map_at_r(X2, y2) == pytest.approx(map_at_r(X, y))


def test_confidence_interval_matches_scipy():
    v = np.random.default_rng(5).uniform(size=40)
    mean, half = mean_confidence_interval(v)
    lo, hi = stats.t.interval(0.95, df=39, loc=v.mean(), scale=stats.sem(v))
    assert mean == pytest.approx(v.mean())
    assert (mean - half, mean + half) == pytest.approx((lo, hi))


@pytest.mark.parametrize(
    "call, error, name",
    [
        (lambda: map_at_r(np.zeros(5), np.zeros(5)), ValueError, "embeddings"),
        (lambda: map_at_r(np.zeros((5, 2)), np.zeros(4)), ValueError, "labels"),
        (lambda: map_at_r(np.full((3, 2), np.nan), np.zeros(3)), ValueError, "embeddings"),
        (lambda: map_at_r(np.eye(3), np.arange(3)), ValueError, "labels"),
        (lambda: recall_at_k(np.eye(3), np.zeros(3), ks=(5,)), ValueError, "k"),
        (lambda: mean_confidence_interval([0.5, 0.6], confidence=1.5), ValueError, "confidence"),
    ],
)
def test_bad_input_names_the_argument(call, error, name):
    with pytest.raises(error, match=name):
        call()


def test_map_at_r_checker_accepts_a_right_answer_and_rejects_a_wrong_one(capsys):
    from scratchbook.metric.checks import check_map_at_r

    def loop_map_at_r(X, y):  # a plain loop over queries, written from the definition
        scores = []
        for i in range(len(y)):
            others = [j for j in np.argsort(((X - X[i]) ** 2).sum(1), kind="stable") if j != i]
            R = int((y == y[i]).sum() - 1)
            hits, total = 0, 0.0
            for rank, j in enumerate(others[:R], start=1):
                if y[j] == y[i]:
                    hits += 1
                    total += hits / rank
            scores.append(total / R)
        return float(np.mean(scores))

    assert check_map_at_r(loop_map_at_r)
    assert not check_map_at_r(lambda X, y: recall_at_k(X, y, ks=(1,))[1])

    def not_done(X, y):
        raise NotImplementedError

    assert not check_map_at_r(not_done)


def test_partial_ranking_is_the_head_of_the_full_one():
    from scratchbook.metric.retrieval import retrieval_ranking

    X, y = _data(7, unbalanced=True)
    full, R = retrieval_ranking(X, y)
    head, R_head = retrieval_ranking(X, y, depth=5)
    np.testing.assert_array_equal(head, full[:, :5])
    np.testing.assert_array_equal(R, R_head)
    np.testing.assert_array_equal(R, full.sum(1))
    scores = retrieval_scores(X, y, ks=(1, 2))
    assert scores == pytest.approx(
        {
            "recall@1": recall_at_k(X, y, (1,))[1],
            "recall@2": recall_at_k(X, y, (2,))[2],
            "r_precision": r_precision(X, y),
            "map_at_r": map_at_r(X, y),
        }
    )
    with pytest.raises(ValueError, match="depth"):
        retrieval_ranking(X, y, depth=0)
