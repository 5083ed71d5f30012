"""The results records of a study: headline scores with intervals, baselines, the paired
comparison of the modes, the chance control and the held-out confirmation (one record per mode).

The headline (``score``) is the macro-F1 of the pooled out-of-fold predictions over each
task's full class set, averaged over tasks ("overall" with several tasks) and over repeats.
Its 95% interval is a percentile bootstrap that resamples whole groups (works) of the pooled
predictions. Per-fold scores (classes present in each test fold) feed the corrected
resampled t-test between modes; McNemar's test compares the pooled predictions of the first
repeat (the folds of ``seed`` itself).
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from musicexp.data.labels import derived_tasks
from musicexp.evaluation import metrics
from musicexp.evaluation import statistics as st
from musicexp.evaluation.protocol import ALPHA

INTERVAL = "95% percentile bootstrap over groups of the pooled out-of-fold predictions"


def headline(y: dict, pooled: list[dict], n_classes: dict, tasks: list[str], rows=None) -> float:
    """Pooled macro-F1 averaged over tasks and repeats (``rows``: a resample of the pieces)."""
    idx = slice(None) if rows is None else rows
    return float(np.mean([metrics.pooled_scores(y[k][idx], p[k][idx].argmax(1), n_classes[k])["f1"]
                          for p in pooled for k in tasks]))


def _metric(y: dict, preds: list[dict], n_classes: dict, tasks: list[str], what: str, labels: dict | None = None):
    """rows -> mean over tasks and repeats of pooled ``what`` (acc or f1) of label predictions
    (``labels``: per task, the classes the macro-F1 averages over; default all)."""
    lab = labels or {}

    def f(rows, _rows=None):
        return float(np.mean([metrics.pooled_scores(y[k][rows], p[k][rows], n_classes[k], lab.get(k))[what]
                              for p in preds for k in tasks]))
    return f


def replicates(y: dict, preds: list[dict], n_classes: dict, tasks: list[str], groups, what: str, seed: int,
               n_boot: int, labels: dict | None = None) -> tuple[float, np.ndarray]:
    """The mean over tasks and repeats of pooled ``what`` and its group bootstrap replicates, every
    replicate at once (the same draws and values as the replicate-by-replicate bootstrap of
    tests/bootstrap_reference.py with ``_metric``). The draws depend only on the pieces, groups, ``seed``
    and ``n_boot``: two modes' replicates are paired (the same works in each replicate).
    ``labels``: per task, the classes the macro-F1 averages over (default: all)."""
    n = len(next(iter(y.values())))
    lab = labels or {}

    counts = st.bootstrap_counts(n, groups, n_boot, seed)
    reps = np.mean([st.pooled_scores_weighted(y[k], p[k], n_classes[k], counts, lab.get(k))[what]
                    for p in preds for k in tasks], axis=0)
    return _metric(y, preds, n_classes, tasks, what, labels)(np.arange(n)), reps


def _method(groups) -> str:
    return "percentile bootstrap" if groups is None else "group percentile bootstrap"


def interval(y: dict, preds: list[dict], n_classes: dict, tasks: list[str], groups, what: str, seed: int,
             n_boot: int, labels: dict | None = None) -> st.Interval:
    """The 95% group bootstrap interval of :func:`replicates`."""
    return st.percentile_interval(*replicates(y, preds, n_classes, tasks, groups, what, seed, n_boot, labels), 0.95,
                                  _method(groups))


def folds_id(folds: list, pieces: list[str]) -> str:
    """Identity of the fold assignment (records are paired across configs only when it matches)."""
    h = hashlib.sha256()
    for r, _, te in folds:
        h.update(f"{r}:{','.join(sorted(pieces[i] for i in te))};".encode())
    return h.hexdigest()[:16]


def build(study, params) -> list[dict]:
    """One record per mode (see the module docstring for the conventions)."""
    tasks, n_classes, y = study.tasks, {k: len(c) for k, c in study.classes.items()}, study.y
    multi = len(tasks) > 1
    pre = (lambda k: f"{k}_") if multi else (lambda k: "")
    folds_total = len(study.folds)
    n_train = float(np.mean([len(tr) for _, tr, _ in study.folds]))
    n_test = float(np.mean([len(te) for _, _, te in study.folds]))
    preds = {m.name: [{k: p[m.name][k].argmax(1) for k in tasks} for p in study.proba] for m in study.modes}
    base = study.baseline
    seed, n_boot = params.seed, params.n_boot
    common = {
        "task": params.task, "tasks": tasks, "model": params.model, "n_splits": params.n_splits,
        "repeats": params.repeats, "n_folds": folds_total, "grouped": study.groups is not None,
        "stratified_on": study.plan["strat_name"], "n_pieces": len(study.pieces),
        "n_pieces_labelled": study.plan["n_labelled"], "min_class_count": study.plan["min_count"],
        "min_class_unit": study.plan["unit"], "dropped_classes": study.plan["dropped"],
        **{f"n_pieces_{k}": len(study.pieces) for k in tasks}, "class_weight": params.class_weight,
        "interval": INTERVAL, "folds_id": folds_id(study.folds, study.pieces),
        "fold_train_mean": n_train, "fold_test_mean": n_test,
        "derived_tasks": derived_tasks(y, tasks) if multi else {},
    }
    recs = []
    for mode in study.modes:
        m = mode.name
        rec: dict[str, Any] = {"mode": m, **common}
        for k in tasks:
            p = pre(k)
            for what in ("f1", "acc"):
                iv = interval({k: y[k]}, [{k: x[k]} for x in preds[m]], n_classes, [k], study.groups, what, seed,
                              n_boot)
                rec[f"{p}{what}"], rec[f"{p}{what}_low"], rec[f"{p}{what}_high"] = iv.estimate, iv.low, iv.high
                rec[f"{p}baseline_{what}"] = _metric({k: y[k]}, [{k: b[k]} for b in base], n_classes, [k],
                                                     what)(slice(None))
            rec.update({f"{p}{key}": v for key, v in metrics.summarise(study.fold_scores[m][k]).items()})
            rec[f"{p}n_classes"] = n_classes[k]
        if multi:
            for what in ("f1", "acc"):
                iv = interval(y, preds[m], n_classes, tasks, study.groups, what, seed, n_boot)
                rec[f"overall_{what}"], rec[f"overall_{what}_low"], rec[f"overall_{what}_high"] = \
                    iv.estimate, iv.low, iv.high
                rec[f"overall_baseline_{what}"] = _metric(y, base, n_classes, tasks, what)(slice(None))
            per_fold = [{q: float(np.mean([study.fold_scores[m][k][f][q] for k in tasks])) for q in ("acc", "f1")}
                        for f in range(folds_total)]
            rec.update({f"overall_{key}": v for key, v in metrics.summarise(per_fold).items()})
        head = "overall_" if multi else ""
        rec["score"], rec["score_low"], rec["score_high"] = (rec[f"{head}f1"], rec[f"{head}f1_low"],
                                                             rec[f"{head}f1_high"])
        rec["baseline_score"] = rec[f"{head}baseline_f1"]
        rec["guess_f1"] = float(np.mean([1 / n_classes[k] for k in tasks]))
        rec["fold_f1"] = [float(np.mean([study.fold_scores[m][k][f]["f1"] for k in tasks])) for f in range(folds_total)]
        if mode.kind == "late":
            for k in tasks:
                for b in mode.blocks:
                    rec[f"{k}_w_{b}_mean"] = float(np.mean([fi[f"w_{b}_{k}"] for fi in study.fold_info[m]]))
        if m in study.null:
            rec["chance_p"] = st.permutation_pvalue(rec["score"], study.null[m])
            rec["chance_n"] = len(study.null[m])
            rec["chance_mean"] = float(np.mean(study.null[m]))
        if study.holdout:
            _holdout_fields(rec, study, m, tasks, n_classes, pre, seed, n_boot)
        recs.append(rec)
    if study.control:
        _control_fields(recs, study, tasks, n_classes, pre, seed, n_boot)
    _compare(recs, study, preds, tasks, pre, n_train, n_test)
    _paired_intervals(recs, study, preds, tasks, n_classes, seed, n_boot)
    _reference(recs, study, preds, tasks, n_classes, n_train, n_test, seed, n_boot,
               reference_mode(params, [m.name for m in study.modes]))
    goal = params.objective or recs[0]["mode"]
    for rec in recs:  # the run's score (what a sweeper optimises): the objective mode's
        rec["objective"], rec["is_objective"] = goal, rec["mode"] == goal
    return recs


def _control_fields(recs: list[dict], study, tasks, n_classes, pre, seed: int, n_boot: int) -> None:
    """The metadata-only control, scored like the modes, beside each record: overall and per task
    with intervals, and per task the score of the control fitted on each metadata family alone
    (``<task>_metadata_f1_<family>``) and the family that scores best (``<task>_metadata_family``).
    ``<task>_metadata_close`` (per mode): on that task the control is informative (its interval
    lies above 1 / classes, the macro-F1 of guessing with the class frequencies) and reaches the
    lower end of the mode's interval; ``metadata_close``: so on any task."""
    preds = [{k: p[k].argmax(1) for k in tasks} for p in study.control["proba"]]
    iv = interval(study.y, preds, n_classes, tasks, study.groups, "f1", seed, n_boot)
    fams = {f: [{k: p[k].argmax(1) for k in tasks} for p in per_repeat]
            for f, per_repeat in study.control.get("families", {}).items()}
    shared: dict[str, Any] = {"metadata_score": iv.estimate, "metadata_score_low": iv.low, "metadata_score_high": iv.high}
    informative = {}
    for k in tasks:
        one = interval({k: study.y[k]}, [{k: x[k]} for x in preds], n_classes, [k], study.groups, "f1", seed, n_boot)
        shared[f"{pre(k)}metadata_f1"], shared[f"{pre(k)}metadata_f1_low"], shared[f"{pre(k)}metadata_f1_high"] = \
            one.estimate, one.low, one.high
        by_family = {f: _metric({k: study.y[k]}, [{k: x[k]} for x in fp], n_classes, [k], "f1")(slice(None))
                     for f, fp in fams.items()}
        shared.update({f"{pre(k)}metadata_f1_{f}": v for f, v in by_family.items()})
        shared[f"{pre(k)}metadata_family"] = max(by_family, key=by_family.get) if by_family else None
        informative[k] = one.low > 1 / n_classes[k]
    for rec in recs:
        rec.update(shared)
        for k in tasks:
            rec[f"{pre(k)}metadata_close"] = bool(informative[k]
                                                  and shared[f"{pre(k)}metadata_f1"] >= rec[f"{pre(k)}f1_low"])
        rec["metadata_close"] = any(rec[f"{pre(k)}metadata_close"] for k in tasks)


def _holdout_fields(rec: dict, study, m: str, tasks, n_classes, pre, seed: int, n_boot: int) -> None:
    """The held-out part's scores, its macro-F1 over the classes it holds (a class it lacks would
    count 0 on the CV's class set: a ceiling below 1 that says nothing of the model); the
    classes it lacks are named (``holdout_absent``), its works per class counted."""
    ho = study.holdout
    pred = [{k: ho["proba"][m][k].argmax(1) for k in tasks}]
    present = {k: np.unique(ho["y"][k]) for k in tasks}
    for k in tasks:
        scores = metrics.pooled_scores(ho["y"][k], pred[0][k], n_classes[k], present[k])
        rec[f"{pre(k)}holdout_f1"], rec[f"{pre(k)}holdout_acc"] = scores["f1"], scores["acc"]
    iv = interval(ho["y"], pred, n_classes, tasks, ho["groups"], "f1", seed, n_boot, present)
    rec["holdout_score"], rec["holdout_score_low"], rec["holdout_score_high"] = iv.estimate, iv.low, iv.high
    rec["n_holdout"] = len(ho["pieces"])
    works = ho["groups"] if ho["groups"] is not None else np.arange(len(ho["pieces"]))
    rec["holdout_works"] = {k: {str(study.classes[k][c]): int(len(np.unique(works[ho["y"][k] == c])))
                                for c in range(n_classes[k])} for k in tasks}
    rec["holdout_absent"] = {k: [str(study.classes[k][c]) for c in range(n_classes[k]) if c not in present[k]]
                             for k in tasks}


def _compare(recs: list[dict], study, preds: dict, tasks, pre, n_train: float, n_test: float) -> None:
    """Each mode against the best one (highest score): the difference, the corrected resampled
    t-test on the paired per-fold scores with its minimum detectable difference (80% power at
    ``ALPHA``) and its Holm-adjusted p-value over the run's comparisons with the best mode (what
    ``significant_vs_best`` follows), McNemar's test per task on the first repeat; and each mode
    against the metadata-only control on the same folds (difference, corrected t, Holm over the
    modes, minimum detectable difference)."""
    best = max(recs, key=lambda r: r["score"])
    if study.control:
        ctrl = [float(np.mean([study.control["fold_scores"][k][f]["f1"] for k in tasks]))
                for f in range(len(study.folds))]
        for rec in recs:
            rec["metadata_fold_f1"] = ctrl
            t = st.corrected_resampled_ttest(np.array(rec["fold_f1"]) - np.array(ctrl), n_train, n_test)
            rec["diff_to_control"] = rec["score"] - rec["metadata_score"]
            rec["p_t_vs_control"], rec["mdd_vs_control"] = t.p, st.min_detectable_difference(t.se, t.df, ALPHA)
    for rec in recs:
        rec["best_mode"] = best["mode"]
        rec["diff_to_best"] = rec["score"] - best["score"]
        if rec is best:
            rec["p_t_vs_best"] = rec["mdd_vs_best"] = None
            rec.update({f"{pre(k)}p_mcnemar_vs_best": None for k in tasks})
            continue
        diffs = np.array(rec["fold_f1"]) - np.array(best["fold_f1"])
        t = st.corrected_resampled_ttest(diffs, n_train, n_test)
        rec["p_t_vs_best"], rec["mdd_vs_best"] = t.p, st.min_detectable_difference(t.se, t.df, ALPHA)
        for k in tasks:
            yk = study.y[k]
            rec[f"{pre(k)}p_mcnemar_vs_best"] = st.mcnemar(preds[rec["mode"]][0][k] == yk,
                                                           preds[best["mode"]][0][k] == yk).p
    others = [r for r in recs if r is not best]
    for rec, adj in zip(others, st.holm([r["p_t_vs_best"] for r in others])):
        rec["p_t_vs_best_holm"] = float(adj)
        rec["significant_vs_best"] = bool(adj < ALPHA)
    best["p_t_vs_best_holm"] = None
    if study.control:
        for rec, adj in zip(recs, st.holm([r["p_t_vs_control"] for r in recs])):
            rec["p_t_vs_control_holm"] = float(adj)


def _paired_intervals(recs: list[dict], study, preds: dict, tasks, n_classes, seed: int, n_boot: int) -> None:
    """The 95% paired group bootstrap interval of each mode's pooled score minus the best mode's:
    both modes scored on the same resampled works in every replicate (``diff_to_best_low``,
    ``_high``). It answers how large the difference of the pooled scores is on works like these;
    the corrected t-test asks whether the per-fold scores differ beyond fold-to-fold noise."""
    best = next(r for r in recs if r["mode"] == r["best_mode"])
    _, ref = replicates(study.y, preds[best["mode"]], n_classes, tasks, study.groups, "f1", seed, n_boot)
    for rec in recs:
        if rec is best:
            rec["diff_to_best_low"] = rec["diff_to_best_high"] = None
            continue
        _, reps = replicates(study.y, preds[rec["mode"]], n_classes, tasks, study.groups, "f1", seed, n_boot)
        iv = st.percentile_interval(rec["diff_to_best"], reps - ref, 0.95, "paired " + _method(study.groups))
        rec["diff_to_best_low"], rec["diff_to_best_high"] = iv.low, iv.high


#: the mode that is the reference row when ``steps.train.reference`` is null and it is among the modes
REFERENCE = "stats_only"


def reference_mode(params, modes: list[str]) -> str | None:
    """The reference row of a run: ``steps.train.reference`` if set (one of the modes), else
    :data:`REFERENCE` when it is among the modes, else none."""
    ref = params.get("reference") if hasattr(params, "get") else getattr(params, "reference", None)
    if ref is None:
        return REFERENCE if REFERENCE in modes else None
    if ref not in modes:
        raise ValueError(f"steps.train.reference={ref!r} is not among the modes {modes}")
    return ref


def _reference(recs: list[dict], study, preds: dict, tasks, n_classes, n_train: float, n_test: float, seed: int,
               n_boot: int, reference: str | None) -> None:
    """Each mode against the reference mode (by default ``stats_only``: global note statistics,
    a plain reference point), as against the best mode: ``diff_to_reference`` with its 95% paired
    group bootstrap interval (``_low``, ``_high``: both modes scored on the same resampled works),
    the corrected resampled t-test on the paired per-fold scores (``p_t_vs_reference``) with its
    minimum detectable difference and its Holm adjustment over the modes compared with the
    reference (``p_t_vs_reference_holm``, ``significant_vs_reference``); with several tasks the
    same per task (``<task>_diff_to_reference`` ...; Holm over the modes, per task). The
    reference's own record holds None in these fields. No reference (no ``stats_only`` among the
    modes and ``steps.train.reference`` null): no field at all, the records are as before."""
    if reference is None:
        return
    for rec in recs:
        rec["reference_mode"] = reference
    ref = next(r for r in recs if r["mode"] == reference)
    others = [r for r in recs if r is not ref]
    scopes = [("", tasks)] + ([(f"{k}_", [k]) for k in tasks] if len(tasks) > 1 else [])
    for p, ks in scopes:
        y = {k: study.y[k] for k in ks}

        def labels(mode):
            return [{k: x[k] for k in ks} for x in preds[mode]]

        def fold_f1(mode):
            return np.array([float(np.mean([study.fold_scores[mode][k][f]["f1"] for k in ks]))
                             for f in range(len(study.folds))])

        _, ref_reps = replicates(y, labels(reference), n_classes, ks, study.groups, "f1", seed, n_boot)
        ref_score = ref["score"] if not p else ref[f"{p}f1"]
        ref_folds = fold_f1(reference)
        ref.update({f"{p}diff_to_reference": None, f"{p}diff_to_reference_low": None,
                    f"{p}diff_to_reference_high": None, f"{p}p_t_vs_reference": None,
                    f"{p}p_t_vs_reference_holm": None, f"{p}mdd_vs_reference": None,
                    f"{p}significant_vs_reference": None})
        for rec in others:
            diff = (rec["score"] if not p else rec[f"{p}f1"]) - ref_score
            _, reps = replicates(y, labels(rec["mode"]), n_classes, ks, study.groups, "f1", seed, n_boot)
            iv = st.percentile_interval(diff, reps - ref_reps, 0.95, "paired " + _method(study.groups))
            t = st.corrected_resampled_ttest(fold_f1(rec["mode"]) - ref_folds, n_train, n_test)
            rec[f"{p}diff_to_reference"] = diff
            rec[f"{p}diff_to_reference_low"], rec[f"{p}diff_to_reference_high"] = iv.low, iv.high
            rec[f"{p}p_t_vs_reference"] = t.p
            rec[f"{p}mdd_vs_reference"] = st.min_detectable_difference(t.se, t.df, ALPHA)
        for rec, adj in zip(others, st.holm([r[f"{p}p_t_vs_reference"] for r in others])):
            rec[f"{p}p_t_vs_reference_holm"] = float(adj)
            rec[f"{p}significant_vs_reference"] = bool(adj < ALPHA)


def artifact(study, recs: list[dict]) -> dict:
    """The train artifact's outputs: records, per-fold facts and scores, the out-of-fold
    probabilities of every repeat (and of the held-out part), confusion matrices and
    classification reports of the first repeat's pooled predictions."""
    preds: dict[str, np.ndarray] = {"piece": np.array(study.pieces, dtype=str)}
    fold = np.full((len(study.proba), len(study.pieces)), -1)
    for f, (r, _, te) in enumerate(study.folds):
        fold[r, te] = f
    preds["fold"] = fold
    confusion, reports = {}, {}
    for m in study.modes:
        for k in study.tasks:
            preds[f"{m.name}__{k}__proba"] = np.stack([p[m.name][k] for p in study.proba])
            pred = study.proba[0][m.name][k].argmax(1)
            confusion[f"{m.name}/{k}"] = metrics.confusion(study.y[k], pred, study.classes[k])
            reports[f"{m.name}/{k}"] = metrics.report(study.y[k], pred, study.classes[k])
            if study.holdout:
                preds[f"holdout__{m.name}__{k}__proba"] = study.holdout["proba"][m.name][k]
    if study.holdout:
        preds["holdout_piece"] = np.array(study.holdout["pieces"], dtype=str)
    folds = {m.name: {"folds": study.fold_info[m.name], **{k: study.fold_scores[m.name][k] for k in study.tasks}}
             for m in study.modes}
    return {"records": recs, "metrics": {"modes": folds, "chance": study.null}, "predictions": preds,
            "confusion": confusion, "reports": reports}
