"""scratchbook.book.leaves_inputs_unchanged, the hidden test of the graded assignments."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from scratchbook.book import leaves_inputs_unchanged
from scratchbook.metric import checks as metric_checks
from scratchbook.metric.distances import project_psd
from scratchbook.rnn import checks as rnn_checks


def test_a_right_pure_answer_passes():
    assert leaves_inputs_unchanged(metric_checks.check_project_psd, project_psd)


def test_a_right_answer_that_overwrites_its_argument_fails():
    def in_place(M):
        M[...] = project_psd(M.copy())
        return M

    assert metric_checks.check_project_psd(in_place)  # the checker alone accepts it
    assert not leaves_inputs_unchanged(metric_checks.check_project_psd, in_place)


def test_a_wrong_answer_fails():
    assert not leaves_inputs_unchanged(metric_checks.check_project_psd, lambda M: 2 * project_psd(M))


def test_tensors_and_module_weights_are_watched():
    from scratchbook.book import _same, _snapshot

    module = torch.nn.Linear(2, 2)
    state = {"module": module, "x": torch.ones(3), "list": [np.zeros(2)]}
    before = _snapshot(state)
    assert _same(before, state)
    with torch.no_grad():
        module.weight.add_(1.0)
    assert not _same(before, state)
    before = _snapshot(state)
    state["list"][0][1] = 5.0
    assert not _same(before, state)


def test_an_unfinished_answer_fails_quietly(capsys):
    def unfinished(*args):
        raise NotImplementedError

    assert not leaves_inputs_unchanged(rnn_checks.check_lstm_step, unfinished)
    assert capsys.readouterr().out == ""


def test_arguments_are_validated():
    with pytest.raises(TypeError, match="checker"):
        leaves_inputs_unchanged(None, project_psd)
