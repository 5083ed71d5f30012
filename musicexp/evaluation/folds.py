"""Folds: which pieces are scored, the held-out part, the outer (repeated) stratified grouped
k-fold splits, and the inner split of each outer training part.

:func:`plan` makes every check of the label table a run needs (numpy only), so the train
step's pre-flight runs it on the discovered labels before any step computes.

* **Class support is counted in groups** when the folds are grouped (a group lies in one test
  fold only, so a class of 2 works cannot be spread over 5 folds): a class needs
  ``min_class_count`` groups (default ``n_splits``; pieces when the folds are not grouped).
  Rarer classes are dropped with a warning naming each class with its groups and pieces.
* **Held-out part** (``holdout`` > 0): a stratified share of each class's groups, chosen with
  its own seed (``holdout_seed``, not the run's: every job of a sweep keeps the same part), kept
  out of every CV; the train step scores each mode on it once, fitted on all CV pieces. Every
  class with 3 groups or more is represented in it (:func:`holdout_mask`); it is scored over
  the classes it holds, and the record names any it lacks.
* **Repeats**: repeat ``r`` uses the fold seed ``seed + r * REPEAT_STRIDE`` (repeat 0: ``seed``,
  the folds of a run without repeats).
* **Inner split** (early stopping, late-fusion weights): by groups, stratified per class, so
  that every class with at least two groups in the outer training part has groups in both the
  inner training and the validation part (see :func:`split_groups`); the same split for every
  model and mode of a fold.
"""

from __future__ import annotations

import warnings

import numpy as np

from musicexp.core.errors import UserError

ALL_TASKS = ("both", "all")
REPEAT_STRIDE = 1_000_003


class TrainError(UserError):
    pass


def resolve_tasks(task: str, columns: list[str]) -> list[str]:
    if task in ALL_TASKS:
        return list(columns)
    if task not in columns:
        raise TrainError(f"steps.train.task={task!r} is not a label column; allowed: {list(columns) + list(ALL_TASKS)}")
    return [task]


def support(y: np.ndarray, groups: np.ndarray | None) -> dict[str, tuple[int, int]]:
    """class -> (groups, pieces) (groups = pieces without a group column)."""
    out = {}
    for c in np.unique(y):
        m = y == c
        out[str(c)] = (len(np.unique(groups[m])) if groups is not None else int(m.sum()), int(m.sum()))
    return out


def drop_rare(lab: dict, tasks: list[str], groups: np.ndarray | None, need: int):
    """Keep the pieces whose class in every task has at least ``need`` groups (pieces without groups).

    A piece needs a label for every task (one multi-head model, shared folds), so dropping a
    class of one task can make a class of another task rare: repeated until nothing changes.
    Returns (kept mask, {task: {class: {"groups": g, "pieces": p}}} of the dropped classes).
    """
    keep = np.ones(len(lab[tasks[0]]), dtype=bool)
    dropped: dict[str, dict[str, dict]] = {k: {} for k in tasks}
    changed = True
    while changed:
        changed = False
        for k in tasks:
            sup = support(lab[k][keep], None if groups is None else groups[keep])
            rare = [c for c, (g, _) in sup.items() if g < need]
            if rare:
                dropped[k].update({c: {"groups": sup[c][0], "pieces": sup[c][1]} for c in rare})
                keep &= ~np.isin(lab[k], rare)
                changed = True
    return keep, dropped


def strata_for(lab: dict, tasks: list[str]) -> list[tuple[str, np.ndarray]]:
    """Stratification candidates in order of preference: the joint label, then each task."""
    joint = np.array(["|".join(v) for v in zip(*(lab[k] for k in tasks))])
    return ([("+".join(tasks), joint)] if len(tasks) > 1 else []) + [(k, lab[k]) for k in tasks]


def pick_stratum(strata: list[tuple[str, np.ndarray]], n_splits: int) -> tuple[str, np.ndarray]:
    """The first candidate whose smallest class fits n_splits."""
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


def split_groups(labels: list[np.ndarray], groups: np.ndarray, share: float, rng: np.random.Generator,
                 keep_in_first: int = 1, represent: bool = False) -> np.ndarray:
    """A stratified split of groups: the mask of pieces put in the second part.

    For each class of each task (fewest groups first), about ``share`` of its groups (at least
    one) go to the second part, as long as the first part keeps ``keep_in_first`` groups of
    every class (all of them for a class with fewer); groups are drawn at random (``rng``); a
    group holding several classes counts for each. With ``represent``, a class of 3 groups or
    more gives at least one group to the second part even when that leaves the first part one
    group short of ``keep_in_first`` (but never fewer than 2): the second part then has every
    such class.
    """
    gid = np.unique(groups, return_inverse=True)[1]
    members: list[set] = [set() for _ in range(int(gid.max()) + 1)]
    for t, y in enumerate(labels):
        for g, c in set(zip(gid.tolist(), y.tolist())):
            members[g].add((t, c))
    classes: dict[tuple, list[int]] = {}
    for g, ms in enumerate(members):
        for tc in ms:
            classes.setdefault(tc, []).append(g)
    floor = {tc: min(keep_in_first, len(gs) - (represent and len(gs) >= 3)) for tc, gs in classes.items()}
    left = {tc: len(gs) for tc, gs in classes.items()}  # groups of the class still in the first part
    chosen = np.zeros(len(members), dtype=bool)
    for tc, gs in sorted(classes.items(), key=lambda kv: (len(kv[1]), kv[0][0], str(kv[0][1]))):
        target = min(max(1, int(round(share * len(gs)))), len(gs) - floor[tc])
        have = int(chosen[gs].sum())
        for cand in rng.permutation(gs).tolist():
            if have >= target:
                break
            if chosen[cand] or any(left[m] - 1 < floor[m] for m in members[cand]):
                continue
            chosen[cand] = True
            have += 1
            for m in members[cand]:
                left[m] -= 1
    return chosen[gid]


def holdout_mask(lab: dict, tasks: list[str], groups: np.ndarray | None, share: float, seed: int,
                 n_splits: int) -> np.ndarray:
    """Pieces of the held-out part: about ``share`` of each class's groups, each class keeping
    ``n_splits`` groups for the CV, except that every class of 3 groups or more gives the held-out
    part at least one (the CV then keeps n_splits - 1 of a class with exactly n_splits: one test
    fold lacks it). A held-out part without some class would score it 0 on the CV's class set."""
    if share <= 0:
        return np.zeros(len(lab[tasks[0]]), dtype=bool)
    g = groups if groups is not None else np.arange(len(lab[tasks[0]])).astype(str)
    return split_groups([lab[k] for k in tasks], g, share, np.random.default_rng(seed), keep_in_first=n_splits,
                        represent=True)


def plan(lab: dict, columns: list[str], t) -> dict:
    """Every check of the label table a run needs, before any fitting; raise TrainError.

    ``lab``: label column -> array of labels per piece (plus ``group`` if the dataset has one).
    Returns what :mod:`.cv` needs: tasks, the CV and held-out masks over ``lab``'s pieces, the
    dropped classes, the stratification label and the groups of the CV pieces.
    """
    tasks = resolve_tasks(t.task, columns)
    groups_all = lab["group"] if (t.grouped and "group" in lab) else None
    need = int(t.n_splits if t.min_class_count is None else t.min_class_count)
    keep, dropped = drop_rare({k: lab[k] for k in tasks}, tasks, groups_all, need)
    kept = {k: lab[k][keep] for k in tasks}
    held = np.zeros(len(keep), dtype=bool)  # each class keeps `need` groups for the CV
    held[keep] = holdout_mask(kept, tasks, None if groups_all is None else groups_all[keep], t.holdout,
                              t.holdout_seed, need)
    cv = keep & ~held
    unit = "groups" if groups_all is not None else "pieces"
    for k in tasks:
        left = np.unique(lab[k][cv])
        if len(left) < 2:
            _blame_other_task(k, tasks, lab, groups_all, need, unit)
            sup = sorted(support(lab[k], groups_all).items(), key=lambda cs: -cs[1][0])
            bound = sup[1][1][0] if len(sup) > 1 else 0
            key = "steps.train.n_splits" if t.min_class_count is None else "steps.train.min_class_count"
            raise TrainError(
                f"{key}={need}: classes with fewer {unit} are dropped (steps.train.min_class_count="
                f"{'null = n_splits' if t.min_class_count is None else need}), which leaves {len(left)} class(es) of {k!r} "
                f"(class sizes: {', '.join(f'{c}: {plural(g, unit)}' for c, (g, _) in sup)}); "
                + (f"allowed: at most {bound} (two classes must keep that many {unit}; lower steps.train.n_splits "
                   f"or steps.train.min_class_count)." if bound >= 2 else
                   f"{k!r} needs at least two classes with 2 {unit} or more.")
            )
    sub = {k: lab[k][cv] for k in tasks}
    strat_name, strat_y = pick_stratum(strata_for(sub, tasks), t.n_splits)
    groups = groups_all[cv] if groups_all is not None else None
    if groups is not None and len(np.unique(groups)) < t.n_splits:
        raise TrainError(f"only {len(np.unique(groups))} groups for steps.train.n_splits={t.n_splits}; "
                         "lower steps.train.n_splits or set steps.train.grouped=false")
    return {"tasks": tasks, "cv": cv, "holdout": held, "dropped": dropped, "min_count": need, "unit": unit,
            "strat_name": strat_name, "strat_y": strat_y, "groups": groups}


def plural(n: int, word: str) -> str:
    """``1 group``, ``2 groups``; ``word`` is the plural (groups, pieces, works, classes)."""
    singular = {"pieces": "piece", "classes": "class"}.get(word, word[:-1] if word.endswith("s") else word)
    return f"{n} {singular if n == 1 else word}"


def _blame_other_task(k: str, tasks: list[str], lab: dict, groups, need: int, unit: str) -> None:
    """Task ``k`` lost its classes although they have the support: another task's rare classes
    took its pieces (every piece needs a label per task). Blame the task with the largest share
    of rare classes (an id-like column, a class per piece, before a real task with a few rare
    classes); suggest the columns of every task that would score; raise TrainError."""
    def scoring(t: str) -> int:
        return sum(g >= need for g, _ in support(lab[t], groups).values())

    if scoring(k) < 2:
        return  # k's own classes are too small: the caller's message says so
    rare = {o: [c for c, (g, _) in support(lab[o], groups).items() if g < need] for o in tasks if o != k}
    rare = {o: r for o, r in rare.items() if r}
    if not rare:
        return
    n_classes = {o: len(np.unique(lab[o])) for o in rare}
    culprit = max(rare, key=lambda o: (len(rare[o]) / n_classes[o], n_classes[o]))
    sup = support(lab[culprit], groups)
    keep = [t for t in tasks if t != culprit and scoring(t) >= 2]
    example = ", ".join(f"{c!r}: {plural(sup[c][0], unit)}" for c in rare[culprit][:3])
    n = len(lab[culprit])
    idlike = (f" With {n_classes[culprit]} classes for {n} pieces it looks like an identifier, not a label."
              if n_classes[culprit] * 2 > n else "")
    raise TrainError(
        f"task {culprit!r} has {len(rare[culprit])} of {plural(len(sup), 'classes')} with fewer than "
        f"{plural(need, unit)} (e.g. {example}); dropping them leaves no piece for task {k!r}, which alone would "
        f"keep {plural(scoring(k), 'classes')}.{idlike} Is {culprit!r} a label? With dataset.labels.columns empty "
        f"every column (and every named group of a labels regex) is a task: name the label columns, e.g. "
        f"dataset.labels.columns=[{','.join(keep)}], or score one task with steps.train.task={k}.")


def outer_folds(y: np.ndarray, groups, n_splits: int, seed: int, repeats: int) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """(repeat, train indices, test indices) for every fold of every repeat."""
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    X = np.zeros(len(y))
    out = []
    for r in range(repeats):
        s = seed + r * REPEAT_STRIDE
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            if groups is not None:
                splits = StratifiedGroupKFold(n_splits, shuffle=True, random_state=s).split(X, y, groups)
            else:
                splits = StratifiedKFold(n_splits, shuffle=True, random_state=s).split(X, y)
            out.extend((r, tr, te) for tr, te in splits)
    return out


def inner_split(idx: np.ndarray, labels: list[np.ndarray], groups, val_size: float, seed: int):
    """Split an outer training part ``idx`` into inner train / validation.

    By groups (pieces without a group column), stratified per class of every task: every class
    with at least two groups in ``idx`` has groups on both sides; a class with one group stays
    in inner training (the model must see it; it cannot be validated). Fallback, when no group
    at all could go to validation (fewer than two groups of every class): a random share of
    the groups, so that early stopping still has data.
    """
    g = groups[idx] if groups is not None else idx.astype(str)
    rng = np.random.default_rng(seed)
    va = split_groups([y[idx] for y in labels], g, val_size, rng)
    if not va.any():
        u = np.unique(g)
        take = rng.permutation(u)[: max(1, int(round(val_size * len(u))))]
        va = np.isin(g, take)
        if va.all():
            va[:] = False
    return idx[~va], idx[va]
