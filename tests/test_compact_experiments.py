"""The drivers of Part IV's many-seed experiments: the paired test by hand, and the drivers' outputs."""

from __future__ import annotations

import numpy as np
import pytest

from scratchbook.compact.experiments import ADAPTER_CURVES, ADAPTER_SINGLE, compare_adapters, compare_swa, paired_test


def test_paired_test_against_a_hand_computed_t_test():
    a, b = np.array([3.0, 5.0, 7.0]), np.array([2.0, 3.0, 4.0])  # differences 1, 2, 3
    t = paired_test(a, b)
    # mean 2, sample sd 1, t = 2 / (1 / √3) = 2√3; Student's t with 2 degrees of freedom has the closed-form
    # two-sided p-value 1 − t / √(t² + 2)
    t_stat = 2 * np.sqrt(3)
    assert t["diff"] == pytest.approx(2.0) and t["sd"] == pytest.approx(1.0)
    assert t["p"] == pytest.approx(1 - t_stat / np.sqrt(t_stat**2 + 2), rel=1e-9)
    assert t["wins"] == 3 and t["n"] == 3
    with pytest.raises(ValueError, match="a and b must be"):
        paired_test([1.0, 2.0], [1.0])


def test_compare_adapters_returns_every_model_in_range():
    single, curves = compare_adapters(0, r=2, steps=5, dynamic_steps=5, pretrain_steps=5)
    expected = {name.replace("8", "2") for name in ADAPTER_SINGLE if name not in ("LoRA-2", "LoRA-4")}
    assert set(single) == expected  # ranks 1 and r = 2
    assert set(curves) == {name.replace("8", "2") for name in ADAPTER_CURVES}
    assert all(0 <= v <= 1 for v in single.values()) and all(c.shape == (2,) for c in curves.values())
    # the rank-r adapter in full, SVD-reordered or not, is the same model
    assert curves["LoRA-2, first b terms"][-1] == pytest.approx(curves["LoRA-2, SVD-truncated"][-1], abs=2e-3)


def test_compare_swa_shapes_and_the_average_from_the_last_step_is_the_last_iterate():
    out = compare_swa(0, lrs=(0.03,), starts=(0, 19), steps=20, pretrain_steps=5)
    assert out["swa"].shape == (1, 2) and out["decayed"].shape == out["last"].shape == out["scratch"].shape == (1,)
    assert out["swa"][0, 1] == pytest.approx(out["last"][0])  # the mean of the last iterate alone
