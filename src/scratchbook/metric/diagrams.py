"""Schematic figures of Part II, drawn with matplotlib: LMNN's neighbourhood, a Siamese and a triplet network.

Each function draws on a given ``Axes`` (and returns it), so a chapter can place the schematic in a
figure of its own with a caption; nothing here depends on data.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch

__all__ = ["draw_lmnn_neighbourhood", "draw_siamese", "draw_triplet"]


def _box(ax: plt.Axes, x: float, y: float, text: str, width: float = 1.5, height: float = 0.7, color: str = "C0"):
    """A rounded box centred at (x, y) with ``text`` inside."""
    ax.add_patch(
        FancyBboxPatch(
            (x - width / 2, y - height / 2),
            width,
            height,
            boxstyle="round,pad=0.05",
            facecolor=color,
            alpha=0.18,
            edgecolor=color,
            lw=1.5,
        )
    )
    ax.text(x, y, text, ha="center", va="center", fontsize=10)


def _arrow(ax: plt.Axes, start: tuple[float, float], end: tuple[float, float], style: str = "-|>", **kw) -> None:
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle=style, mutation_scale=12, color=kw.pop("color", "k"), **kw))


def _tower(ax: plt.Axes, x: float, name: str, top: float) -> None:
    """Input, the shared network and its normalized embedding, stacked from the top down."""
    _box(ax, x, top, f"${name}$", width=1.0, color="C7")
    _box(ax, x, top - 1.3, r"network $f_\theta$", color="C0")
    _box(ax, x, top - 2.6, rf"$\bar f_\theta({name})$", width=1.3, color="C2")
    _arrow(ax, (x, top - 0.4), (x, top - 0.9))
    _arrow(ax, (x, top - 1.7), (x, top - 2.2))


def _finish(ax: plt.Axes, width: float, height: float) -> plt.Axes:
    ax.set(xlim=(0, width), ylim=(0, height), aspect="equal")
    ax.axis("off")
    return ax


def draw_siamese(ax: plt.Axes | None = None) -> plt.Axes:
    """Two copies of one network (shared weights θ) embed a pair; the contrastive loss reads their distance."""
    ax = ax if ax is not None else plt.gca()
    for x, name in ((1.5, "x_i"), (5.5, "x_j")):
        _tower(ax, x, name, top=4.6)
    _arrow(ax, (2.3, 3.3), (4.7, 3.3), style="<|-|>", color="C0", linestyle="--")
    ax.text(3.5, 3.5, r"shared $\theta$", ha="center", fontsize=9, color="C0")
    _box(
        ax, 3.5, 0.6, r"$d_{ij} = \|\bar f_\theta(x_i) - \bar f_\theta(x_j)\|$, contrastive loss", width=5.2, color="C3"
    )
    _arrow(ax, (1.5, 1.6), (2.4, 1.0))
    _arrow(ax, (5.5, 1.6), (4.6, 1.0))
    return _finish(ax, 7.0, 5.2)


def draw_triplet(ax: plt.Axes | None = None) -> plt.Axes:
    """Anchor x, positive x⁺ and negative x⁻ through one network; the loss compares d(x, x⁺) with d(x, x⁻) + margin."""
    ax = ax if ax is not None else plt.gca()
    for x, name in ((1.5, "x"), (5.0, "x^+"), (8.5, "x^-")):
        _tower(ax, x, name, top=4.6)
    ax.text(5.0, 5.2, r"one network $f_\theta$, applied three times", ha="center", fontsize=9, color="C0")
    _box(ax, 5.0, 0.6, r"$[\,d_\theta(x, x^+) - d_\theta(x, x^-) + m\,]_+$, triplet loss", width=5.6, color="C3")
    _arrow(ax, (1.5, 1.6), (3.0, 1.0))
    _arrow(ax, (5.0, 1.6), (5.0, 1.0))
    _arrow(ax, (8.5, 1.6), (7.0, 1.0))
    ax.text(3.25, 1.75, "same class", ha="center", fontsize=8, color="C2")
    ax.text(6.75, 1.75, "another class", ha="center", fontsize=8, color="C3")
    return _finish(ax, 10.0, 5.6)


def draw_lmnn_neighbourhood(ax: plt.Axes | None = None) -> plt.Axes:
    """One point, its target neighbours, the margin around the farthest target, and the impostors inside it.

    Left: before learning, an impostor of another class lies inside the margin. Right: after
    learning, the targets are pulled in and the impostors pushed beyond the margin.
    """
    ax = ax if ax is not None else plt.gca()
    panels = {
        "before": ([(1.1, 0.4), (-0.6, 1.0), (0.2, -1.2)], [(0.9, -0.6), (-1.2, -0.2), (2.6, 1.4), (-1.9, 1.9)]),
        "after": ([(0.6, 0.2), (-0.3, 0.5), (0.1, -0.6)], [(2.0, -1.3), (-2.1, -0.5), (2.6, 1.4), (-1.9, 1.9)]),
    }
    for k, (title, (targets, others)) in enumerate(panels.items()):
        cx = 3.2 + 7.0 * k
        radius = max((tx**2 + ty**2) ** 0.5 for tx, ty in targets)
        ax.add_patch(Circle((cx, 3.0), radius, fill=False, color="C0", lw=1.2))
        ax.add_patch(Circle((cx, 3.0), radius + 0.8, fill=False, color="C3", lw=1.2, ls="--"))
        ax.plot(cx, 3.0, "o", color="C0", ms=11, mec="k")
        for tx, ty in targets:
            ax.plot(cx + tx, 3.0 + ty, "o", color="C0", ms=8)
            _arrow(ax, (cx + tx, 3.0 + ty), (cx + 0.15 * tx, 3.0 + 0.15 * ty), color="C0", lw=0.8)
        for ox, oy in others:
            inside = (ox**2 + oy**2) ** 0.5 < radius + 0.8
            ax.plot(cx + ox, 3.0 + oy, "s", color="C1", ms=8, mec="k" if inside else "C1")
            if inside:
                _arrow(ax, (cx + ox, 3.0 + oy), (cx + 1.5 * ox, 3.0 + 1.5 * oy), color="C1", lw=0.8)
        ax.text(cx, 0.2, title, ha="center", fontsize=11)
    ax.plot([], [], "o", color="C0", label="$x_i$ and its target neighbours (pulled in)")
    ax.plot([], [], "s", color="C1", label="other classes; outlined: impostors (pushed out)")
    ax.plot([], [], "-", color="C0", label="distance to the farthest target")
    ax.plot([], [], "--", color="C3", label="plus the margin")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=2, fontsize=8, frameon=False)
    return _finish(ax, 13.4, 6.0)
