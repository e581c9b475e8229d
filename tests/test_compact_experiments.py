"""The drivers of Part IV's many-seed experiments: the paired test by hand, and the drivers' outputs."""

from __future__ import annotations

import numpy as np
import pytest

from scratchbook.compact.experiments import (
    ADAPTER_CURVES,
    ADAPTER_EQUAL_CURVES,
    ADAPTER_OVERLAP,
    ADAPTER_SINGLE,
    compare_adapters,
    compare_adapters_equal_steps,
    compare_swa,
    paired_test,
    paired_tests,
)


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


def test_paired_tests_adds_the_exact_wilcoxon_p():
    # n differences all of one sign: the signed-rank statistic takes its extreme value, which has
    # probability 1/2ⁿ under the null; the two-sided p is twice that.
    a, b = np.array([3.0, 5.0, 7.0, 2.0, 9.0]), np.array([2.0, 3.0, 4.0, 1.5, 1.0])
    t = paired_tests(a, b)
    assert t["p_w"] == pytest.approx(2 / 2**5) and t["p"] == pytest.approx(paired_test(a, b)["p"])
    # one seed far off inflates the t-test's sd, not the ranks: fourteen small wins and one large loss.
    # The oracle is the exact null law of the signed-rank statistic, enumerating all 2¹⁵ sign patterns.
    d = np.append(1.0 + 0.1 * np.arange(14), -30.0)
    t = paired_tests(d, np.zeros(15))
    w_minus = 15  # the loss has the largest |d|, rank 15
    signs = np.array(np.meshgrid(*[[0, 1]] * 15)).reshape(15, -1)  # 1: that rank is negative
    null = (signs * np.arange(1, 16)[:, None]).sum(axis=0)
    assert t["p"] > 0.5 and t["p_w"] == pytest.approx(2 * np.mean(null <= w_minus)) and t["p_w"] < 0.05
    with pytest.raises(ValueError, match="equal on every seed"):
        paired_tests([1.0, 2.0], [1.0, 2.0])


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


def test_compare_adapters_equal_steps_repeats_the_dylora_run_and_trains_every_model_as_long():
    _, many = compare_adapters(0, r=2, steps=3, dynamic_steps=7, pretrain_steps=5)
    single, curves, overlap = compare_adapters_equal_steps(0, r=2, steps=7, pretrain_steps=5)
    assert set(single) == {name.replace("8", "2") for name in ADAPTER_SINGLE if name not in ("LoRA-2", "LoRA-4")}
    assert set(curves) == {name.replace("8", "2") for name in ADAPTER_EQUAL_CURVES}
    assert set(overlap) == {name.replace("8", "2") for name in ADAPTER_OVERLAP}
    assert np.array_equal(curves["DyLoRA-2, frozen"], many["DyLoRA-2, frozen"])  # the same seeds, the same run
    # LoRA-2 here trained for 7 steps, as the same call of compare_adapters with steps=7 does
    single7, _ = compare_adapters(0, r=2, steps=7, dynamic_steps=1, pretrain_steps=5)
    assert single == single7
    assert all(o.shape == (2, 1) and np.all((0 <= o) & (o <= 1 + 1e-9)) for o in overlap.values())
