"""The drivers of Part IV's many-seed experiments: the paired test by hand, and the drivers' outputs."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from scratchbook.compact.experiments import (
    ADAPTER_CURVES,
    ADAPTER_EQUAL_CURVES,
    ADAPTER_OVERLAP,
    ADAPTER_SINGLE,
    compare_adapters,
    compare_adapters_equal_steps,
    compare_swa,
    paired_columns,
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


def _exact_wilcoxon_p(d):
    """Two-sided signed-rank p of ``d`` (no ties, no zeros) by enumerating all 2ⁿ sign patterns of the ranks."""
    n = len(d)
    ranks = np.argsort(np.argsort(np.abs(d))) + 1
    r_plus = ranks[d > 0].sum()
    signs = np.array(np.meshgrid(*[[0, 1]] * n)).reshape(n, -1)  # 1: that rank counts as positive
    null = (signs * np.arange(1, n + 1)[:, None]).sum(axis=0)
    tail = min(np.mean(null <= r_plus), np.mean(null >= r_plus))
    return min(1.0, 2 * tail)


def test_paired_columns_against_the_closed_form_t_test_and_an_enumerated_wilcoxon():
    rng = np.random.default_rng(3)
    table = rng.normal(0.8, 0.05, size=(7, 4))  # 7 seeds, 4 methods; no tied |differences| at this draw
    table[:, 2] = table[:, 0] + np.array([0.03, 0.01, -0.02, 0.05, 0.04, -0.005, 0.06])
    rows = paired_columns(table, baseline=0)
    assert len(rows) == 4 and set(rows[0]) == {"mean", "std", "n"}
    for j, row in enumerate(rows):
        x = table[:, j]
        assert row["mean"] == pytest.approx(x.sum() / 7, rel=1e-12)
        assert row["std"] == pytest.approx(np.sqrt(((x - x.sum() / 7) ** 2).sum() / 6), rel=1e-12)
        assert row["n"] == 7
        if j == 0:
            continue
        d = x - table[:, 0]
        mean, sd = d.sum() / 7, np.sqrt(((d - d.sum() / 7) ** 2).sum() / 6)
        t = mean / (sd / np.sqrt(7))  # the paired t statistic; its two-sided p from Student's t with 6 df
        assert row["diff"] == pytest.approx(mean, rel=1e-12) and row["sd"] == pytest.approx(sd, rel=1e-12)
        assert row["p"] == pytest.approx(2 * stats.t.sf(abs(t), df=6), rel=1e-9)
        assert row["wins"] == sum(di > 0 for di in d)
        assert row["p_w"] == pytest.approx(_exact_wilcoxon_p(d), rel=1e-12)
    # by hand for column 2: the losses have ranks 1 and 3, W⁻ = 4; 7 of the 128 sign patterns have a rank sum ≤ 4
    assert rows[2]["wins"] == 5 and rows[2]["p_w"] == pytest.approx(2 * 7 / 2**7)
    # another baseline: the differences are taken to that column, which gets no test of its own
    other = paired_columns(table, baseline=2)
    assert set(other[2]) == {"mean", "std", "n"}
    assert other[0]["diff"] == pytest.approx(-rows[2]["diff"]) and other[0]["p"] == pytest.approx(rows[2]["p"])


def test_paired_columns_refuses_bad_input_by_name():
    good = np.arange(12.0).reshape(4, 3) ** 1.5
    with pytest.raises(ValueError, match="table must be 2-D"):
        paired_columns(good[:, 0])
    with pytest.raises(ValueError, match="table must be 2-D"):
        paired_columns(good[:1])
    with pytest.raises(ValueError, match="table must be finite"):
        paired_columns(np.where(good > 20, np.nan, good))
    with pytest.raises(ValueError, match="baseline must be <= 2"):
        paired_columns(good, baseline=3)
    with pytest.raises(TypeError, match="baseline must be an int"):
        paired_columns(good, baseline=1.0)
    with pytest.raises(ValueError, match="table column 2 equals the baseline column 0"):
        paired_columns(np.column_stack([good[:, 0], good[:, 1], good[:, 0]]))


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
