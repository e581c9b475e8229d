"""Shared helpers: seeding, device choice, data sets, plotting, answer checks."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch

import scratchbook
from scratchbook import book, datasets, plotting


def test_set_seed_makes_numpy_and_torch_repeatable():
    scratchbook.set_seed(3)
    a = (np.random.rand(4), torch.rand(4))
    scratchbook.set_seed(3)
    b = (np.random.rand(4), torch.rand(4))
    np.testing.assert_array_equal(a[0], b[0])
    assert torch.equal(a[1], b[1])


@pytest.mark.parametrize("bad, error", [(-1, ValueError), (1.5, TypeError), ("0", TypeError), (True, TypeError)])
def test_set_seed_rejects_bad_seed(bad, error):
    with pytest.raises(error, match="seed"):
        scratchbook.set_seed(bad)


def test_get_device_matches_torch():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert scratchbook.get_device().type == expected
    assert scratchbook.get_device("cpu").type == "cpu"
    with pytest.raises(ValueError, match="prefer"):
        scratchbook.get_device("tpu")


def test_make_factor_data_has_the_model_covariance():
    # With many samples the sample covariance approaches the model's Λᵀ Λ + diag(ψ).
    d = datasets.make_factor_data(n_samples=200_000, n_features=5, n_components=2, random_state=0)
    model_cov = d.components.T @ d.components + np.diag(d.noise_variance)
    np.testing.assert_allclose(np.cov(d.data, rowvar=False), model_cov, atol=0.05 * np.abs(model_cov).max())
    np.testing.assert_allclose(d.data.mean(0), d.mean, atol=0.03)


def test_make_factor_data_rejects_bad_arguments():
    with pytest.raises(ValueError, match="n_components"):
        datasets.make_factor_data(n_features=3, n_components=4)
    with pytest.raises(ValueError, match="noise_variance"):
        datasets.make_factor_data(noise_variance=-1.0)
    with pytest.raises(ValueError, match="noise_variance must be a scalar or a vector of length n_features = 10"):
        datasets.make_factor_data(n_features=10, noise_variance=np.ones(3))


def test_load_standardized():
    d = datasets.load_standardized("wine")
    np.testing.assert_allclose(d.data.mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(d.data.std(0), 1, atol=1e-12)
    assert d.data.shape[0] == d.target.shape[0] == 178
    with pytest.raises(ValueError, match="name must be one of"):
        datasets.load_standardized("mnist")


def test_small_multiples_draws_one_panel_per_value():
    seen = []
    fig = plotting.small_multiples([1, 2, 3], lambda ax, v: seen.append(v), ncols=2, title="v={}")
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert seen == [1, 2, 3] and len(visible) == 3 and visible[1].get_title() == "v=2"
    with pytest.raises(ValueError, match="values"):
        plotting.small_multiples([], lambda ax, v: None)


def test_report_check(capsys):
    assert book.report_check("x", [1.0, 2.0], np.array([1.0, 2.0]))
    assert not book.report_check("x", [1.0, 2.5], np.array([1.0, 2.0]))
    assert not book.report_check("x", [1.0], np.array([1.0, 2.0]))
    out = capsys.readouterr().out
    assert "✓ x" in out and "largest difference 0.5" in out and "expected shape" in out


def test_report_check_compares_tensors_by_their_values(capsys):
    answer = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True) * 1.0  # part of a graph
    assert book.report_check("t", answer, torch.tensor([1.0, 2.0]))
    assert not book.report_check("t", answer, np.array([1.0, 2.5]))
    assert "largest difference 0.5" in capsys.readouterr().out


def test_interactive_draws_into_an_image_and_redraws_on_change():
    import ipywidgets as widgets

    seen = []

    def draw(ax, k, kind):
        seen.append((k, kind))
        ax.plot(range(k))

    box = plotting.interactive(draw, k=(1, 9, 2), kind=["a", "b"])
    slider, dropdown, image = box.children
    assert isinstance(slider, widgets.IntSlider) and isinstance(dropdown, widgets.Dropdown)
    assert image.value[:8] == b"\x89PNG\r\n\x1a\n"
    first = bytes(image.value)
    slider.value = 9
    assert seen[-1] == (9, "a") and bytes(image.value) != first
    with pytest.raises(ValueError, match="control"):
        plotting.interactive(draw)


def test_torch_threads_sets_and_restores():
    from scratchbook.utils import torch_threads

    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with torch_threads(None):
        assert torch.get_num_threads() == before
    with pytest.raises(ValueError, match="num_threads"):
        with torch_threads(0):
            pass
    assert torch.get_num_threads() == before


NUMPY_ONLY = [
    "scratchbook",
    "scratchbook.book",
    "scratchbook.datasets",
    "scratchbook.plotting",
    "scratchbook.latent",
    "scratchbook.latent.checks",
    "scratchbook.metric",
    "scratchbook.metric.checks",
]


def test_numpy_only_modules_do_not_import_torch():
    """In a fresh interpreter, importing these one after another never imports torch; the chapters that need
    no torch do not pay for it. Prints the first module after which torch was loaded."""
    import subprocess
    import sys

    code = (
        "import importlib, sys\n"
        f"for m in {NUMPY_ONLY!r} + ['scratchbook.metric.dca', 'scratchbook.metric.nca']:\n"
        "    importlib.import_module(m)\n"
        "    if 'torch' in sys.modules:\n"
        "        print(m); break\n"
        "else:\n"
        "    print('none')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "none", f"importing {out.strip()} imported torch"


def test_image_grid_places_each_colormapped_image_in_its_cell():
    """The picture holds matplotlib's own colormap of every image at its cell, white in the gaps."""
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(0)
    images = rng.uniform(-0.2, 1.2, size=(2, 3, 4, 5))  # values outside [vmin, vmax] are clipped
    cmaps = [["gray_r", "Greens", "Reds"], ["Reds", "gray_r", "Greens"]]
    fig, ax = plt.subplots()
    rows, cols = plotting.image_grid(ax, images, cmaps, pad=1)
    picture = ax.images[0].get_array()
    assert picture.shape == (2 * 6, 3 * 7, 3)
    for r in range(2):
        for c in range(3):
            cell = picture[6 * r : 6 * r + 6, 7 * c : 7 * c + 7]
            expected = plt.get_cmap(cmaps[r][c])(np.clip(images[r, c], 0, 1))[..., :3]
            np.testing.assert_allclose(cell[1:-1, 1:-1], expected)
            assert (cell[0] == 1).all() and (cell[:, 0] == 1).all()
            assert abs(rows[r] - (6 * r + 2.5)) < 1e-12 and abs(cols[c] - (7 * c + 3)) < 1e-12
    plt.close(fig)


@pytest.mark.parametrize(
    "images, kwargs, match",
    [
        (np.zeros((2, 4, 4)), {}, "images"),
        (np.zeros((2, 2, 4, 4)), {"cmaps": [["gray_r"]]}, "cmaps"),
        (np.zeros((2, 2, 4, 4)), {"vmin": 1.0, "vmax": 1.0}, "vmax"),
        (np.zeros((2, 2, 4, 4)), {"pad": -1}, "pad"),
    ],
)
def test_image_grid_rejects_bad_input(images, kwargs, match):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match=match):
        plotting.image_grid(ax, images, **kwargs)
    plt.close(fig)


def test_set_seed_without_torch_seeds_numpy_and_leaves_torch_unimported():
    """``seed_torch=False``: Python's and NumPy's streams repeat, and torch is never imported."""
    import subprocess
    import sys

    code = (
        "import random, sys\n"
        "import numpy as np\n"
        "import scratchbook\n"
        "draws = []\n"
        "for _ in range(2):\n"
        "    rng = scratchbook.set_seed(5, seed_torch=False)\n"
        "    draws.append((random.random(), np.random.rand(), rng.random()))\n"
        "assert draws[0] == draws[1], draws\n"
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False", "set_seed(seed_torch=False) imported torch"
    with pytest.raises(TypeError, match="seed_torch"):
        scratchbook.set_seed(0, seed_torch="no")


def test_the_deep_metric_names_still_import_from_the_subpackage():
    import scratchbook.metric as metric
    from scratchbook.metric import deep

    assert metric.triplet_loss is deep.triplet_loss and "EmbeddingNet" in dir(metric)
    with pytest.raises(AttributeError, match="no_such_name"):
        metric.no_such_name  # noqa: B018


def test_claim_passes_silently_and_fails_quoting_the_statement_and_values():
    from scratchbook.book import ClaimError, claim

    claim("two is more than one", 2 > 1, a=2, b=1)
    with pytest.raises(ClaimError, match=r"'one is more than two'.*a = 1, b = 2\.5"):
        claim("one is more than two", 1 > 2.5, a=1, b=2.5)
    with pytest.raises(AssertionError):  # nbval reports it as a failing cell, like a plain assert
        claim("an empty array is true", np.array([]).size > 0)
    with pytest.raises(TypeError, match="statement"):
        claim("", True)
