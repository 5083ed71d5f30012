"""Statistics for a cross-validated classification study: spread, tests, intervals, chance level.

(Over 500 lines on purpose: each statistic carries its definition, edge cases and reference in
its docstring, which is what a reviewer checks; the code itself is about half of it.)

All functions are pure: numpy arrays (or array-likes) in, plain floats or small frozen
dataclasses out. Only numpy, scipy and the standard library are used.

What each piece is for
----------------------
``sample_std``
    The spread of per-fold scores (ddof=1). Descriptive only: folds share training data, so
    this is not the standard error of the mean CV score.
``corrected_resampled_ttest``
    Comparing two models evaluated on the same folds (paired per-fold score differences). The textbook paired t-test treats the
    J fold scores as independent, but their training sets overlap (and with repeated k-fold
    so do the test sets), which makes the variance too small and the test far too eager to
    declare a difference. Nadeau & Bengio inflate the variance of the mean from s^2 / J to
    (1/J + n_test/n_train) * s^2; Bouckaert & Frank apply the same correction to r repeats of
    k-fold CV with J = r * k.
``min_detectable_difference``
    The power of a comparison: the smallest true difference that the corrected resampled
    t-test, with the same standard error and degrees of freedom, would detect with the
    stated power (80%) at the stated level (0.05, two-sided). A "not distinguishable" below
    it says only that the design cannot see such a difference (Cohen; the noncentral t).
``holm``
    Several comparisons in one run (each mode against the best one): Holm's step-down
    adjustment keeps the chance of any false "significant" at alpha for the whole family,
    without assuming the tests independent (uniformly more powerful than Bonferroni).
``mcnemar``
    Comparing two classifiers on the same pooled out-of-fold predictions (one prediction per
    piece). Only the discordant pieces carry information: b (A right, B wrong) and c (A wrong,
    B right); under the null hypothesis each discordant piece is a fair coin flip. Dietterich
    recommends it, with the 5x2cv test, as one of the few tests with an acceptable type I
    error. It treats pieces as independent, so it is optimistic when pieces cluster (the
    movements of one work): prefer the grouped bootstrap or the corrected t-test then.
``bootstrap_counts`` / ``percentile_interval``
    A percentile-bootstrap interval for a metric of the pooled out-of-fold predictions
    (Efron & Tibshirani). Pieces of one work or album are correlated, so whole groups are
    resampled; resampling single pieces would understate the uncertainty. The replicates are
    drawn as counts (how often each piece is in each), so a metric of counts is evaluated for
    all replicates at once (``musicexp.evaluation.records.interval``).
``permutation_pvalue`` / ``shuffle_labels``
    Is a classifier better than chance? Refit it on shuffled labels N times and compare the
    real score with that null distribution (Ojala & Garriga, test 1; scikit-learn's
    ``permutation_test_score``). ``shuffle_labels`` draws one shuffle that keeps grouped
    folds valid, ``permutation_pvalue`` turns the null scores into a p-value.
``macro_f1_present`` / ``macro_f1``
    Macro-F1 per fold over the classes that occur in that fold's test set, and macro-F1 of
    the pooled predictions over the fixed class set.

References
----------
- C. Nadeau and Y. Bengio (2003). Inference for the generalization error. Machine Learning
  52(3), 239-281.
- J. Cohen (1988). Statistical Power Analysis for the Behavioral Sciences, 2nd ed. Erlbaum.
- R. R. Bouckaert and E. Frank (2004). Evaluating the replicability of significance tests
  for comparing learning algorithms. PAKDD 2004, LNCS 3056, 3-12.
- S. Holm (1979). A simple sequentially rejective multiple test procedure. Scandinavian
  Journal of Statistics 6(2), 65-70.
- Q. McNemar (1947). Note on the sampling error of the difference between correlated
  proportions or percentages. Psychometrika 12(2), 153-157.
- A. L. Edwards (1948). Note on the "correction for continuity" in testing the significance
  of the difference between correlated proportions. Psychometrika 13(3), 185-187.
- T. G. Dietterich (1998). Approximate statistical tests for comparing supervised
  classification learning algorithms. Neural Computation 10(7), 1895-1923.
- B. Efron and R. J. Tibshirani (1993). An Introduction to the Bootstrap. Chapman & Hall.
- M. Ojala and G. C. Garriga (2010). Permutation tests for studying classifier performance.
  Journal of Machine Learning Research 11, 1833-1863.
- scikit-learn, ``sklearn.model_selection.permutation_test_score``.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

__all__ = [
    "TTest",
    "Interval",
    "McNemar",
    "sample_std",
    "corrected_resampled_ttest",
    "min_detectable_difference",
    "holm",
    "mcnemar",
    "bootstrap_counts",
    "percentile_interval",
    "permutation_pvalue",
    "shuffle_labels",
    "macro_f1_present",
    "macro_f1",
]

#: below this many discordant pairs (b + c) ``mcnemar(exact=None)`` uses the exact binomial test
MCNEMAR_EXACT_BELOW = 25


@dataclass(frozen=True)
class TTest:
    """Result of a t-test: mean difference, t statistic, degrees of freedom, two-sided p,
    and the standard error used (the corrected one for the resampled t-test)."""

    mean: float
    t: float
    df: int
    p: float
    se: float


@dataclass(frozen=True)
class Interval:
    """A point estimate with a two-sided interval [low, high] at confidence ``level``."""

    estimate: float
    low: float
    high: float
    level: float
    method: str


@dataclass(frozen=True)
class McNemar:
    """McNemar's test: discordant counts b (A right, B wrong) and c (A wrong, B right)."""

    b: int
    c: int
    statistic: float
    p: float
    method: str  # "exact" or "chi2"


# ------------------------------------------------------------------------------ validation


def _as_1d(x, name: str, *, finite: bool = True, min_len: int = 0) -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got an array of shape {arr.shape}")
    if len(arr) < min_len:
        raise ValueError(f"{name} needs at least {min_len} values, got {len(arr)}")
    if finite:
        if arr.dtype.kind not in "biuf":
            raise ValueError(f"{name} must be numeric, got dtype {arr.dtype}")
        arr = arr.astype(float)
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} must contain only finite values (no nan or inf)")
    return arr


def _positive(x, name: str) -> float:
    if isinstance(x, bool) or not isinstance(x, numbers.Real) or not math.isfinite(x) or x <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {x!r}")
    return float(x)


def _level(level) -> float:
    if isinstance(level, bool) or not isinstance(level, numbers.Real) or not 0 < level < 1:
        raise ValueError(f"level must be a number strictly between 0 and 1, got {level!r}")
    return float(level)


def _same_length(a: np.ndarray, b: np.ndarray, name_a: str, name_b: str) -> None:
    if len(a) != len(b):
        raise ValueError(f"{name_a} and {name_b} must have the same length, got {len(a)} and {len(b)}")


# ------------------------------------------------------------------------ fold-level spread


def sample_std(x) -> float:
    """Sample standard deviation (ddof=1) of per-fold scores.

    Parameters
    ----------
    x : array-like of shape (n,)
        Finite values.

    Returns
    -------
    std : float
        ``sqrt(sum((x - mean)^2) / (n - 1))``; nan when n < 2.

    Raises
    ------
    ValueError
        If x is not 1-D or holds non-finite values.
    """
    arr = _as_1d(x, "x")
    if len(arr) < 2:
        return float("nan")
    return float(np.std(arr, ddof=1))


def _corrected_se(values: np.ndarray, n_train: float, n_test: float) -> tuple[float, float]:
    """Mean and Nadeau-Bengio corrected standard error of the mean of ``values``."""
    if np.all(values == values[0]):  # exact mean and zero variance (np.mean/np.var may round)
        return float(values[0]), 0.0
    mean, s2 = float(np.mean(values)), float(np.var(values, ddof=1))
    return mean, math.sqrt((1.0 / len(values) + n_test / n_train) * s2)


def corrected_resampled_ttest(diffs, n_train: float, n_test: float) -> TTest:
    """Nadeau-Bengio corrected resampled t-test on paired per-fold score differences.

    With J = len(diffs) differences (score A - score B, one per fold of possibly repeated
    k-fold CV), mean d and variance s^2 (ddof=1)::

        var = (1/J + n_test/n_train) * s^2,   t = d / sqrt(var),   df = J - 1

    and p = 2 * P(T_df > |t|). The n_test/n_train term accounts for the overlap of training
    sets between folds; without it (the plain paired t-test) p is far too small.

    Parameters
    ----------
    diffs : array-like of shape (J,)
        Finite per-fold differences, J >= 2.
    n_train, n_test : float
        (Average) number of training and test pieces per fold, both > 0.

    Returns
    -------
    TTest
        ``mean``, ``t``, ``df`` (= J - 1), two-sided ``p`` and ``se`` (= sqrt(var)). If all
        differences are equal, s^2 = 0: t = 0 and p = 1 when they are zero, otherwise
        t = +-inf and p = 0.

    Raises
    ------
    ValueError
        If diffs is not 1-D, has fewer than 2 values or non-finite values, or if n_train or
        n_test is not a finite number > 0.
    """
    from scipy import stats

    d = _as_1d(diffs, "diffs", min_len=2)
    n_train, n_test = _positive(n_train, "n_train"), _positive(n_test, "n_test")
    mean, se = _corrected_se(d, n_train, n_test)
    df = len(d) - 1
    if se == 0.0:
        t = 0.0 if mean == 0.0 else math.copysign(math.inf, mean)
        return TTest(mean=mean, t=t, df=df, p=1.0 if mean == 0.0 else 0.0, se=0.0)
    t = mean / se
    p = float(min(1.0, 2.0 * stats.t.sf(abs(t), df)))
    return TTest(mean=mean, t=t, df=df, p=p, se=se)


def min_detectable_difference(se: float, df: int, alpha: float = 0.05, power: float = 0.8) -> float:
    """Smallest true mean difference a two-sided t-test with standard error ``se`` and ``df``
    degrees of freedom detects with probability ``power`` at level ``alpha``.

    The test rejects when ``|T| > c``, ``c = t_{1 - alpha/2, df}``; with a true difference
    ``delta``, ``T`` follows the noncentral t with ``df`` degrees of freedom and noncentrality
    ``delta / se``, so the power is ``P(T > c) + P(T < -c)``. This returns the ``delta`` at
    which that power equals ``power`` (solved exactly with scipy's noncentral t, not by the
    textbook approximation ``(t_{1-alpha/2} + t_{power}) * se``, which it approaches for
    large ``df``: ``(1.960 + 0.842) * se`` at 80% power and alpha 0.05).

    Parameters
    ----------
    se : float
        Standard error of the mean difference (for the corrected resampled t-test, the
        corrected one: ``corrected_resampled_ttest(...).se``), finite and >= 0.
    df : int
        Degrees of freedom, >= 1.
    alpha, power : float
        Level of the two-sided test and the power wanted, both in (0, 1), power > alpha.

    Returns
    -------
    delta : float
        In the units of ``se`` (here macro-F1). 0 when ``se`` is 0 (every difference is
        detected when the folds agree exactly).

    Raises
    ------
    ValueError
        If se is negative or not finite, df < 1, or alpha/power are out of range.
    """
    from scipy import optimize, stats

    if not (isinstance(se, numbers.Real) and math.isfinite(se) and se >= 0):
        raise ValueError(f"se must be a finite number >= 0, got {se!r}")
    if isinstance(df, bool) or not isinstance(df, numbers.Integral) or df < 1:
        raise ValueError(f"df must be an integer >= 1, got {df!r}")
    for name, x in (("alpha", alpha), ("power", power)):
        if isinstance(x, bool) or not isinstance(x, numbers.Real) or not 0 < x < 1:
            raise ValueError(f"{name} must be a number strictly between 0 and 1, got {x!r}")
    if power <= alpha:
        raise ValueError(f"power must exceed alpha, got power={power} and alpha={alpha}")
    if se == 0:
        return 0.0
    c = float(stats.t.ppf(1 - alpha / 2, df))

    def gap(nc: float) -> float:  # P(T < -c) as P(-T > c), T ~ nct(-nc): scipy's cdf gives nan far in that tail
        return float(stats.nct.sf(c, df, nc) + stats.nct.sf(c, df, -nc)) - power

    hi = c + float(stats.t.ppf(power, df)) + 1.0  # the approximation, plus a margin: power(hi) > power
    while gap(hi) < 0:
        hi *= 2
    return float(optimize.brentq(gap, 0.0, hi, xtol=1e-12)) * float(se)


def holm(pvalues) -> np.ndarray:
    """Holm's step-down adjusted p-values of a family of tests.

    With the m p-values sorted ascending, p_(1) <= ... <= p_(m), the adjusted value of the i-th
    is ``max_{j <= i} min(1, (m - j + 1) * p_(j))``, returned in the input order. Rejecting
    the hypotheses whose adjusted p is below alpha controls the family-wise error rate at
    alpha under any dependence between the tests (Holm 1979).

    Parameters
    ----------
    pvalues : array-like of shape (m,)
        p-values in [0, 1]; m may be 0.

    Returns
    -------
    adjusted : ndarray of shape (m,)
        Each >= its raw p-value, <= 1, and in the same order as ``pvalues``.

    Raises
    ------
    ValueError
        If pvalues is not 1-D or holds values outside [0, 1] (or nan).
    """
    p = _as_1d(pvalues, "pvalues")
    if np.any((p < 0) | (p > 1)):
        raise ValueError(f"pvalues must lie in [0, 1], got {p.tolist()}")
    m = len(p)
    order = np.argsort(p, kind="stable")
    steps = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out = np.empty(m)
    out[order] = np.maximum.accumulate(steps)
    return out


def _correctness(x, name: str) -> np.ndarray:
    arr = _as_1d(x, name, finite=False)
    if arr.dtype.kind == "b":
        return arr
    if arr.dtype.kind in "iuf" and np.all((arr == 0) | (arr == 1)):
        return arr.astype(bool)
    raise ValueError(f"{name} must be boolean (or 0/1) per-prediction correctness, got dtype {arr.dtype}")


def mcnemar(correct_a, correct_b, exact: bool | None = None) -> McNemar:
    """McNemar's test for two classifiers on the same (pooled out-of-fold) predictions.

    b = #(A right and B wrong), c = #(A wrong and B right); concordant pieces are ignored.

    - ``exact=True``: two-sided exact binomial test of b ~ Binomial(b + c, 1/2),
      p = min(1, 2 * P(X <= min(b, c))); statistic = min(b, c).
    - ``exact=False``: chi-square with Edwards' continuity correction,
      statistic = max(|b - c| - 1, 0)^2 / (b + c), p from chi-square with 1 df.
    - ``exact=None`` (default): the exact test when b + c < 25, otherwise the chi-square
      approximation (which is poor for few discordant pairs).

    With b + c == 0 the classifiers never disagree: statistic 0 and p = 1.

    Parameters
    ----------
    correct_a, correct_b : array-like of bool, shape (n,)
        Whether classifier A (resp. B) got each piece right (0/1 integers are accepted).
    exact : bool or None, default=None
        Which form of the test to use, see above.

    Returns
    -------
    McNemar
        ``b``, ``c``, ``statistic``, two-sided ``p``, ``method`` ("exact" or "chi2").

    Raises
    ------
    ValueError
        If the inputs are not 1-D boolean (or 0/1) arrays of the same, non-zero length, or if
        exact is not True, False or None.
    """
    from scipy import stats

    if exact is not None and not isinstance(exact, (bool, np.bool_)):
        raise ValueError(f"exact must be True, False or None, got {exact!r}")
    a, b_ = _correctness(correct_a, "correct_a"), _correctness(correct_b, "correct_b")
    _same_length(a, b_, "correct_a", "correct_b")
    if len(a) == 0:
        raise ValueError("correct_a and correct_b are empty: need at least one prediction")
    b = int(np.count_nonzero(a & ~b_))
    c = int(np.count_nonzero(~a & b_))
    n = b + c
    use_exact = n < MCNEMAR_EXACT_BELOW if exact is None else bool(exact)
    if use_exact:
        p = 1.0 if n == 0 else float(min(1.0, 2.0 * stats.binom.cdf(min(b, c), n, 0.5)))
        return McNemar(b=b, c=c, statistic=float(min(b, c)), p=p, method="exact")
    if n == 0:
        return McNemar(b=b, c=c, statistic=0.0, p=1.0, method="chi2")
    statistic = max(abs(b - c) - 1, 0) ** 2 / n
    return McNemar(b=b, c=c, statistic=float(statistic), p=float(stats.chi2.sf(statistic, 1)), method="chi2")


# ------------------------------------------------------------------------------ bootstrap


def _draws(n: int, groups, n_boot: int, seed: int | None) -> tuple[np.ndarray, np.ndarray]:
    """(unit of each piece, (n_boot, units) drawn units): the one source of the bootstrap's draws."""
    rng = np.random.default_rng(seed)
    if groups is None:
        return np.arange(n), rng.integers(0, n, size=(n_boot, n))
    _, units = np.unique(np.asarray(groups), return_inverse=True)
    units = units.reshape(-1)
    n_units = int(units.max()) + 1
    return units, rng.integers(0, n_units, size=(n_boot, n_units))


def bootstrap_counts(n: int, groups=None, n_boot: int = 1000, seed: int | None = 0) -> np.ndarray:
    """(n_boot, n) multiplicity of each piece in each replicate of a bootstrap that draws, with
    replacement, as many groups as there are (single pieces with ``groups=None``), seeded by
    ``seed``: a metric that is a function of counts (accuracy, pooled macro-F1) is then evaluated
    for all replicates at once, as weighted sums, and equals the replicate-by-replicate value
    (tests/bootstrap_reference.py)."""
    units, draws = _draws(n, groups, n_boot, seed)
    n_units = draws.shape[1]
    per_unit = np.bincount((draws + n_units * np.arange(n_boot)[:, None]).ravel(),
                           minlength=n_boot * n_units).reshape(n_boot, n_units)
    return per_unit[:, units].astype(np.float64)


def percentile_interval(estimate: float, reps: np.ndarray, level: float, method: str) -> Interval:
    """The (1-level)/2 and 1-(1-level)/2 quantiles of the bootstrap replicates ``reps``."""
    alpha = 1.0 - _level(level)
    low, high = np.quantile(reps, [alpha / 2.0, 1.0 - alpha / 2.0])
    return Interval(estimate=float(estimate), low=float(low), high=float(high), level=level, method=method)


# ---------------------------------------------------------------------- permutation tests


def permutation_pvalue(score: float, null_scores) -> float:
    """p-value of a score against scores obtained on permuted labels.

    ``(1 + #(null_scores >= score)) / (1 + N)``, as scikit-learn's ``permutation_test_score``
    (Ojala & Garriga 2010): counting the observed score as one of the permutations keeps the
    test valid and the p-value never 0 (its smallest value is 1 / (N + 1)). Higher scores
    must mean better.

    Parameters
    ----------
    score : float
        Score of the model on the real labels (finite).
    null_scores : array-like of shape (N,)
        Finite scores on N >= 1 label permutations.

    Returns
    -------
    p : float
        In [1 / (N + 1), 1].

    Raises
    ------
    ValueError
        If score is not a finite number or null_scores is not a non-empty 1-D finite array.
    """
    if isinstance(score, bool) or not isinstance(score, numbers.Real) or not math.isfinite(score):
        raise ValueError(f"score must be a finite number, got {score!r}")
    null = _as_1d(null_scores, "null_scores", min_len=1)
    return float((1 + np.count_nonzero(null >= score)) / (1 + len(null)))


def shuffle_labels(y, groups, rng: np.random.Generator) -> np.ndarray:
    """One permutation of the labels for a chance-level (permutation) test.

    - ``groups=None``: a plain permutation of the rows of y.
    - With groups, when every group has a single label row (all its pieces share their
      labels, the usual case: the movements of one work share composer and era): the label
      rows are permuted among the groups. Each group keeps its pieces and takes over the
      labels of another group, so labels stay constant within groups and grouped folds
      remain valid. The multiset of *group* labels is preserved; the per-piece label counts
      change when groups differ in size.
    - Otherwise (some group mixes labels): the rows are permuted across all pieces.

    scikit-learn's ``permutation_test_score(groups=...)`` instead shuffles labels *within*
    each group. When labels are constant inside every group, that shuffle returns y
    unchanged, so every "null" score equals the real one and the p-value is always 1.

    Parameters
    ----------
    y : array-like of shape (n,) or (n, n_tasks)
        Labels; for 2-D y the rows (one per piece, all tasks) are permuted jointly, so the
        labels of different tasks of one piece stay together.
    groups : array-like of shape (n,) or None
        Group (work / album) of each piece.
    rng : numpy.random.Generator
        Source of randomness (e.g. ``np.random.default_rng(seed)``).

    Returns
    -------
    y_shuffled : ndarray of the shape of y
        A new array; y is not modified.

    Raises
    ------
    ValueError
        If y is not 1-D or 2-D, groups is not 1-D with one entry per row of y, or rng is not a
        numpy Generator.
    """
    arr = np.asarray(y)
    if arr.ndim not in (1, 2):
        raise ValueError(f"y must be 1-D (n,) or 2-D (n, n_tasks), got shape {arr.shape}")
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator (np.random.default_rng), got {rng!r}")
    if groups is None:
        return arr[rng.permutation(len(arr))]
    g = _as_1d(groups, "groups", finite=False)
    _same_length(arr, g, "y", "groups")
    _, first, inverse = np.unique(g, return_index=True, return_inverse=True)
    rows = arr.reshape(len(arr), -1)
    group_rows = rows[first]  # label row of the first piece of each group
    if np.all(rows == group_rows[inverse]):
        return group_rows[rng.permutation(len(first))][inverse].reshape(arr.shape)
    return arr[rng.permutation(len(arr))]


# ------------------------------------------------------------------------------- macro-F1


def _f1_per_class(yt: np.ndarray, yp: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """F1 = 2 tp / (#true + #predicted) per label of the sorted ``labels`` (0 when both are 0)."""
    k = len(labels)
    t_idx = np.searchsorted(labels, yt)
    p_idx = np.minimum(np.searchsorted(labels, yp), k - 1)
    p_in = labels[p_idx] == yp  # predictions of a label outside ``labels`` count for no class
    n_true = np.bincount(t_idx, minlength=k)
    n_pred = np.bincount(p_idx[p_in], minlength=k)
    tp = np.bincount(t_idx[yt == yp], minlength=k)
    denom = n_true + n_pred
    return np.divide(2.0 * tp, denom, out=np.zeros(k), where=denom > 0)


def _labels_pair(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    yt = _as_1d(y_true, "y_true", finite=False, min_len=1)
    yp = _as_1d(y_pred, "y_pred", finite=False)
    _same_length(yt, yp, "y_true", "y_pred")
    return yt, yp


def macro_f1_present(y_true, y_pred) -> float:
    """Macro-F1 in [0, 1] over the classes present in ``y_true`` (one test fold, n >= 1).

    Equivalent to ``sklearn.metrics.f1_score(y_true, y_pred, labels=np.unique(y_true),
    average="macro", zero_division=0)``. A class absent from this fold's test set is left out
    of the average: it is neither a free point (F1 = 1) nor a zero. Predictions of such a class
    still count as errors for the true class of those pieces. (scikit-learn's default averages
    over the union of true and predicted labels, so a stray prediction of an absent class adds
    a 0.) ValueError if the arrays are not 1-D, are empty or differ in length.
    """
    yt, yp = _labels_pair(y_true, y_pred)
    return float(np.mean(_f1_per_class(yt, yp, np.unique(yt))))


def macro_f1(y_true, y_pred, n_classes: int, labels=None) -> float:
    """Macro-F1 in [0, 1] over the fixed class set 0 .. n_classes-1 (pooled predictions), or
    over the classes ``labels`` (a subset of them) only.

    ``y_true``, ``y_pred``: class indices in [0, n_classes), n >= 1. Equivalent to
    ``sklearn.metrics.f1_score(y_true, y_pred, labels=np.arange(n_classes), average="macro",
    zero_division=0)``: every class counts; one predicted but absent from y_true (or neither
    true nor predicted) scores 0. ValueError if n_classes is not a positive integer, the
    arrays are not 1-D, empty or differ in length, or hold values outside [0, n_classes).
    """
    if isinstance(n_classes, bool) or not isinstance(n_classes, numbers.Integral) or n_classes < 1:
        raise ValueError(f"n_classes must be a positive integer, got {n_classes!r}")
    yt, yp = _labels_pair(y_true, y_pred)
    for name, arr in (("y_true", yt), ("y_pred", yp)):
        ok = arr.dtype.kind in "iu" or (arr.dtype.kind == "f" and np.all(arr == np.round(arr)))
        if not ok or arr.min() < 0 or arr.max() >= n_classes:
            raise ValueError(f"{name} must hold integer class indices in [0, {n_classes}), got {arr[:5]!r}...")
    labels = np.arange(n_classes) if labels is None else np.asarray(labels, dtype=np.int64)
    return float(np.mean(_f1_per_class(yt.astype(np.int64), yp.astype(np.int64), labels)))


def pooled_scores_weighted(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int, counts: np.ndarray,
                           labels=None) -> dict:
    """Accuracy and :func:`macro_f1` over 0 .. n_classes-1 (or over the classes ``labels`` only)
    for every row of ``counts`` (piece multiplicities, e.g. :func:`bootstrap_counts`): arrays of
    len(counts). Row r equals the unweighted metric of the pieces repeated counts[r] times."""
    yt, yp = np.asarray(y_true, np.int64), np.asarray(y_pred, np.int64)
    eye = np.eye(n_classes)
    n_true, n_pred = counts @ eye[yt], counts @ eye[yp]
    hit = (yt == yp).astype(np.float64)
    tp = counts @ (eye[yt] * hit[:, None])
    denom = n_true + n_pred
    f1 = np.divide(2.0 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
    return {"acc": (counts @ hit) / counts.sum(axis=1), "f1": (f1 if labels is None else f1[:, labels]).mean(axis=1)}
