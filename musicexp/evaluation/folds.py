"""Folds: which pieces are scored, the outer stratified (grouped) k-fold split, the inner split.

:func:`plan` makes every check of the label table a run needs (numpy only), so the train
step's pre-flight runs it on the discovered labels before any step computes. Classes with fewer
than ``min_class_count`` pieces (default: ``n_splits``) are dropped first, with a warning naming
them and their sizes.
"""

from __future__ import annotations

import warnings

import numpy as np

from musicexp.errors import UserError

ALL_TASKS = ("both", "all")


class TrainError(UserError):
    pass


def resolve_tasks(task: str, columns: list[str]) -> list[str]:
    if task in ALL_TASKS:
        return list(columns)
    if task not in columns:
        raise TrainError(f"steps.train.task={task!r} is not a label column; allowed: {list(columns) + list(ALL_TASKS)}")
    return [task]


def min_class_count(t) -> int:
    return int(t.n_splits if t.min_class_count is None else t.min_class_count)


def drop_rare(lab: dict, tasks: list[str], min_count: int):
    """Keep the pieces whose class in every task has at least ``min_count`` pieces.

    A piece needs a label for every task (one multi-head model, shared folds), so dropping a
    class of one task can make a class of another task rare: repeated until nothing changes.
    Returns (kept mask, {task: {class: size when dropped}}, {task: pieces of its kept classes}).
    """

    keep = np.ones(len(lab[tasks[0]]), dtype=bool)
    dropped: dict[str, dict[str, int]] = {k: {} for k in tasks}
    changed = True
    while changed:
        changed = False
        for k in tasks:
            vals, cnt = np.unique(lab[k][keep], return_counts=True)
            rare = vals[cnt < min_count]
            if len(rare):
                dropped[k].update({str(v): int(c) for v, c in zip(vals, cnt) if c < min_count})
                keep &= ~np.isin(lab[k], rare)
                changed = True
    own = {k: int((~np.isin(lab[k], list(dropped[k]))).sum()) for k in tasks}
    return keep, dropped, own


def strata_for(lab: dict, tasks: list[str]) -> list[tuple[str, np.ndarray]]:
    """Stratification candidates in order of preference: the joint label, then each task."""

    joint = np.array(["|".join(v) for v in zip(*(lab[k] for k in tasks))])
    return ([("+".join(tasks), joint)] if len(tasks) > 1 else []) + [(k, lab[k]) for k in tasks]


def pick_stratum(strata: list[tuple[str, np.ndarray]], n_splits: int) -> tuple[str, np.ndarray]:
    """The first candidate whose smallest class fits n_splits (numpy only)."""

    for name, y in strata:
        if np.unique(y, return_counts=True)[1].min() >= n_splits:
            return name, y
    name, y = strata[-1]
    vals, cnt = np.unique(y, return_counts=True)
    raise TrainError(
        f"steps.train.n_splits={n_splits} is larger than the smallest class of {name!r} "
        f"({str(vals[cnt.argmin()])!r}: {cnt.min()} pieces); lower steps.train.n_splits (at most {cnt.min()}), "
        f"or set steps.train.min_class_count to {n_splits} or more (or null) to drop rarer classes."
    )


def plan(lab: dict, columns: list[str], t) -> dict:
    """Every check of the label table a run needs, before any fitting; raise TrainError.

    ``lab``: label column -> array of labels per piece (plus ``group`` if the dataset has one).
    """

    tasks = resolve_tasks(t.task, columns)
    m = min_class_count(t)
    keep, dropped, own = drop_rare(lab, tasks, m)
    for k in tasks:
        left = np.unique(lab[k][keep])
        if len(left) < 2:
            sizes = sorted(zip(*np.unique(lab[k], return_counts=True)), key=lambda cn: -cn[1])
            bound = int(sizes[1][1]) if len(sizes) > 1 else 0
            key = "steps.train.n_splits" if t.min_class_count is None else "steps.train.min_class_count"
            raise TrainError(
                f"{key}={t.n_splits if t.min_class_count is None else m}: classes with fewer pieces are dropped "
                f"(steps.train.min_class_count={'null = n_splits' if t.min_class_count is None else m}), which "
                f"leaves {len(left)} class(es) of {k!r} (class sizes: {', '.join(f'{c}: {n}' for c, n in sizes)}); "
                + (f"allowed: at most {bound} (two classes must keep that many pieces)." if bound >= 2 else
                   f"{k!r} needs at least two classes with 2 pieces or more.")
            )
    sub = {k: v[keep] for k, v in lab.items()}
    strat_name, strat_y = pick_stratum(strata_for(sub, tasks), t.n_splits)
    groups = sub["group"] if (t.grouped and "group" in sub) else None
    if groups is not None and len(np.unique(groups)) < t.n_splits:
        raise TrainError(f"only {len(np.unique(groups))} groups for steps.train.n_splits={t.n_splits}; "
                         "lower steps.train.n_splits or set steps.train.grouped=false")
    return {"tasks": tasks, "keep": keep, "dropped": dropped, "own": own, "min_count": m,
            "strat_name": strat_name, "strat_y": strat_y, "groups": groups}


def make_folds(strata: list[tuple[str, np.ndarray]], groups, n_splits: int, seed: int):
    """Outer folds, stratified on the first candidate whose smallest class fits n_splits."""
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    name, y = pick_stratum(strata, n_splits)
    X = np.zeros(len(y))
    if groups is not None:
        if len(np.unique(groups)) < n_splits:
            raise TrainError(f"only {len(np.unique(groups))} groups for steps.train.n_splits={n_splits}; "
                             "lower n_splits or set steps.train.grouped=false")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            splits = list(StratifiedGroupKFold(n_splits, shuffle=True, random_state=seed).split(X, y, groups))
    else:
        splits = list(StratifiedKFold(n_splits, shuffle=True, random_state=seed).split(X, y))
    return name, y, splits


def inner_split(idx: np.ndarray, y: np.ndarray, groups, val_size: float, seed: int):
    """Split an outer training part into inner train / validation (stratified, grouped)."""
    from sklearn.model_selection import StratifiedGroupKFold, train_test_split

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        if groups is not None and len(np.unique(groups[idx])) >= round(1 / val_size):
            try:
                sgk = StratifiedGroupKFold(max(2, round(1 / val_size)), shuffle=True, random_state=seed)
                tr, va = next(sgk.split(idx, y[idx], groups[idx]))
                return idx[tr], idx[va]
            except ValueError:
                pass
        try:
            return tuple(train_test_split(idx, test_size=val_size, stratify=y[idx], random_state=seed))
        except ValueError:
            return tuple(train_test_split(idx, test_size=val_size, random_state=seed))
