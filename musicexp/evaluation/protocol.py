"""Fixed choices of the evaluation protocol (docs/evaluation.md), in plain Python: the records
are computed with them and the headline table states them (a cached run imports no numpy)."""

#: significance level of the comparisons between modes (corrected resampled t-test)
ALPHA = 0.05
