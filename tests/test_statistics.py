"""musicexp.evaluation.statistics against hand-worked numbers, closed forms, scipy and scikit-learn."""

import math

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import f1_score

from bootstrap_reference import group_bootstrap_interval
from musicexp.evaluation.statistics import (
    Interval,
    corrected_resampled_ttest,
    holm,
    macro_f1,
    macro_f1_present,
    mcnemar,
    min_detectable_difference,
    permutation_pvalue,
    sample_std,
    shuffle_labels,
)


def accuracy(t, p):
    return float(np.mean(t == p))


def t4_two_sided_p(t):
    """Closed form of Student's t with 4 df: F(t) = 1/2 + 3/8 * t/sqrt(1+t^2/4) * (1 - t^2/(12 (1+t^2/4)))."""
    u = 1 + t * t / 4
    return 2 * (1 - (0.5 + 3 / 8 * abs(t) / math.sqrt(u) * (1 - t * t / (12 * u))))


def t4_quantile(p):
    """Closed-form inverse of Student's t with 4 df (p > 1/2): 2 sqrt(q - 1),
    q = cos(arccos(sqrt(a)) / 3) / sqrt(a), a = 4 p (1 - p)."""
    a = 4 * p * (1 - p)
    return 2 * math.sqrt(math.cos(math.acos(math.sqrt(a)) / 3) / math.sqrt(a) - 1)


# ------------------------------------------------------------------------------ sample_std


def test_sample_std_hand_value():
    # [2, 4, 4, 4, 5, 5, 7, 9]: mean 5, squared deviations sum to 32 -> ddof=1: sqrt(32/7)
    assert sample_std([2, 4, 4, 4, 5, 5, 7, 9]) == pytest.approx(math.sqrt(32 / 7), abs=1e-12)
    # (ddof=0 would give exactly 2)
    assert sample_std([1.0, 3.0]) == pytest.approx(math.sqrt(2), abs=1e-12)


def test_sample_std_fewer_than_two_is_nan_and_bad_input_raises():
    assert math.isnan(sample_std([0.7]))
    assert math.isnan(sample_std([]))
    with pytest.raises(ValueError, match="1-D"):
        sample_std([[1, 2], [3, 4]])
    with pytest.raises(ValueError, match="finite"):
        sample_std([1.0, float("nan")])


# ----------------------------------------------------------------- corrected resampled t-test

DIFFS = [0.02, 0.05, -0.01, 0.04, 0.03]


def test_corrected_ttest_worked_example():
    # J = 5, mean = 0.13 / 5 = 0.026
    # deviations -0.006, 0.024, -0.036, 0.014, 0.004 -> squares sum 0.00212 -> s^2 = 0.00212/4 = 0.00053
    # correction 1/J + n_test/n_train = 1/5 + 20/80 = 0.45 -> corrected var = 0.0002385
    # se = sqrt(0.0002385) = 0.0154434452..., t = 0.026 / se = 1.6835621614..., df = 4
    res = corrected_resampled_ttest(DIFFS, n_train=80, n_test=20)
    se = math.sqrt(0.45 * 0.00053)
    assert res.mean == pytest.approx(0.026, abs=1e-12)
    assert res.df == 4
    assert res.se == pytest.approx(se, abs=1e-12)
    assert res.se == pytest.approx(0.0154434452114805, abs=1e-12)
    assert res.t == pytest.approx(0.026 / se, abs=1e-12)
    assert res.t == pytest.approx(1.683562161419258, abs=1e-12)
    # two-sided p: scipy, and the closed-form t(4) CDF (independent of scipy) -> 0.167553...
    assert res.p == pytest.approx(2 * stats.t.sf(0.026 / se, 4), abs=1e-12)
    assert res.p == pytest.approx(t4_two_sided_p(0.026 / se), abs=1e-12)
    assert res.p == pytest.approx(0.16755322147892307, abs=1e-12)


def _power_t4(nc: float, c: float) -> float:
    """Power of the two-sided t-test with 4 df at noncentrality nc, without scipy: T = (Z + nc) / S,
    S = sqrt(V / 4), V ~ chi2(4) with density v/4 * exp(-v/2); power = E_V[Phi(nc - c S) + Phi(-nc - c S)],
    integrated by the trapezoid rule on a fine grid."""
    def phi(x):
        return 0.5 * (1 + math.erf(x / math.sqrt(2)))
    h, total = 1e-3, 0.0
    for i in range(1, 80_000):
        v = i * h
        s = math.sqrt(v / 4)
        total += v / 4 * math.exp(-v / 2) * (phi(nc - c * s) + phi(-nc - c * s))
    return total * h


def test_min_detectable_difference_worked_example():
    # the worked example's design: se = 0.0154434452..., df = 4; critical t(4, 0.975) = 2.776445 (closed form)
    se = math.sqrt(0.45 * 0.00053)
    c = t4_quantile(0.975)
    assert c == pytest.approx(2.7764451052, abs=1e-9)
    mdd = min_detectable_difference(se, 4)
    # at that difference the test rejects with probability 0.80 (power integrated by hand, not scipy's nct) ...
    assert _power_t4(mdd / se, c) == pytest.approx(0.80, abs=1e-5)
    # ... about 3.76 standard errors: 0.0581, so the example's mean 0.026 is far below what 5 folds can see
    assert mdd / se == pytest.approx(3.7611, abs=1e-3) and mdd == pytest.approx(0.05808, abs=1e-4)
    # a little above the textbook approximation (t_0.975 + t_0.80) * se = (2.776 + 0.941) * se
    assert mdd > (c + t4_quantile(0.80)) * se


def test_min_detectable_difference_normal_limit_and_monotone():
    # many degrees of freedom (10^4; t and normal quantiles agree to 3e-4): (z_0.975 + z_0.80) * se
    assert min_detectable_difference(1.0, 10**4) == pytest.approx(1.959964 + 0.841621, abs=5e-4)
    # power 1/2 on a normal: the mean must sit on the critical value (the far tail adds ~1e-9)
    assert min_detectable_difference(1.0, 10**4, power=0.5) == pytest.approx(1.959964, abs=5e-4)
    assert min_detectable_difference(2.0, 4) == pytest.approx(2 * min_detectable_difference(1.0, 4), rel=1e-9)
    more_folds = [min_detectable_difference(1.0, df) for df in (2, 4, 9, 24)]
    assert more_folds == sorted(more_folds, reverse=True)
    assert min_detectable_difference(0.0, 4) == 0.0


@pytest.mark.parametrize("se, df, kw, match", [
    (-0.1, 4, {}, "se"), (float("nan"), 4, {}, "se"), (0.1, 0, {}, "df"), (0.1, 2.5, {}, "df"),
    (0.1, 4, {"alpha": 0.0}, "alpha"), (0.1, 4, {"power": 1.0}, "power"), (0.1, 4, {"power": 0.04}, "exceed"),
])
def test_min_detectable_difference_rejects_bad_input(se, df, kw, match):
    with pytest.raises(ValueError, match=match):
        min_detectable_difference(se, df, **kw)


def test_holm_worked_example():
    # sorted: 0.005, 0.01, 0.03, 0.04 (m = 4) -> 4*0.005 = 0.02, 3*0.01 = 0.03, 2*0.03 = 0.06, 1*0.04 = 0.04
    # running maximum: 0.02, 0.03, 0.06, 0.06; back in the input order:
    adjusted = holm([0.01, 0.04, 0.03, 0.005])
    assert adjusted == pytest.approx([0.03, 0.06, 0.06, 0.02], abs=1e-15)
    # capped at 1; a single test is unchanged; an empty family is empty; ties keep their order
    assert holm([0.5, 0.6]) == pytest.approx([1.0, 1.0])
    assert holm([0.012]) == pytest.approx([0.012]) and len(holm([])) == 0
    assert holm([0.02, 0.02]) == pytest.approx([0.04, 0.04])
    # at alpha 0.05: raw 0.01, 0.04, 0.03, 0.005 are all "significant"; after Holm only 0.01 and 0.005
    assert (adjusted < 0.05).tolist() == [True, False, False, True]


@pytest.mark.parametrize("bad", [[0.1, 1.2], [-0.1], [float("nan")], [[0.1, 0.2]]])
def test_holm_rejects_bad_input(bad):
    with pytest.raises(ValueError):
        holm(bad)


def test_corrected_ttest_sign_and_symmetry():
    neg = corrected_resampled_ttest([-d for d in DIFFS], 80, 20)
    pos = corrected_resampled_ttest(DIFFS, 80, 20)
    assert neg.t == pytest.approx(-pos.t, abs=1e-12)
    assert neg.p == pytest.approx(pos.p, abs=1e-12)


def test_corrected_ttest_is_more_conservative_than_plain_paired_ttest():
    res = corrected_resampled_ttest(DIFFS, 80, 20)
    naive = stats.ttest_1samp(DIFFS, 0.0)
    # the plain test: se = sqrt(s^2 / J) = sqrt(0.00053/5), t = 2.5254... p = 0.0650 (< 0.1675)
    assert naive.statistic == pytest.approx(0.026 / math.sqrt(0.00053 / 5), abs=1e-9)
    assert naive.pvalue < res.p
    assert abs(naive.statistic) > abs(res.t)
    # more training data relative to test data -> a smaller correction -> closer to the plain test
    assert corrected_resampled_ttest(DIFFS, 1e12, 1).p == pytest.approx(naive.pvalue, abs=1e-9)


def test_corrected_ttest_zero_variance_edge_cases():
    zero = corrected_resampled_ttest([0.0, 0.0, 0.0], 80, 20)
    assert (zero.t, zero.p, zero.se, zero.df) == (0.0, 1.0, 0.0, 2)
    up = corrected_resampled_ttest([0.1, 0.1, 0.1], 80, 20)  # exact mean, no rounding residue
    assert up.t == math.inf and up.p == 0.0 and up.mean == 0.1
    down = corrected_resampled_ttest([-0.03] * 4, 80, 20)
    assert down.t == -math.inf and down.p == 0.0


@pytest.mark.parametrize(
    "diffs, n_train, n_test, match",
    [
        ([0.1], 80, 20, "at least 2"),
        ([], 80, 20, "at least 2"),
        ([[0.1, 0.2]], 80, 20, "1-D"),
        ([0.1, float("inf")], 80, 20, "finite"),
        ([0.1, 0.2], 0, 20, "n_train"),
        ([0.1, 0.2], 80, -1, "n_test"),
        ([0.1, 0.2], 80, float("nan"), "n_test"),
    ],
)
def test_corrected_ttest_rejects_bad_input(diffs, n_train, n_test, match):
    with pytest.raises(ValueError, match=match):
        corrected_resampled_ttest(diffs, n_train, n_test)


# --------------------------------------------------------------------- corrected t interval

SCORES = [0.70, 0.74, 0.68, 0.72, 0.76]


def paired(b, c, both_right=0, both_wrong=0):
    """Correctness arrays with b (A right, B wrong) and c (A wrong, B right) discordant pieces."""
    a = [True] * b + [False] * c + [True] * both_right + [False] * both_wrong
    bb = [False] * b + [True] * c + [True] * both_right + [False] * both_wrong
    return np.array(a), np.array(bb)


def test_mcnemar_counts_b_and_c_the_right_way_round():
    a, b = paired(3, 9, both_right=20, both_wrong=5)
    res = mcnemar(a, b)
    assert (res.b, res.c) == (3, 9)
    assert (mcnemar(b, a).b, mcnemar(b, a).c) == (9, 3)


def test_mcnemar_exact_worked_example():
    # b = 1, c = 7, n = 8: P(X <= 1) = (C(8,0) + C(8,1)) / 2^8 = 9/256 -> p = 18/256 = 0.0703125
    a, b = paired(1, 7, both_right=30, both_wrong=4)
    res = mcnemar(a, b, exact=True)
    assert res.method == "exact" and (res.b, res.c) == (1, 7)
    assert res.p == pytest.approx(0.0703125, abs=1e-12)
    assert res.p == pytest.approx(stats.binomtest(1, 8, 0.5).pvalue, abs=1e-12)
    assert res.statistic == 1.0


@pytest.mark.parametrize("b, c", [(0, 5), (4, 4), (2, 11), (10, 3), (12, 30)])
def test_mcnemar_exact_matches_scipy_binomtest(b, c):
    res = mcnemar(*paired(b, c, both_right=7), exact=True)
    assert res.p == pytest.approx(stats.binomtest(b, b + c, 0.5).pvalue, abs=1e-12)


def test_mcnemar_chi2_worked_example():
    # b = 10, c = 25: (|10 - 25| - 1)^2 / 35 = 196 / 35 = 5.6; chi2(1) sf(x) = erfc(sqrt(x/2))
    a, b = paired(10, 25, both_right=50)
    res = mcnemar(a, b, exact=False)
    assert res.method == "chi2"
    assert res.statistic == pytest.approx(5.6, abs=1e-12)
    assert res.p == pytest.approx(math.erfc(math.sqrt(5.6 / 2)), abs=1e-12)
    assert res.p == pytest.approx(stats.chi2.sf(5.6, 1), abs=1e-12)
    # Edwards' correction with |b - c| <= 1 gives 0, not a negative (|b-c|-1)^2 = 1
    tie = mcnemar(*paired(6, 6), exact=False)
    near = mcnemar(*paired(6, 7), exact=False)
    assert tie.statistic == 0.0 and tie.p == 1.0
    assert near.statistic == 0.0 and near.p == 1.0


def test_mcnemar_automatic_choice():
    below = mcnemar(*paired(5, 19))  # b + c = 24 < 25: exact
    at = mcnemar(*paired(5, 20))  # b + c = 25: chi-square
    assert below.method == "exact"
    assert below.p == pytest.approx(stats.binomtest(5, 24, 0.5).pvalue, abs=1e-12)
    assert at.method == "chi2"
    assert at.statistic == pytest.approx(14**2 / 25, abs=1e-12)


@pytest.mark.parametrize("exact", [True, False, None])
def test_mcnemar_no_discordant_pairs(exact):
    res = mcnemar(*paired(0, 0, both_right=10, both_wrong=3), exact=exact)
    assert (res.b, res.c, res.statistic, res.p) == (0, 0, 0.0, 1.0)


def test_mcnemar_rejects_bad_input():
    with pytest.raises(ValueError, match="same length"):
        mcnemar([True, False], [True])
    with pytest.raises(ValueError, match="boolean"):
        mcnemar([0, 2], [1, 0])
    with pytest.raises(ValueError, match="exact"):
        mcnemar([True], [False], exact="yes")
    with pytest.raises(ValueError, match="empty"):
        mcnemar([], [])
    assert mcnemar([1, 0, 1], [0, 0, 1]).b == 1  # 0/1 integers are accepted


# -------------------------------------------------------------------------------- bootstrap


def test_bootstrap_perfect_classifier():
    y = np.repeat(np.arange(4), 25)
    iv = group_bootstrap_interval(y, y, np.arange(100) // 5, accuracy, n_boot=200)
    assert (iv.estimate, iv.low, iv.high) == (1.0, 1.0, 1.0)
    assert iv.method == "group percentile bootstrap" and iv.level == 0.95


def test_bootstrap_deterministic_for_a_seed():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 200)
    p = np.where(rng.random(200) < 0.7, y, rng.integers(0, 3, 200))
    g = np.arange(200) // 4
    a = group_bootstrap_interval(y, p, g, accuracy, n_boot=300, seed=7)
    b = group_bootstrap_interval(y, p, g, accuracy, n_boot=300, seed=7)
    c = group_bootstrap_interval(y, p, g, accuracy, n_boot=300, seed=8)
    assert a == b
    assert (a.low, a.high) != (c.low, c.high)
    assert a.estimate == c.estimate == accuracy(y, p)


def test_bootstrap_width_for_independent_pieces():
    # accuracy 0.7 on 400 independent pieces: binomial se = sqrt(0.7 * 0.3 / 400)
    n = 400
    y = np.zeros(n, dtype=int)
    p = np.where(np.arange(n) % 10 < 3, 1, 0)  # exactly 120 errors
    iv = group_bootstrap_interval(y, p, None, accuracy, n_boot=2000, seed=3)
    assert iv.method == "percentile bootstrap"
    assert iv.estimate == pytest.approx(0.7)
    assert iv.low < 0.7 < iv.high
    expected = 2 * 1.96 * math.sqrt(0.21 / n)
    assert iv.high - iv.low == pytest.approx(expected, rel=0.25)
    # the level is honoured: 80% is narrower (z 1.2816 vs 1.96)
    iv80 = group_bootstrap_interval(y, p, None, accuracy, n_boot=2000, level=0.8, seed=3)
    assert iv80.high - iv80.low == pytest.approx(2 * 1.2816 * math.sqrt(0.21 / n), rel=0.25)


def test_bootstrap_singleton_groups_equal_piece_resampling():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 150)
    p = rng.integers(0, 2, 150)
    by_piece = group_bootstrap_interval(y, p, None, accuracy, n_boot=200, seed=5)
    singletons = group_bootstrap_interval(y, p, np.arange(150), accuracy, n_boot=200, seed=5)
    assert (by_piece.low, by_piece.high) == (singletons.low, singletons.high)


def test_bootstrap_resamples_whole_groups():
    # group "a" has 1 piece (label 0), group "b" has 5 pieces (label 1), interleaved in the input
    groups = np.array(["b", "b", "a", "b", "b", "b"])
    y = np.array([1, 1, 0, 1, 1, 1])
    seen = []

    def record(t, p):
        seen.append((len(t), int(t.sum())))
        return 0.0

    group_bootstrap_interval(y, y, groups, record, n_boot=200, seed=0)
    samples = seen[:-1]  # the last call is the full-data estimate
    # two groups drawn with replacement: {a, a} -> 2 pieces, {a, b} -> 6, {b, b} -> 10
    assert {s for s, _ in samples} == {2, 6, 10}
    # a group's pieces come together: the count of label-1 pieces is 0, 5 or 10
    assert all(ones == {2: 0, 6: 5, 10: 10}[size] for size, ones in samples)


def test_group_bootstrap_wider_when_errors_cluster_by_group():
    # 40 works of 10 movements; 12 whole works are misclassified (accuracy 0.7)
    n_groups, size = 40, 10
    groups = np.repeat(np.arange(n_groups), size)
    y = np.zeros(n_groups * size, dtype=int)
    p = np.where(groups < 12, 1, 0)
    by_group = group_bootstrap_interval(y, p, groups, accuracy, n_boot=1000, seed=0)
    by_piece = group_bootstrap_interval(y, p, None, accuracy, n_boot=1000, seed=0)
    assert by_group.estimate == by_piece.estimate == pytest.approx(0.7)
    w_group, w_piece = by_group.high - by_group.low, by_piece.high - by_piece.low
    # roughly sqrt(10) times wider: 2*1.96*sqrt(0.21/40) = 0.284 vs 2*1.96*sqrt(0.21/400) = 0.090
    assert w_group > 2 * w_piece
    assert w_group == pytest.approx(2 * 1.96 * math.sqrt(0.21 / n_groups), rel=0.25)


def test_bootstrap_with_macro_f1_on_a_dataset_sized_input():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 6, 600)
    p = np.where(rng.random(600) < 0.6, y, rng.integers(0, 6, 600))
    groups = rng.integers(0, 200, 600)
    iv = group_bootstrap_interval(y, p, groups, macro_f1_present, n_boot=1000, seed=0)
    assert iv.low < iv.estimate < iv.high and iv.estimate == macro_f1_present(y, p)


# ------------------------------------------------------------------------ permutation tests


def test_permutation_pvalue_hand_values():
    null = [0.2, 0.5, 0.7, 0.7, 0.9]
    assert permutation_pvalue(0.95, null) == pytest.approx(1 / 6)  # none >= score
    assert permutation_pvalue(0.7, null) == pytest.approx(4 / 6)  # ties count: 0.7, 0.7, 0.9
    assert permutation_pvalue(0.1, null) == pytest.approx(1.0)  # all 5
    assert permutation_pvalue(0.6, np.linspace(0, 1, 99)) == pytest.approx((1 + 40) / 100)
    with pytest.raises(ValueError, match="at least 1"):
        permutation_pvalue(0.5, [])
    with pytest.raises(ValueError, match="score"):
        permutation_pvalue(float("nan"), null)


def grouped_labels():
    # 30 works of 1-6 movements; every movement of a work shares the work's label
    rng = np.random.default_rng(11)
    sizes = rng.integers(1, 7, 30)
    groups = np.repeat(np.array([f"work{i:02d}" for i in range(30)]), sizes)
    work_label = rng.integers(0, 4, 30)
    order = rng.permutation(len(groups))  # pieces of a work need not be adjacent
    return groups[order], np.repeat(work_label, sizes)[order]


def group_label(groups, y):
    return {g: y[groups == g] for g in np.unique(groups)}


def test_shuffle_labels_permutes_labels_among_groups():
    groups, y = grouped_labels()
    out = shuffle_labels(y, groups, np.random.default_rng(0))
    before, after = group_label(groups, y), group_label(groups, out)
    # constant within each group after shuffling ...
    assert all(len(np.unique(v)) == 1 for v in after.values())
    # ... the multiset of group labels is preserved ...
    assert sorted(v[0] for v in before.values()) == sorted(v[0] for v in after.values())
    # ... and it is not the within-group shuffle (a no-op here): labels did move between groups
    assert sum(before[g][0] != after[g][0] for g in before) >= 10
    assert not np.array_equal(out, y)
    y_copy = y.copy()
    shuffle_labels(y, groups, np.random.default_rng(0))
    assert np.array_equal(y, y_copy)  # input untouched


def test_shuffle_labels_2d_rows_stay_together():
    groups, composer = grouped_labels()
    y = np.column_stack([composer, 10 + composer * 3])  # era is a function of composer
    out = shuffle_labels(y, groups, np.random.default_rng(1))
    assert out.shape == y.shape
    assert np.array_equal(out[:, 1], 10 + out[:, 0] * 3)
    assert all(len(np.unique(r, axis=0)) == 1 for r in (out[groups == g] for g in np.unique(groups)))
    plain = shuffle_labels(y, None, np.random.default_rng(1))
    assert np.array_equal(plain[:, 1], 10 + plain[:, 0] * 3)


def test_shuffle_labels_without_groups_or_mixed_groups_is_a_row_permutation():
    y = np.arange(50) % 7
    out = shuffle_labels(y, None, np.random.default_rng(3))
    assert sorted(out) == sorted(y) and not np.array_equal(out, y)
    # a group with mixed labels: fall back to permuting all pieces
    groups = np.arange(50) // 5
    ids = np.arange(50)
    mixed = shuffle_labels(ids, groups, np.random.default_rng(3))
    assert sorted(mixed) == list(ids)
    assert np.array_equal(mixed, ids[np.random.default_rng(3).permutation(50)])


def test_shuffle_labels_deterministic_for_a_seeded_rng():
    groups, y = grouped_labels()
    a = shuffle_labels(y, groups, np.random.default_rng(42))
    b = shuffle_labels(y, groups, np.random.default_rng(42))
    c = shuffle_labels(y, groups, np.random.default_rng(43))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_shuffle_labels_rejects_bad_input():
    with pytest.raises(ValueError, match="rng"):
        shuffle_labels([0, 1], None, 0)
    with pytest.raises(ValueError, match="same length"):
        shuffle_labels([0, 1], [0], np.random.default_rng(0))
    with pytest.raises(ValueError, match="2-D"):
        shuffle_labels(np.zeros((2, 2, 2)), None, np.random.default_rng(0))


# --------------------------------------------------------------------------------- macro-F1


def test_macro_f1_present_ignores_a_class_absent_from_the_fold():
    # fold without class 2 in y_true; one piece of class 0 is predicted as 2
    y_true = np.array([0, 0, 1, 1])
    y_pred = np.array([0, 2, 1, 1])
    # class 0: tp 1, 1 predicted, 2 true -> F1 = 2*1/(1+2) = 2/3; class 1: tp 2 -> F1 = 1
    assert macro_f1_present(y_true, y_pred) == pytest.approx((2 / 3 + 1) / 2, abs=1e-12)  # 5/6
    # scikit-learn's default averages over true AND predicted labels: class 2 adds a 0 -> 5/9
    assert f1_score(y_true, y_pred, average="macro") == pytest.approx((2 / 3 + 1 + 0) / 3)
    assert macro_f1_present(y_true, y_pred) != pytest.approx(f1_score(y_true, y_pred, average="macro"))
    # fixed class set: predicted-but-absent class 2 counts 0 -> 5/9; class 3 (never seen) also 0 -> 5/12
    assert macro_f1(y_true, y_pred, 3) == pytest.approx(5 / 9, abs=1e-12)
    assert macro_f1(y_true, y_pred, 4) == pytest.approx(5 / 12, abs=1e-12)


def test_macro_f1_present_no_free_point_for_a_missing_class():
    # class 2 neither true nor predicted in this fold: not averaged in at all
    y_true = np.array([0, 0, 1, 1, 1])
    y_pred = np.array([0, 1, 1, 1, 0])
    # class 0: tp 1, 2 pred, 2 true -> 1/2; class 1: tp 2, 3 pred, 3 true -> 2/3
    assert macro_f1_present(y_true, y_pred) == pytest.approx((1 / 2 + 2 / 3) / 2, abs=1e-12)
    assert f1_score(y_true, y_pred, labels=[0, 1, 2], average="macro", zero_division=1) == pytest.approx(
        (1 / 2 + 2 / 3 + 1) / 3
    )  # what a free point would give


@pytest.mark.parametrize("seed", range(5))
def test_macro_f1_matches_sklearn(seed):
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, 5, 60)
    y_true[y_true == 3] = 4  # class 3 absent from y_true
    y_pred = np.where(rng.random(60) < 0.5, y_true, rng.integers(0, 6, 60))
    assert macro_f1_present(y_true, y_pred) == pytest.approx(
        f1_score(y_true, y_pred, labels=np.unique(y_true), average="macro", zero_division=0), abs=1e-12
    )
    assert macro_f1(y_true, y_pred, 7) == pytest.approx(
        f1_score(y_true, y_pred, labels=np.arange(7), average="macro", zero_division=0), abs=1e-12
    )
    # string labels work too for the per-fold form
    names = np.array(list("abcdef"))
    assert macro_f1_present(names[y_true], names[y_pred]) == pytest.approx(macro_f1_present(y_true, y_pred))


def test_macro_f1_rejects_bad_input():
    with pytest.raises(ValueError, match="n_classes"):
        macro_f1([0, 1], [0, 1], 0)
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        macro_f1([0, 1], [0, 2], 2)
    with pytest.raises(ValueError, match="same length"):
        macro_f1_present([0, 1], [0])
    with pytest.raises(ValueError, match="at least 1"):
        macro_f1_present([], [])


@pytest.mark.parametrize("grouped", [True, False])
def test_all_replicates_at_once_equal_the_replicate_by_replicate_interval(grouped):
    """records.interval weighs pieces by their bootstrap multiplicity (one matrix product for
    every replicate); it must give the very interval of the generic bootstrap, which pools the
    drawn pieces one replicate at a time."""
    from musicexp.evaluation import records
    from musicexp.evaluation import statistics as st

    rng = np.random.default_rng(5)
    n = 97
    y = {"a": rng.integers(0, 7, n), "b": rng.integers(0, 3, n)}
    preds = [{"a": rng.integers(0, 7, n), "b": np.where(rng.random(n) < 0.6, y["b"], 0)} for _ in range(2)]
    groups = rng.integers(0, 30, n).astype(str) if grouped else None
    counts = st.bootstrap_counts(n, groups, 300, seed=3)
    assert counts.shape == (300, n) and (counts.sum(axis=1) > 0).all()
    if grouped:  # a group's pieces are drawn together
        assert all((counts[:, groups == g] == counts[:, groups == g][:, :1]).all() for g in np.unique(groups))
    else:
        assert (counts.sum(axis=1) == n).all()
    for what in ("f1", "acc"):
        idx = np.arange(n)
        generic = group_bootstrap_interval(idx, idx, groups, records._metric(y, preds, {"a": 7, "b": 3}, ["a", "b"], what),
                                              n_boot=300, seed=3)
        assert records.interval(y, preds, {"a": 7, "b": 3}, ["a", "b"], groups, what, 3, 300) == generic
