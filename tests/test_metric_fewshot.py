"""The few-shot chapter's network and batch sources, trained through scratchbook.training.fit."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from scratchbook.datasets import make_glyphs
from scratchbook.metric.deep import prototypical_loss
from scratchbook.metric.fewshot import ConvEmbedding, episode_batches, episodic_prototypical_loss, pk_batches
from scratchbook.training import fit


@pytest.fixture(scope="module")
def glyphs():
    return make_glyphs(12, 6, size=16, random_state=0)


def test_conv_embedding_shapes_flat_or_square():
    net = ConvEmbedding(size=16, channels=4, out_features=5)
    x = torch.randn(3, 16, 16)
    assert net(x).shape == (3, 5)
    torch.testing.assert_close(net(x.reshape(3, -1)), net(x))
    with pytest.raises(ValueError, match="size"):
        ConvEmbedding(size=4)


def test_episode_batches_put_the_support_first(glyphs):
    draw = episode_batches(glyphs.data, glyphs.target, n_way=4, n_shot=2, n_query=3)
    xb, yb = draw(0, np.random.default_rng(0))
    assert xb.shape == (4 * 5, 256) and yb.shape == (20,)
    support, query = yb[:8], yb[8:]
    assert len(np.unique(support)) == 4 and set(query) == set(support)
    assert (np.bincount(support)[np.unique(support)] == 2).all()
    # the rows are the data set's rows of those labels
    for x, label in zip(xb, yb):
        assert any(np.array_equal(x, row) for row in glyphs.data[glyphs.target == label])


def test_episodic_loss_is_the_prototypical_loss_of_the_split(glyphs):
    torch.manual_seed(0)
    net = ConvEmbedding(size=16, channels=4, out_features=5)
    xb, yb = episode_batches(glyphs.data, glyphs.target, 3, 2, 2)(0, np.random.default_rng(1))
    xb, yb = torch.as_tensor(xb), torch.as_tensor(yb)
    z = net(xb)
    expected = prototypical_loss(z[:6], yb[:6], z[6:], yb[6:])[0]
    torch.testing.assert_close(episodic_prototypical_loss(6)(net, xb, yb, 0), expected)


def test_pk_batches_shape(glyphs):
    xb, yb = pk_batches(glyphs.data, glyphs.target, 3, 4)(0, np.random.default_rng(2))
    assert xb.shape == (12, 256)
    assert sorted(np.bincount(yb)[np.unique(yb)]) == [4, 4, 4]
    with pytest.raises(ValueError, match="n_classes"):
        pk_batches(glyphs.data, glyphs.target, 50, 2)


def test_fit_with_episodes_lowers_the_loss(glyphs):
    torch.manual_seed(0)
    net = ConvEmbedding(size=16, channels=8, out_features=8)
    history = fit(
        net,
        episodic_prototypical_loss(5 * 2),
        batches=episode_batches(glyphs.data, glyphs.target, 5, 2, 3),
        steps=40,
        lr=3e-3,
        progress=False,
        device="cpu",
    )
    assert history[-10:].mean() < 0.7 * history[:10].mean()


def _prototype_accuracy(X, y, n_way, n_shot, n_query, episodes, random_state):
    """The oracle: each episode's query accuracy by prototypical_loss, in float64 torch, one episode at a time."""
    from scratchbook.metric.deep import sample_episode

    rng, accs = np.random.default_rng(random_state), []
    for _ in range(episodes):
        s, q = sample_episode(y, n_way, n_shot, n_query, rng)
        Xs, Xq, ys, yq = (torch.as_tensor(a) for a in (X[s], X[q], y[s], y[q]))
        accs.append(prototypical_loss(Xs, ys, Xq, yq)[1].item())
    return np.array(accs)


def test_episode_accuracy_matches_sklearn_and_prototypical_loss_on_the_same_episodes(glyphs):
    from sklearn.neighbors import KNeighborsClassifier, NearestCentroid

    from scratchbook.metric.deep import episode_accuracy, sample_episode

    X, y = glyphs.data.astype(np.float64), glyphs.target
    nn = episode_accuracy(X, y, 5, 2, n_query=3, episodes=20, random_state=4, rule="nearest_neighbour")
    mean = episode_accuracy(X, y, 5, 2, n_query=3, episodes=20, random_state=4)
    rng = np.random.default_rng(4)
    for acc_nn, acc_mean in zip(nn, mean):
        s, q = sample_episode(y, 5, 2, 3, rng)
        knn = KNeighborsClassifier(n_neighbors=1).fit(X[s], y[s])
        assert acc_nn == pytest.approx((knn.predict(X[q]) == y[q]).mean())
        centroid = NearestCentroid().fit(X[s], y[s])
        assert acc_mean == pytest.approx((centroid.predict(X[q]) == y[q]).mean())
    # the prototype rule is prototypical_loss's (torch, chapter 2.4), episode by episode
    proto = _prototype_accuracy(X, y, 5, 3, n_query=3, episodes=20, random_state=2)
    np.testing.assert_allclose(episode_accuracy(X, y, 5, 3, n_query=3, episodes=20, random_state=2), proto, atol=1e-12)
    # also where distances tie (small integer features): a tie goes to the smaller label, as prototypes() sorts
    grid, labels = np.random.default_rng(0).integers(0, 3, size=(40, 2)).astype(float), np.repeat(np.arange(4), 10)
    np.testing.assert_array_equal(
        episode_accuracy(grid, labels, 4, 1, n_query=3, episodes=50, random_state=1),
        _prototype_accuracy(grid, labels, 4, 1, n_query=3, episodes=50, random_state=1),
    )
    # at one shot the two rules agree
    np.testing.assert_allclose(
        episode_accuracy(X, y, 5, 1, episodes=10, n_query=3, rule="nearest_neighbour"),
        episode_accuracy(X, y, 5, 1, episodes=10, n_query=3),
    )
    with pytest.raises(ValueError, match="y must"):
        episode_accuracy(X, y[:-1], 5, 1)
    with pytest.raises(ValueError, match="rule"):
        episode_accuracy(X, y, 5, 1, rule="svm")


@pytest.mark.parametrize("method", ["prototypical", "triplet", "proxy_nca", "proxy_anchor", "arcface"])
def test_train_fewshot_runs_every_method_and_is_repeatable(method):
    from scratchbook.metric.fewshot import train_fewshot

    g = make_glyphs(30, 5, random_state=1)
    net_a, h_a = train_fewshot(method, g.data, g.target, steps=2, device="cpu")
    net_b, h_b = train_fewshot(method, g.data, g.target, steps=2, device="cpu")
    assert h_a.shape == (2,) and np.isfinite(h_a).all()
    np.testing.assert_array_equal(h_a, h_b)
    assert isinstance(net_a, ConvEmbedding) and net_a(torch.as_tensor(g.data[:3])).shape == (3, 64)
    with pytest.raises(ValueError, match="method"):
        train_fewshot("softmax", g.data, g.target, steps=1)
