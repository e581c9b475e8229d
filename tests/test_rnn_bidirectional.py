"""Bidirectional layers, the future-token task, the per-position training loop and the chapter 6 checker.

The bidirectional LSTM and GRU are compared with torch.nn in float64 at 1e-10 (same sums in a
different order); the task is checked against its definition exactly.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from scratchbook.rnn import GRU, LSTM, checks, future_token, train_adding, train_tagging


def test_future_token_labels_are_the_symbols_shift_steps_ahead():
    x, labels = future_token(40, 9, shift=3, n_symbols=5, random_state=0)
    assert x.shape == (9, 40, 5) and labels.shape == (9, 40)
    np.testing.assert_array_equal(x.sum(axis=-1), 1.0)  # one-hot
    symbols = x.argmax(axis=-1)
    np.testing.assert_array_equal(labels[:6], symbols[3:])
    np.testing.assert_array_equal(labels[6:], -1)
    assert set(np.unique(symbols)) == set(range(5))
    x0, l0 = future_token(4, 6, shift=0, random_state=1)
    np.testing.assert_array_equal(l0, x0.argmax(-1))
    again = future_token(40, 9, shift=3, n_symbols=5, random_state=0)
    np.testing.assert_array_equal(again[1], labels)


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_reverse_direction_is_the_forward_layer_on_the_flipped_sequence(kind):
    torch.manual_seed(0)
    cls = {"LSTM": LSTM, "GRU": GRU}[kind]
    both, one = cls(3, 4, bidirectional=True).double(), cls(3, 4).double()
    one.load_state_dict({k[: -len("_reverse")]: v for k, v in both.state_dict().items() if k.endswith("_reverse")})
    x = torch.randn(6, 2, 3, dtype=torch.float64)
    out = both(x)[0]
    torch.testing.assert_close(out[..., 4:], one(x.flip(0))[0].flip(0), rtol=0, atol=1e-12)
    theirs = getattr(torch.nn, kind)(3, 4, bidirectional=True).double()
    theirs.load_state_dict(both.state_dict())
    torch.testing.assert_close(out, theirs(x)[0], rtol=0, atol=1e-10)


def test_train_tagging_lowers_the_loss_on_an_easy_case():
    torch.manual_seed(0)
    result = train_tagging(
        GRU(4, 8),
        lambda n, rng: future_token(n, 6, shift=0, random_state=rng),
        n_classes=4,
        steps=60,
        lr=3e-2,
        progress=False,
    )
    h = result.history
    assert h[-10:].mean() < 0.5 * h[:10].mean()  # copying the current symbol is easy
    assert result.test_acc > 0.95 and result.test_accuracy.shape == (6,)


def test_train_tagging_needs_both_directions_to_look_ahead():
    def make(n, rng):
        return future_token(n, 8, shift=2, n_symbols=2, random_state=rng)

    torch.manual_seed(0)
    uni = train_tagging(GRU(2, 8), make, steps=80, lr=3e-2, progress=False)
    torch.manual_seed(0)
    bi = train_tagging(GRU(2, 8, bidirectional=True), make, steps=80, lr=3e-2, progress=False)
    assert abs(uni.test_acc - 0.5) < 0.06  # chance: the future is not seen
    assert bi.test_acc > 0.9
    assert np.isnan(bi.test_accuracy[-2:]).all()  # unlabelled positions


def test_train_adding_curve_and_clipping():
    torch.manual_seed(0)
    result = train_adding(GRU(2, 8), length=5, steps=40, lr=2e-2, eval_every=20, clip_norm=1.0, n_test=100)
    np.testing.assert_array_equal(result.eval_steps, [0, 20, 40])
    assert result.test_curve.shape == (3,) and result.test_curve[-1] < result.test_curve[0]


def test_bad_input_names_the_argument():
    with pytest.raises(ValueError, match="shift must be <= 4"):
        future_token(3, 5, shift=5)
    with pytest.raises(ValueError, match="n_symbols must be >= 2"):
        future_token(3, 5, n_symbols=1)
    with pytest.raises(TypeError, match="n_sequences must be an int"):
        future_token(2.0, 5)
    with pytest.raises(TypeError, match="make_batch must be callable"):
        train_tagging(GRU(2, 4), make_batch=None)
    with pytest.raises(ValueError, match="steps must be >= 1"):
        train_tagging(GRU(2, 4), lambda n, rng: future_token(n, 4, n_symbols=2, random_state=rng), steps=0)
    with pytest.raises(ValueError, match="clip_norm must be > 0"):
        train_adding(GRU(2, 4), length=5, clip_norm=0.0)
    with pytest.raises(ValueError, match="eval_every must be >= 1"):
        train_adding(GRU(2, 4), length=5, eval_every=0)


def test_checker_accepts_the_right_answer_and_rejects_wrong_ones(capsys):
    def right(x, forward, backward):
        return torch.cat([forward(x)[0], backward(x.flip(0))[0].flip(0)], dim=-1)

    def unflipped(x, forward, backward):  # forgets to flip the output back
        return torch.cat([forward(x)[0], backward(x.flip(0))[0]], dim=-1)

    def not_done(x, forward, backward):
        raise NotImplementedError

    assert checks.check_bidirectional(right)
    assert not checks.check_bidirectional(unflipped)
    assert not checks.check_bidirectional(not_done)
    assert "Not implemented" in capsys.readouterr().out
