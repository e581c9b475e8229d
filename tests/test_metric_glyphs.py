"""The glyph data set of the few-shot chapter: shape, range, balance, determinism, distinct classes."""

from __future__ import annotations

import numpy as np
import pytest

from scratchbook.datasets import make_glyphs


@pytest.fixture(scope="module")
def glyphs():
    return make_glyphs(30, 6, size=20, random_state=0)


def test_shapes_dtype_and_range(glyphs):
    assert glyphs.images.shape == (180, 20, 20)
    assert glyphs.data.shape == (180, 400)
    assert glyphs.images.dtype == glyphs.data.dtype == np.float32
    assert glyphs.target.dtype == np.int64
    np.testing.assert_array_equal(glyphs.images.reshape(180, -1), glyphs.data)
    assert glyphs.data.min() >= 0.0 and glyphs.data.max() <= 1.0
    assert len(glyphs.templates) == 30
    # ink on a dark background: every image has some ink, and most of each image is background
    ink = (glyphs.data > 0.5).mean(axis=1)
    assert ink.min() > 0.01 and ink.max() < 0.5


def test_balanced_and_class_major(glyphs):
    np.testing.assert_array_equal(np.bincount(glyphs.target), np.full(30, 6))
    np.testing.assert_array_equal(glyphs.target, np.repeat(np.arange(30), 6))


def test_deterministic_under_random_state():
    a, b = make_glyphs(5, 4, random_state=3), make_glyphs(5, 4, random_state=3)
    np.testing.assert_array_equal(a.data, b.data)
    c = make_glyphs(5, 4, random_state=4)
    assert not np.allclose(a.data, c.data)
    # a class's template depends on the seed and its index only, not on how many classes are drawn
    d = make_glyphs(8, 4, random_state=3)
    for t_a, t_d in zip(a.templates, d.templates[:5]):
        np.testing.assert_array_equal(t_a, t_d)
    np.testing.assert_array_equal(a.data, d.data[:20])


def test_no_deformation_and_no_noise_draws_the_template_exactly():
    clean = make_glyphs(4, 3, jitter=0.0, noise=0.0, random_state=1)
    for c in range(4):
        block = clean.data[clean.target == c]
        np.testing.assert_array_equal(block, np.broadcast_to(block[0], block.shape))


def test_classes_are_distinct(glyphs):
    """Samples lie nearer their own class mean than any other class's (leave-one-out), far above chance."""
    X, y = glyphs.data.astype(float), glyphs.target
    means = np.stack([X[y == c].mean(0) for c in range(30)])
    # leave-one-out: a sample's own class mean without it
    d = ((X[:, None, :] - means[None]) ** 2).sum(-1)
    own = ((X - (means[y] * 6 - X) / 5) ** 2).sum(-1)
    d[np.arange(len(y)), y] = own
    accuracy = (d.argmin(1) == y).mean()
    assert accuracy > 0.8  # chance is 1/30
    # and no two class means are the same picture
    between = ((means[:, None] - means[None]) ** 2).sum(-1)[~np.eye(30, dtype=bool)]
    assert between.min() > 1.0


def test_deformation_varies_samples_within_a_class(glyphs):
    block = glyphs.data[glyphs.target == 0]
    assert np.abs(block - block[0]).max() > 0.5


@pytest.mark.parametrize(
    "kwargs, error, name",
    [
        ({"n_classes": 1}, ValueError, "n_classes"),
        ({"n_classes": 2.5}, TypeError, "n_classes"),
        ({"n_per_class": 0}, ValueError, "n_per_class"),
        ({"size": 4}, ValueError, "size"),
        ({"max_strokes": 0}, ValueError, "max_strokes"),
        ({"jitter": -1.0}, ValueError, "jitter"),
        ({"noise": float("nan")}, ValueError, "noise"),
        ({"noise": "a"}, TypeError, "noise"),
    ],
)
def test_bad_input_names_the_argument(kwargs, error, name):
    with pytest.raises(error, match=name):
        make_glyphs(**{"n_classes": 3, "n_per_class": 2, **kwargs})
