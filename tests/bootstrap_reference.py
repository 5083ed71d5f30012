"""The group bootstrap written replicate by replicate: the reference against which the records'
interval (musicexp.evaluation.records.interval, every replicate at once) is checked, and on which
the method's properties are tested. It draws through ``statistics.bootstrap_counts``, so both
see the same replicates."""

from __future__ import annotations

import numpy as np

from musicexp.evaluation import statistics as st


def group_bootstrap_interval(y_true, y_pred, groups, metric, n_boot: int = 1000, level: float = 0.95,
                             seed: int | None = 0) -> st.Interval:
    """Percentile-bootstrap interval of ``metric(y_true, y_pred)``, resampling whole groups with
    replacement (single pieces with ``groups=None``); a group drawn twice counts twice."""
    yt, yp = np.asarray(y_true), np.asarray(y_pred)
    counts = st.bootstrap_counts(len(yt), groups, n_boot, seed).astype(np.int64)
    pieces = np.arange(len(yt))
    reps = np.array([metric(yt[idx], yp[idx]) for idx in (np.repeat(pieces, c) for c in counts)], dtype=float)
    method = "percentile bootstrap" if groups is None else "group percentile bootstrap"
    return st.percentile_interval(float(metric(yt, yp)), reps, level, method)
