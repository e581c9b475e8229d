"""The evaluation protocol of Part II against scikit-learn's own cross-validation, and its stored results.

Tolerances: accuracies are exact fractions, so they must agree exactly (to 1e-12).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import LeaveOneOut, StratifiedShuffleSplit, cross_val_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from scratchbook.metric import RCA
from scratchbook.metric.experiments import (
    digits_learners,
    evaluate,
    load_scores,
    loo_knn_accuracy,
    make_noisy_features,
    noisy_learners,
    summarize,
)

RESULTS = Path(__file__).resolve().parents[1] / "chapters" / "metric" / "data" / "knn_scores.json"


def test_evaluate_equals_sklearn_cross_validation_on_the_same_splits(wine_all):
    X, y = wine_all
    scores = evaluate({"scaled": StandardScaler, "RCA": RCA}, X, y, n_splits=4, train_size=0.5, random_state=3)
    cv = StratifiedShuffleSplit(4, train_size=0.5, random_state=3)
    for name, make in (("scaled", StandardScaler), ("RCA", RCA)):
        ref = cross_val_score(make_pipeline(make(), KNeighborsClassifier(3)), X, y, cv=cv)
        np.testing.assert_allclose(scores[name], ref, atol=1e-12)


def test_evaluate_returns_the_pipelines_it_scored(wine_all):
    X, y = wine_all
    scores, models = evaluate({"RCA": RCA}, X, y, n_splits=3, random_state=3, return_models=True)
    splits = StratifiedShuffleSplit(3, train_size=0.5, random_state=3).split(X, y)
    for (train, test), model, score in zip(splits, models["RCA"], scores["RCA"], strict=True):
        assert model.score(X[test], y[test]) == score
        np.testing.assert_allclose(model[0].components_, RCA().fit(X[train], y[train]).components_, atol=1e-12)
    np.testing.assert_array_equal(scores["RCA"], evaluate({"RCA": RCA}, X, y, n_splits=3, random_state=3)["RCA"])


@pytest.mark.parametrize("k", [1, 3, 5])
def test_loo_knn_accuracy_equals_sklearn_leave_one_out(wine_all, k):
    X, y = wine_all
    ref = cross_val_score(KNeighborsClassifier(k), X, y, cv=LeaveOneOut()).mean()
    assert loo_knn_accuracy(X, y, k) == pytest.approx(ref, abs=1e-12)


def test_summarize_reports_mean_and_sample_standard_deviation():
    (mean, sd), (one, zero) = summarize({"a": np.array([0.5, 0.7, 0.9]), "b": np.array([0.4])}).values()
    assert (mean, sd) == pytest.approx((0.7, 0.2))
    assert (one, zero) == (0.4, 0.0)


def test_noisy_features_fool_the_euclidean_distance_but_not_the_informative_pair():
    X, y = make_noisy_features(n_samples=300, n_noise=10, noise_scale=5.0, random_state=0)
    assert X.shape == (300, 12) and set(y) == {0, 1, 2}
    only_informative = cross_val_score(KNeighborsClassifier(3), X[:, :2], y, cv=5).mean()
    euclidean = cross_val_score(KNeighborsClassifier(3), X, y, cv=5).mean()
    assert only_informative > 0.85 and euclidean < 0.6


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"n_samples": 3}, ValueError, "n_samples must be >= 6"),
        ({"n_noise": -1}, ValueError, "n_noise must be >= 0"),
        ({"noise_scale": -1.0}, ValueError, "noise_scale must be >= 0"),
        ({"n_informative": 1.5}, TypeError, "n_informative must be an int"),
    ],
)
def test_make_noisy_features_names_the_bad_argument(kwargs, error, match):
    with pytest.raises(error, match=match):
        make_noisy_features(**kwargs)


def test_evaluate_and_the_factories_reject_bad_input(wine_all):
    X, y = wine_all
    with pytest.raises(ValueError, match="y must have shape"):
        evaluate({"id": FunctionTransformer}, X, y[:-1])
    with pytest.raises(ValueError, match="learners must name at least one"):
        evaluate({}, X, y)
    with pytest.raises(TypeError, match=r"learners\['id'\] must be a function"):
        evaluate({"id": FunctionTransformer()}, X, y)
    with pytest.raises(ValueError, match="names must be among"):
        digits_learners(["LDA"])
    with pytest.raises(ValueError, match="names must be among"):
        noisy_learners(["LDA"])


def test_the_stored_results_cover_every_learner_and_match_a_recomputed_split():
    stored = json.loads(RESULTS.read_text())
    assert set(stored["accuracy"]["digits"]) == set(digits_learners())
    assert set(stored["accuracy"]["noisy"]) == set(noisy_learners())
    scores, settings = load_scores(RESULTS, ["Euclidean, pixels"], data="digits")
    digits = load_digits()
    first = evaluate(
        digits_learners(["Euclidean, pixels"]),
        digits.data,
        digits.target,
        n_splits=1,
        train_size=settings["train_size"],
        random_state=settings["random_state"],
    )
    assert first["Euclidean, pixels"][0] == pytest.approx(scores["Euclidean, pixels"][0], abs=1e-6)
    with pytest.raises(ValueError, match="not in"):
        load_scores(RESULTS, ["LDA"])
    with pytest.raises(ValueError, match="data must be one of"):
        load_scores(RESULTS, data="faces")
