"""Deep metric learning losses against pytorch-metric-learning, explicit loops and NumPy.

Tolerances: losses agree with pytorch-metric-learning 2.x and with plain Python loops over every pair
or triplet to 1e-10 (float64). To match pytorch-metric-learning exactly we use its defaults, which
are ours: ``LpDistance(normalize_embeddings=True, p=2)`` and ``AvgNonZeroReducer`` (the mean over the
triplets or pairs whose loss is positive), i.e. ``reduction="mean_nonzero"``, ``normalize=True``.
Distance-weighted sampling is random: its empirical frequencies over 400 draws match the weights
1/q(d) to 0.05. Nearest-prototype predictions equal a NumPy nearest-mean classifier exactly.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from pytorch_metric_learning import losses, miners

from scratchbook.metric.checks import check_batch_hard, check_prototype_predict
from scratchbook.metric.deep import (
    EmbeddingNet,
    contrastive_loss,
    distance_weighted_sampling,
    embed,
    embedding_distances,
    prototype_logits,
    prototypes,
    prototypical_loss,
    train_embedding,
    triplet_loss,
)

TOL = 1e-10


def batch(seed, n=24, d=5, classes=4):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, dtype=torch.float64, generator=gen), torch.randint(0, classes, (n,), generator=gen)


def unit_distances(E):
    U = E.numpy() / np.linalg.norm(E.numpy(), axis=1, keepdims=True)
    return np.linalg.norm(U[:, None] - U[None], axis=-1)


def mean_nonzero(values):
    values = [v for v in values if v > 0]
    return sum(values) / len(values) if values else 0.0


@pytest.mark.parametrize("seed, margin", [(0, 0.05), (1, 0.2), (2, 0.5)])
def test_batch_hard_equals_pytorch_metric_learning(seed, margin):
    E, y = batch(seed)
    ref = losses.TripletMarginLoss(margin=margin)(E, y, miners.BatchHardMiner()(E, y))
    assert abs(triplet_loss(E, y, margin=margin, mining="batch_hard").item() - ref.item()) < TOL


@pytest.mark.parametrize("seed", [0, 1])
def test_batch_all_and_easy_positive_equal_pytorch_metric_learning(seed):
    E, y = batch(seed)
    ref_all = losses.TripletMarginLoss(margin=0.2)(E, y)  # no miner: every valid triplet
    miner = miners.BatchEasyHardMiner(pos_strategy="easy", neg_strategy="hard")
    ref_easy = losses.TripletMarginLoss(margin=0.2)(E, y, miner(E, y))
    assert abs(triplet_loss(E, y, margin=0.2, mining="batch_all").item() - ref_all.item()) < TOL
    assert abs(triplet_loss(E, y, margin=0.2, mining="easy_positive").item() - ref_easy.item()) < TOL


@pytest.mark.parametrize("seed, reduction", [(3, "mean_nonzero"), (4, "mean"), (5, "sum")])
def test_batch_all_equals_a_loop(seed, reduction):
    E, y = batch(seed, n=15)
    D, y_ = unit_distances(E), y.numpy()
    terms = [
        max(0.0, D[a, p] - D[a, n] + 0.3)
        for a, p, n in itertools.permutations(range(len(y_)), 3)
        if y_[a] == y_[p] and y_[a] != y_[n]
    ]
    expected = {"mean_nonzero": mean_nonzero(terms), "mean": np.mean(terms), "sum": np.sum(terms)}[reduction]
    got = triplet_loss(E, y, margin=0.3, mining="batch_all", reduction=reduction).item()
    assert abs(got - expected) < TOL


@pytest.mark.parametrize("seed", [6, 7, 8])
def test_semi_hard_equals_a_loop(seed):
    E, y = batch(seed, n=16, classes=3)
    D, y_ = unit_distances(E), y.numpy()
    terms = []
    for a, p in itertools.permutations(range(len(y_)), 2):
        if y_[a] != y_[p]:
            continue
        negatives = [n for n in range(len(y_)) if y_[n] != y_[a]]
        farther = [n for n in negatives if D[a, n] > D[a, p]]
        n = min(farther, key=lambda k: D[a, k]) if farther else max(negatives, key=lambda k: D[a, k])
        terms.append(max(0.0, D[a, p] - D[a, n] + 0.1))
    got = triplet_loss(E, y, margin=0.1, mining="semi_hard", reduction="mean").item()
    assert abs(got - np.mean(terms)) < TOL


@pytest.mark.parametrize("seed, pos_margin, neg_margin", [(0, 0.0, 1.0), (1, 0.2, 0.8)])
def test_contrastive_equals_a_loop_and_pytorch_metric_learning(seed, pos_margin, neg_margin):
    E, y = batch(seed, n=14)
    D, y_ = unit_distances(E), y.numpy()
    pos = [max(0.0, D[i, j] - pos_margin) for i, j in itertools.permutations(range(len(y_)), 2) if y_[i] == y_[j]]
    neg = [max(0.0, neg_margin - D[i, j]) for i, j in itertools.permutations(range(len(y_)), 2) if y_[i] != y_[j]]
    got = contrastive_loss(E, y, pos_margin, neg_margin).item()
    assert abs(got - (mean_nonzero(pos) + mean_nonzero(neg))) < TOL
    ref = losses.ContrastiveLoss(pos_margin=pos_margin, neg_margin=neg_margin)(E, y)
    assert abs(got - ref.item()) < TOL
    squared = contrastive_loss(E, y, pos_margin, neg_margin, squared=True, reduction="mean").item()
    assert abs(squared - (np.mean(np.square(pos)) + np.mean(np.square(neg)))) < TOL


def test_distances_have_finite_gradients_at_zero():
    E = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]], dtype=torch.float64, requires_grad=True)
    D = embedding_distances(E)
    assert torch.allclose(D, torch.as_tensor(unit_distances(E.detach())), atol=1e-12)
    triplet_loss(E, torch.tensor([0, 0, 1]), mining="batch_all", margin=0.5).backward()
    assert torch.isfinite(E.grad).all()


def test_distance_weighted_sampling_draws_valid_negatives_with_the_right_weights():
    E, y = batch(9, n=20, d=4)
    D = embedding_distances(E)
    a, p, n = distance_weighted_sampling(D, y, n_dims=4, generator=torch.Generator().manual_seed(0))
    assert (y[a] == y[p]).all() and (y[a] != y[n]).all() and (a != p).all()
    # the weight of a negative at distance d is 1/q(d) ∝ d^{-(n-2)} (1 - d²/4)^{-(n-3)/2}; draw many times
    anchor = int(a[0])
    negatives = torch.nonzero(y != y[anchor]).squeeze(1)
    d = D[anchor, negatives].clamp(min=0.5)
    w = torch.where(D[anchor, negatives] < 1.4, d**-2 * (1 - d**2 / 4) ** -0.5, torch.zeros_like(d))
    counts = torch.zeros(len(y))
    gen = torch.Generator().manual_seed(1)
    for _ in range(400):
        a, _, drawn = distance_weighted_sampling(D, y, 4, generator=gen)
        counts += torch.bincount(drawn[a == anchor], minlength=len(y))
    freq = counts[negatives] / counts[negatives].sum()
    assert torch.allclose(freq, (w / w.sum()).float(), atol=0.05)


def test_prototypes_classify_like_nearest_mean_in_numpy():
    rng = np.random.default_rng(0)
    support_y = np.repeat([2, 5, 9], 4)
    support = rng.normal(size=(12, 3)) + support_y[:, None] / 3
    query, query_y = rng.normal(size=(30, 3)) + 1.5, rng.choice([2, 5, 9], size=30)
    means = np.stack([support[support_y == c].mean(axis=0) for c in (2, 5, 9)])
    expected = np.array([2, 5, 9])[((query[:, None] - means[None]) ** 2).sum(-1).argmin(axis=1)]
    classes, protos = prototypes(torch.as_tensor(support), torch.as_tensor(support_y))
    assert np.allclose(protos.numpy(), means, atol=1e-12) and classes.tolist() == [2, 5, 9]
    predicted = classes[prototype_logits(torch.as_tensor(query), protos).argmax(dim=1)].numpy()
    assert np.array_equal(predicted, expected)
    loss, acc = prototypical_loss(
        torch.as_tensor(support), torch.as_tensor(support_y), torch.as_tensor(query), torch.as_tensor(query_y)
    )
    assert abs(acc.item() - np.mean(expected == query_y)) < 1e-12
    logits = -((query[:, None] - means[None]) ** 2).sum(-1)
    logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    assert abs(loss.item() + np.mean(logp[np.arange(30), np.searchsorted([2, 5, 9], query_y)])) < 1e-10


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda E, y: triplet_loss(E, y, mining="hardest"), "mining"),
        (lambda E, y: triplet_loss(E, y[:-1]), "labels"),
        (lambda E, y: triplet_loss(E[0], y), "embeddings"),
        (lambda E, y: triplet_loss(E * float("nan"), y), "embeddings contain NaN"),
        (lambda E, y: triplet_loss(E, y, margin=-1.0), "margin"),
        (lambda E, y: triplet_loss(E, y, reduction="max"), "reduction"),
        (lambda E, y: contrastive_loss(E, y, neg_margin=float("inf")), "neg_margin"),
        (lambda E, y: contrastive_loss(E.numpy(), y), "embeddings"),
        (lambda E, y: prototypical_loss(E[:4], y[:4], E, y + 10), "query_labels"),
    ],
)
def test_bad_input_names_the_argument(call, match):
    E, y = batch(0)
    with pytest.raises((ValueError, TypeError), match=match):
        call(E, y)


def test_training_lowers_the_loss_and_restores_threads():
    from sklearn.datasets import load_digits

    digits = load_digits()
    threads = torch.get_num_threads()
    torch.manual_seed(0)
    net = EmbeddingNet(64, 16, 8)
    history = train_embedding(
        net, digits.data / 16, digits.target, steps=60, mining="batch_all", margin=0.2, progress=False
    )
    assert torch.get_num_threads() == threads
    assert history[-10:].mean() < history[:10].mean()
    assert embed(net, digits.data[:5] / 16).shape == (5, 8)


def test_checkers_accept_right_answers_and_reject_wrong_ones():
    def batch_hard(D, y, margin):
        same, diff = y[:, None] == y[None], y[:, None] != y[None]
        np.fill_diagonal(same, False)
        return np.maximum(0, np.where(same, D, -np.inf).max(1) - np.where(diff, D, np.inf).min(1) + margin)

    def predict(support, labels, query):
        classes = np.unique(labels)
        means = np.stack([support[labels == c].mean(0) for c in classes])
        return classes[((query[:, None] - means[None]) ** 2).sum(-1).argmin(1)]

    assert check_batch_hard(batch_hard) and check_prototype_predict(predict)
    assert not check_batch_hard(lambda D, y, m: np.zeros(len(y)))
    # nearest single support example instead of nearest prototype; labels 0..N-1 instead of the labels
    assert not check_prototype_predict(lambda s, labels, q: labels[((q[:, None] - s[None]) ** 2).sum(-1).argmin(1)])
    assert not check_prototype_predict(lambda s, labels, q: np.searchsorted(np.unique(labels), predict(s, labels, q)))


def _batch_hard_grad(E, y, margin, hinge=True, anchor_term=True, accumulate=True):
    """The subgradient of Σ_a ℓ_BH(a); ``hinge``, ``anchor_term`` or ``accumulate`` False make it wrong on purpose."""
    D = np.linalg.norm(E[:, None] - E[None], axis=-1)
    same = y[:, None] == y[None]
    pos = np.where(same & ~np.eye(len(y), dtype=bool), D, -np.inf).argmax(1)
    neg = np.where(same, np.inf, D).argmin(1)
    G = np.zeros_like(E)
    for a in range(len(y)):
        if hinge and D[a, pos[a]] - D[a, neg[a]] + margin <= 0:
            continue
        u, v = (E[a] - E[pos[a]]) / D[a, pos[a]], (E[a] - E[neg[a]]) / D[a, neg[a]]
        if not accumulate:  # overwrite instead of adding up
            G[[a, pos[a], neg[a]]] = 0
        G[a] += (u - v) * anchor_term
        G[pos[a]] -= u
        G[neg[a]] += v
    return G


def test_batch_hard_gradient_checker_accepts_the_subgradient_and_rejects_wrong_ones():
    from scratchbook.metric.checks import _batch_hard_problem, batch_hard_autograd, check_batch_hard_grad

    E, y = _batch_hard_problem()
    n_active = [int((batch_hard_autograd(E, y, m)[1] > 0).sum()) for m in (0.2, 1.0, 4.0)]
    assert n_active[0] == 0 and 0 < n_active[1] < len(y) and n_active[2] == len(y)  # every regime of the hinge
    # the reference itself against central differences of the loss (no ties, no kinks at these points)
    eps, margin = 1e-6, 1.0
    fd = np.zeros_like(E)
    for idx in np.ndindex(E.shape):
        step = np.zeros_like(E)
        step[idx] = eps
        plus, minus = (batch_hard_autograd(E + s, y, margin)[1].sum() for s in (step, -step))
        fd[idx] = (plus - minus) / (2 * eps)
    np.testing.assert_allclose(batch_hard_autograd(E, y, margin)[0], fd, rtol=1e-6, atol=1e-8)
    assert check_batch_hard_grad(_batch_hard_grad)
    assert not check_batch_hard_grad(lambda E, y, m: _batch_hard_grad(E, y, m, hinge=False))
    assert not check_batch_hard_grad(lambda E, y, m: _batch_hard_grad(E, y, m, anchor_term=False))
    assert not check_batch_hard_grad(lambda E, y, m: _batch_hard_grad(E, y, m, accumulate=False))
    assert not check_batch_hard_grad(lambda *a: (_ for _ in ()).throw(NotImplementedError))
