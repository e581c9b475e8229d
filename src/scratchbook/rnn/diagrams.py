"""Schematic figures of Part I, drawn with matplotlib: the unrolled RNN, the LSTM and GRU cells, a
bidirectional layer and ELMo's biLM.

Each function returns a :class:`matplotlib.figure.Figure` made of labelled boxes, round nodes for the
elementwise operations (⊙ product, + sum) and arrows. The labels use the notation of the part's
overview page.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from scratchbook._validation import check_int

__all__ = [
    "unrolled_rnn",
    "lstm_cell_diagram",
    "gru_cell_diagram",
    "bidirectional_diagram",
    "bilm_diagram",
    "teacher_forcing_diagram",
]

STATE, GATE, OP, PLAIN = "#e8f0fa", "#fdebd3", "white", "white"


def _box(ax, x: float, y: float, text: str, fc: str = PLAIN, size: int = 11, round_node: bool = False) -> None:
    """A labelled box (or a round node for an elementwise operation) centred at (x, y)."""
    style = "circle,pad=0.15" if round_node else "round,pad=0.3"
    ax.text(x, y, text, ha="center", va="center", fontsize=size, bbox=dict(boxstyle=style, ec="0.35", fc=fc), zorder=3)


def _arrow(ax, start, end, color: str = "0.25", text: str | None = None, rad: float = 0.0) -> None:
    """An arrow from ``start`` to ``end``, with an optional small label at its middle."""
    ax.annotate(
        "",
        end,
        start,
        arrowprops=dict(
            arrowstyle="->", color=color, lw=1.2, shrinkA=11, shrinkB=11, connectionstyle=f"arc3,rad={rad}"
        ),
        zorder=2,
    )
    if text:
        ax.text((start[0] + end[0]) / 2, (start[1] + end[1]) / 2 + 0.13, text, ha="center", fontsize=8, color=color)


def _line(ax, points, color: str = "0.25", arrow: bool = True) -> None:
    """A polyline through ``points``; an arrowhead on its last segment."""
    xs, ys = zip(*points)
    ax.plot(xs[:-1], ys[:-1], color=color, lw=1.2, zorder=1)
    ax.annotate("", points[-1], points[-2], arrowprops=dict(arrowstyle="->" if arrow else "-", color=color, lw=1.2))


def _frame(ax, xlim, ylim, title: str) -> None:
    ax.set(xlim=xlim, ylim=ylim)
    ax.axis("off")
    ax.set_title(title, fontsize=10)


def unrolled_rnn(steps: int = 4) -> Figure:
    """The RNN unrolled over ``steps`` steps: inputs, states, outputs and losses, W_hh between columns."""
    steps = check_int("steps", steps, low=1)
    fig, ax = plt.subplots(figsize=(1.6 * (steps + 1) + 0.5, 3.4))
    rows = {"x": 0, "h": 1, "y": 2, "l": 3}
    labels = {"x": "$x_{%d}$", "h": "$h_{%d}$", "y": "$y_{%d}$", "l": r"$\ell_{%d}$"}
    for t in range(steps + 1):
        for name, row in rows.items():
            if t > 0 or name == "h":
                _box(ax, t, row, labels[name] % t, fc=STATE if name == "h" else PLAIN, size=12)
        if t > 0:
            for a, b in (("x", "h"), ("h", "y"), ("y", "l")):
                _arrow(ax, (t, rows[a]), (t, rows[b]))
            _arrow(ax, (t - 1, 1), (t, 1), color="C3", text="$W_{hh}$")
            _arrow(ax, (t, 3), (steps + 1, 3.55), color="0.6")
    ax.text(steps + 1.15, 3.55, "$L$", fontsize=13, va="center")
    _frame(
        ax,
        (-0.5, steps + 1.6),
        (-0.5, 3.9),
        f"the RNN unrolled over T = {steps} steps: the same weights in every column",
    )
    return fig


def _carried_state(ax, y: float, old: str, new: str, keep_x: float, write_x: float) -> None:
    """The state a gated cell carries, along the top: old → ⊙ (what is kept) → + (what is written) → new."""
    _box(ax, 0, y, old, STATE)
    _box(ax, keep_x, y, "⊙", OP, round_node=True)
    _box(ax, write_x, y, "+", OP, round_node=True)
    _box(ax, 8, y, new, STATE)
    _arrow(ax, (0, y), (keep_x, y))
    _arrow(ax, (keep_x, y), (write_x, y))
    _arrow(ax, (write_x, y), (8, y))


def _gate_inputs_and_title(ax, bottom: float, end_x: float, top: float, path_note: str, title: str) -> None:
    """The line that feeds h_{t-1}, x_t to every gate, the note on the carried path above it, and the title."""
    ax.plot([-0.2, end_x], [bottom, bottom], color="0.25", lw=1.2)
    _box(ax, -0.4, bottom, "$h_{t-1}$, $x_t$", PLAIN, size=10)
    ax.text(3.0, top + 0.45, path_note, fontsize=9, ha="center", color="C3")
    _frame(ax, (-1.3, 8.6), (-0.6, 4.0), title)


def lstm_cell_diagram() -> Figure:
    """One step of the (vanilla, torch) LSTM: the cell line on top, the four blocks i, f, g, o below."""
    fig, ax = plt.subplots(figsize=(8.2, 4.2))
    top, mid, gates, bottom = 3.2, 2.1, 1.0, -0.1
    _carried_state(ax, top, "$c_{t-1}$", "$c_t$", keep_x=2, write_x=4)
    for x, name, act in ((2, "f_t", "σ"), (3.3, "i_t", "σ"), (4.7, "g_t", "tanh"), (6, "o_t", "σ")):
        _box(ax, x, gates, f"{act}\n${name}$", GATE, size=10)
        _line(ax, [(x, bottom), (x, gates - 0.35)])
    _arrow(ax, (2, gates), (2, top))  # f scales the old cell
    _box(ax, 4, mid, "⊙", OP, round_node=True)
    _arrow(ax, (3.3, gates), (4, mid))
    _arrow(ax, (4.7, gates), (4, mid))
    _arrow(ax, (4, mid), (4, top))  # i ⊙ g is written into the cell
    _box(ax, 7, mid + 0.5, "tanh", OP, size=9)
    _line(ax, [(7, top), (7, mid + 0.85)])
    _box(ax, 7, gates + 0.3, "⊙", OP, round_node=True)
    _arrow(ax, (7, mid + 0.5), (7, gates + 0.3))
    _arrow(ax, (6, gates), (7, gates + 0.3))
    _box(ax, 8, gates + 0.3, "$h_t$", STATE)
    _arrow(ax, (7, gates + 0.3), (8, gates + 0.3))
    _gate_inputs_and_title(
        ax, bottom, 6, top, "cell path: only ⊙ $f_t$ and + on the way", "an LSTM step: forget, write, read"
    )
    return fig


def gru_cell_diagram() -> Figure:
    """One step of the GRU in torch's convention: the state line on top, gates r, z and candidate n below."""
    fig, ax = plt.subplots(figsize=(8.2, 4.2))
    top, mid, gates, bottom = 3.2, 2.1, 1.0, -0.1
    _carried_state(ax, top, "$h_{t-1}$", "$h_t$", keep_x=3, write_x=5.5)
    _box(ax, 3, gates, "σ\n$z_t$", GATE, size=10)
    _box(ax, 4.6, gates, "tanh\n$n_t$", GATE, size=10)
    _box(ax, 6.4, gates, "σ\n$r_t$", GATE, size=10)
    for x in (3, 4.6, 6.4):
        _line(ax, [(x, bottom), (x, gates - 0.35)])
    _arrow(ax, (6.4, gates), (4.6, gates))  # the reset gate scales the recurrent part of the candidate
    ax.text(5.5, gates + 0.4, "$r_t \\odot (W_{hn} h_{t-1} + b_{hn})$", ha="center", fontsize=8)
    _arrow(ax, (3, gates), (3, top))  # z keeps the old state
    _box(ax, 3.9, mid, "1 − ·", OP, size=9)
    _arrow(ax, (3, gates), (3.9, mid))
    _box(ax, 5.5, mid, "⊙", OP, round_node=True)
    _arrow(ax, (3.9, mid), (5.5, mid))
    _arrow(ax, (4.6, gates), (5.5, mid))
    _arrow(ax, (5.5, mid), (5.5, top))
    _gate_inputs_and_title(
        ax,
        bottom,
        6.4,
        top,
        "direct path: only ⊙ $z_t$ and + on the way",
        "a GRU step: keep z, write 1 − z of the candidate",
    )
    return fig


def bidirectional_diagram(steps: int = 4) -> Figure:
    """A bidirectional layer: a forward and a backward state row read the inputs; outputs concatenate both."""
    steps = check_int("steps", steps, low=1)
    fig, ax = plt.subplots(figsize=(1.7 * steps + 1.5, 4.0))
    rows, shift = {"x": 0, "f": 1.2, "b": 2.3, "y": 3.4}, 0.22  # forward boxes left, backward right
    for t in range(1, steps + 1):
        f, b = (t - shift, rows["f"]), (t + shift, rows["b"])
        _box(ax, t, rows["x"], f"$x_{{{t}}}$")
        _box(ax, *f, f"$\\overrightarrow{{h}}_{{{t}}}$", STATE)
        _box(ax, *b, f"$\\overleftarrow{{h}}_{{{t}}}$", "#e6f4e6")
        _box(ax, t, rows["y"], f"$[\\overrightarrow{{h}}_{{{t}}}; \\overleftarrow{{h}}_{{{t}}}]$", size=9)
        for start, end in (((t, rows["x"]), f), ((t, rows["x"]), b), (f, (t, rows["y"])), (b, (t, rows["y"]))):
            _arrow(ax, start, end)
        if t < steps:
            _arrow(ax, f, (t + 1 - shift, rows["f"]), color="C0")
            _arrow(ax, (t + 1 + shift, rows["b"]), b, color="C2")
    ax.text(0.25, rows["f"], "forward →", ha="right", va="center", fontsize=9, color="C0")
    ax.text(0.25, rows["b"], "← backward", ha="right", va="center", fontsize=9, color="C2")
    _frame(ax, (-0.9, steps + 0.6), (-0.5, 4.1), "a bidirectional layer: each output sees the whole sequence")
    return fig


def bilm_diagram(steps: int = 4, layers: int = 2) -> Figure:
    """ELMo's biLM: two separate LSTM stacks over a shared embedding, each predicting the next token its way."""
    steps, layers = check_int("steps", steps, low=2), check_int("layers", layers, low=1)
    fig, axes = plt.subplots(1, 2, figsize=(2.0 * steps + 3, 1.0 * layers + 3.4))
    for ax, forward in zip(axes, (True, False)):
        color = "C0" if forward else "C2"
        for k in range(1, steps + 1):
            _box(ax, k, 0, f"$\\omega_{{{k}}}$")
            _box(ax, k, 1, f"$x_{{{k}}}$")
            _arrow(ax, (k, 0), (k, 1))
            for j in range(1, layers + 1):
                arrow = "\\overrightarrow" if forward else "\\overleftarrow"
                _box(ax, k, 1 + j, f"${arrow}{{h}}_{{{k},{j}}}$", STATE if forward else "#e6f4e6", size=9)
                _arrow(ax, (k, j), (k, 1 + j))
                if k < steps:
                    a, b = ((k, 1 + j), (k + 1, 1 + j)) if forward else ((k + 1, 1 + j), (k, 1 + j))
                    _arrow(ax, a, b, color=color)
            target = f"$\\omega_{{{k + 1}}}$" if forward else f"$\\omega_{{{k - 1}}}$"
            if (forward and k < steps) or (not forward and k > 1):
                _box(ax, k, 2 + layers, f"softmax → {target}", size=8)
                _arrow(ax, (k, 1 + layers), (k, 2 + layers))
        name = "forward LM: $h_k$ reads $t_1 \\dots t_k$" if forward else "backward LM: $h_k$ reads $t_k \\dots t_N$"
        _frame(ax, (0.4, steps + 0.6), (-0.5, 2.6 + layers), name)
    fig.text(
        0.5,
        0.01,
        "shared: the embedding $x_k$ and the softmax; separate: the two LSTM stacks. "
        "ELMo mixes $x_k$ and both stacks' layers at position $k$: $\\gamma \\sum_j s_j h_{k,j}$.",
        ha="center",
        fontsize=9,
    )
    return fig


def teacher_forcing_diagram(text: str = "return") -> Figure:
    """A language model unrolled twice: inputs from the text (teacher forcing), then its own samples (free running)."""
    if not isinstance(text, str) or len(text) < 2:
        raise ValueError(f"text must be a string of at least 2 characters, got {text!r}")
    steps = len(text) - 1
    fig, axes = plt.subplots(1, 2, figsize=(2.2 * steps + 0.4, 2.8))
    for ax, free in zip(axes, (False, True), strict=True):
        for t in range(steps):
            x = 1.6 * t
            own = free and t > 0  # from step 2 on, the free-running model reads what it drew
            color = "C3" if own else "C2"
            _box(ax, x, 0, "LSTM", STATE, size=8)
            _box(ax, x, 1.25, f"p(· | …{text[t]})", size=8)
            ax.text(x, -1.3, f"ĉ{t + 1}" if own else f"'{text[t]}'", ha="center", fontsize=10, color=color)
            _arrow(ax, (x, -1.25), (x, 0), color=color)
            _arrow(ax, (x, 0), (x, 1.25))
            if t < steps - 1:
                _arrow(ax, (x, 0), (x + 1.6, 0), color="C0")
                if free:  # the sampled output becomes the next input
                    _arrow(ax, (x, 1.25), (x + 1.6, -1.25), color="C3", rad=-0.25)
        title = (
            "free running (generation): inputs drawn by the model"
            if free
            else "teacher forcing (training): inputs from the text"
        )
        _frame(ax, (-0.8, 1.6 * steps - 0.8), (-1.6, 1.7), title)
    fig.tight_layout()
    return fig
