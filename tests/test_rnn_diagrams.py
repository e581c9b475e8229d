"""The schematic figures of Part I: each draws the boxes its caption promises, and bad sizes are refused."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from scratchbook.rnn import diagrams  # noqa: E402


def _texts(fig):
    return [t.get_text() for ax in fig.axes for t in ax.texts] + [t.get_text() for t in fig.texts]


@pytest.mark.parametrize("steps", [1, 3, 6])
def test_unrolled_rnn_has_one_column_per_step(steps):
    fig = diagrams.unrolled_rnn(steps)
    texts = _texts(fig)
    assert sum(t.startswith("$h_{") for t in texts) == steps + 1  # h_0 ... h_T
    assert sum(t.startswith("$x_{") for t in texts) == steps
    assert sum(t == "$W_{hh}$" for t in texts) == steps
    plt.close(fig)


def test_cells_show_their_gates_and_states():
    lstm = " ".join(_texts(diagrams.lstm_cell_diagram()))
    for name in ("$f_t$", "$i_t$", "$g_t$", "$o_t$", "$c_{t-1}$", "$c_t$", "$h_t$"):
        assert name in lstm
    gru = " ".join(_texts(diagrams.gru_cell_diagram()))
    for name in ("$r_t$", "$z_t$", "$n_t$", "$h_{t-1}$", "$h_t$"):
        assert name in gru
    assert "$c_t$" not in gru  # one state vector
    plt.close("all")


def test_bidirectional_and_bilm_count_their_states():
    texts = _texts(diagrams.bidirectional_diagram(5))
    assert sum("overrightarrow{h}_{" in t and ";" not in t for t in texts) == 5
    assert sum("overleftarrow{h}_{" in t and ";" not in t for t in texts) == 5
    texts = _texts(diagrams.bilm_diagram(steps=3, layers=2))
    assert sum("overrightarrow{h}_{" in t for t in texts) == 3 * 2
    assert sum("overleftarrow{h}_{" in t for t in texts) == 3 * 2
    assert sum(t.startswith("softmax") for t in texts) == 2 * (3 - 1)  # no target past either end
    plt.close("all")


def test_bad_sizes_name_the_argument():
    with pytest.raises(ValueError, match="steps"):
        diagrams.unrolled_rnn(0)
    with pytest.raises(TypeError, match="steps"):
        diagrams.bidirectional_diagram(2.5)
    with pytest.raises(ValueError, match="layers"):
        diagrams.bilm_diagram(layers=0)


def test_teacher_forcing_diagram_feeds_text_then_samples():
    fig = diagrams.teacher_forcing_diagram("return")
    forced, free = ([t.get_text() for t in ax.texts] for ax in fig.axes)
    assert [t for t in forced if t.startswith("'")] == ["'r'", "'e'", "'t'", "'u'", "'r'"]  # the text itself
    assert [t for t in free if t.startswith("'")] == ["'r'"]  # only the first input comes from the text
    assert [t for t in free if t.startswith("ĉ")] == ["ĉ2", "ĉ3", "ĉ4", "ĉ5"]
    plt.close(fig)
    with pytest.raises(ValueError, match="text"):
        diagrams.teacher_forcing_diagram("r")
