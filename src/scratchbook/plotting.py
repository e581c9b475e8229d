"""One plotting style for the whole book, small multiples, and widgets with static twins."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

__all__ = ["use_style", "small_multiples", "interactive", "scatter_embedding", "image_grid"]

STYLE = {
    "figure.dpi": 100,
    "savefig.dpi": 100,
    "figure.figsize": (6.4, 4.0),
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "legend.frameon": False,
    "image.cmap": "viridis",
}


def use_style() -> None:
    """Apply the book's matplotlib style (call once at the top of a notebook)."""
    plt.rcParams.update(STYLE)


def small_multiples(
    values: Sequence[Any],
    draw: Callable[[plt.Axes, Any], None],
    *,
    ncols: int | None = None,
    panel_size: tuple[float, float] = (3.2, 2.8),
    title: Callable[[Any], str] | str | None = None,
    suptitle: str | None = None,
    sharex: bool = False,
    sharey: bool = False,
    subplot_kw: dict | None = None,
) -> plt.Figure:
    """Draw ``draw(ax, value)`` for each value in a grid: the static twin of a slider widget."""
    values = list(values)
    if not values:
        raise ValueError("values must not be empty")
    ncols = min(len(values), 4) if ncols is None else ncols
    nrows = int(np.ceil(len(values) / ncols))
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(panel_size[0] * ncols, panel_size[1] * nrows),
        sharex=sharex,
        sharey=sharey,
        squeeze=False,
        subplot_kw=subplot_kw,
    )
    for ax, value in zip(axes.flat, values):
        draw(ax, value)
        if title is not None:
            ax.set_title(title(value) if callable(title) else title.format(value))
    for ax in list(axes.flat)[len(values) :]:
        ax.set_visible(False)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def interactive(draw: Callable[..., None], figsize: tuple[float, float] = (5, 4), **sliders: Any) -> Any:
    """Sliders that redraw ``draw(ax, **values)``; returns the widget (``None`` without ipywidgets).

    Each keyword is a control in ipywidgets' shorthand: ``(min, max, step)`` for a slider, a list
    for a dropdown. The figure is drawn into an ``Image`` widget rather than captured by an
    ``Output`` widget, so executing the notebook headless (nbval, the book build) never waits on
    widget output. Every interactive cell in the book sits next to a static twin made with
    :func:`small_multiples`, so the website shows the same picture without a kernel.
    """
    import io

    try:
        import ipywidgets as widgets
    except ImportError:  # pragma: no cover - ipywidgets is in requirements.txt
        print("ipywidgets is not installed; see the static figure instead.")
        return None
    if not sliders:
        raise ValueError("interactive needs at least one control, e.g. k=(1, 10, 1)")
    controls = {}
    for name, spec in sliders.items():
        control = widgets.interactive.widget_from_abbrev(spec)
        if control is None:
            raise ValueError(f"{name}: cannot make a control from {spec!r}")
        control.description = name
        if hasattr(control, "continuous_update"):
            control.continuous_update = False
        controls[name] = control
    image = widgets.Image(format="png")

    def render(*_: Any) -> None:
        fig, ax = plt.subplots(figsize=figsize)
        draw(ax, **{name: control.value for name, control in controls.items()})
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", bbox_inches="tight")
        plt.close(fig)
        image.value = buffer.getvalue()

    for control in controls.values():
        control.observe(render, names="value")
    render()
    return widgets.VBox([*controls.values(), image])


def scatter_embedding(ax: plt.Axes, Y: np.ndarray, color: np.ndarray | None = None, title: str = "", **kw: Any) -> None:
    """Scatter a 2-D embedding coloured by ``color`` (e.g. the position along a manifold)."""
    Y = np.asarray(Y)
    if Y.ndim != 2 or Y.shape[1] < 2:
        raise ValueError(f"Y must have shape (n_samples, >=2), got {Y.shape}")
    ax.scatter(Y[:, 0], Y[:, 1], c=color, s=kw.pop("s", 6), cmap=kw.pop("cmap", "Spectral"), **kw)
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])


def image_grid(
    ax: plt.Axes,
    images,
    cmaps=None,
    *,
    cmap: str = "gray_r",
    vmin: float = 0.0,
    vmax: float = 1.0,
    pad: int = 2,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw a rows × cols grid of equal-sized images as one picture on ``ax``.

    ``images`` has shape (rows, cols, height, width). Each image is mapped through ``cmap`` (or
    through its own entry of ``cmaps``, a rows × cols array of colormap names) on the range
    [``vmin``, ``vmax``], with white gaps of ``pad`` pixels between images. One picture draws far
    faster than rows · cols Axes. Returns the centres of the rows and of the columns in data
    coordinates, for tick labels.
    """
    from scratchbook._validation import check_int

    images = np.asarray(images, dtype=float)
    if images.ndim != 4 or 0 in images.shape:
        raise ValueError(f"images must have shape (rows, cols, height, width), got {images.shape}")
    rows, cols, h, w = images.shape
    names = np.full((rows, cols), cmap, dtype=object) if cmaps is None else np.asarray(cmaps, dtype=object)
    if names.shape != (rows, cols):
        raise ValueError(f"cmaps must have shape ({rows}, {cols}) like the grid of images, got {names.shape}")
    if not vmax > vmin:
        raise ValueError(f"vmax must be above vmin, got vmin={vmin} and vmax={vmax}")
    pad = check_int("pad", pad, low=0)
    scaled = np.clip((images - vmin) / (vmax - vmin), 0.0, 1.0)
    tiles = np.ones((rows, cols, h + 2 * pad, w + 2 * pad, 3))
    for name in set(names.flat):
        mask = names == name
        tiles[mask, pad : pad + h, pad : pad + w] = plt.get_cmap(name)(scaled[mask])[..., :3]
    H, W = h + 2 * pad, w + 2 * pad
    ax.imshow(tiles.transpose(0, 2, 1, 3, 4).reshape(rows * H, cols * W, 3), interpolation="nearest")
    ax.set(xticks=[], yticks=[])
    ax.tick_params(length=0)  # tick labels set by the caller name rows and columns; no tick marks
    ax.grid(False)
    for spine in ax.spines.values():
        spine.set_visible(False)
    return (np.arange(rows) + 0.5) * H - 0.5, (np.arange(cols) + 0.5) * W - 0.5
