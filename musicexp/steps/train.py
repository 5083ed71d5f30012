"""train: stratified (grouped) k-fold CV of the configured modes; per-fold metrics,
test-fold predictions, pooled row-normalised confusion matrices and classification reports.

Per fold, every data-fitted transform (vocabulary, scaler, PCA) is fitted on the inner
training part only; the inner validation part drives early stopping; the test fold is only
predicted. The majority class of the training fold is scored beside every result.

Classes with fewer than ``min_class_count`` pieces (default: ``n_splits``) are dropped first,
with a warning naming them and their sizes; :func:`plan` makes every check on the label
table alone (numpy only), so the pipeline runs it before any step as a pre-flight.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

from musicexp.errors import UserError
from musicexp.config import MODE_NEEDS

log = logging.getLogger("musicexp")

VERSION = "2"  # 2: rare classes dropped (min_class_count), kept counts in the record
DEPS = ("labels", "embed", "sgt")  # the most it reads; deps(cfg) gives what the modes need
ALL_TASKS = ("both", "all")


class TrainError(UserError):
    pass


def params(cfg) -> dict:
    t, s = cfg.steps.train, cfg.steps.sgt
    p = {k: t[k] for k in t if k != "verbose"}
    p.update(top_vocab=s.top_vocab, vocab=s.vocab, normalize=s.normalize)
    p.update(seed=cfg.seed, deterministic_tf=cfg.deterministic_tf)
    return p


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
    import numpy as np

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
    import numpy as np

    joint = np.array(["|".join(v) for v in zip(*(lab[k] for k in tasks))])
    return ([("+".join(tasks), joint)] if len(tasks) > 1 else []) + [(k, lab[k]) for k in tasks]


def pick_stratum(strata: list[tuple[str, np.ndarray]], n_splits: int) -> tuple[str, np.ndarray]:
    """The first candidate whose smallest class fits n_splits (numpy only)."""
    import numpy as np

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
    import numpy as np

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
    import numpy as np
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
    import numpy as np
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


def _scores(y_true, y_pred) -> dict:
    from sklearn.metrics import accuracy_score, f1_score

    return {"acc": float(accuracy_score(y_true, y_pred)),
            "f1": float(f1_score(y_true, y_pred, average="macro", zero_division=0))}


def _summarise(per_fold: list[dict]) -> dict:
    import numpy as np

    out = {}
    for k in per_fold[0]:
        vals = np.array([f[k] for f in per_fold])
        out[f"{k}_mean"], out[f"{k}_std"] = float(vals.mean()), float(vals.std())
    return out


def deps(cfg) -> tuple[str, ...]:
    """labels, plus the feature steps the configured modes read."""
    need = {d for m in cfg.steps.train.modes for d in MODE_NEEDS[m.value]}
    return ("labels",) + tuple(d for d in ("embed", "sgt") if d in need)


def _late_weight(p_emb: np.ndarray, p_sgt: np.ndarray, y_val: np.ndarray) -> float:
    """The w on 0.00, 0.05 ... 1.00 maximising validation macro-F1 of w*p_emb + (1-w)*p_sgt."""
    import numpy as np
    from sklearn.metrics import f1_score

    grid = np.round(np.arange(21) * 0.05, 2)
    scores = [f1_score(y_val, (w * p_emb + (1 - w) * p_sgt).argmax(1), average="macro", zero_division=0)
              for w in grid]
    return float(grid[int(np.argmax(scores))])


def run(inputs: dict[str, Any], cfg) -> tuple[dict, dict]:
    import numpy as np

    from musicexp.features import EmbBlock, Prep, SgtBlock
    from musicexp.models import MODELS

    t, s = cfg.steps.train, cfg.steps.sgt
    modes = [m.value for m in t.modes]
    lab_all = inputs["labels"]["labels"]
    pl = plan(lab_all, inputs["labels"]["report"]["columns"], t)
    tasks, dropped = pl["tasks"], pl["dropped"]
    if any(dropped.values()):
        log.warning(
            "steps.train.min_class_count=%d: dropped classes with fewer pieces (%s); %d of %d pieces kept",
            pl["min_count"], "; ".join(f"{k}: " + ", ".join(f"{c} ({n})" for c, n in d.items())
                                       for k, d in dropped.items() if d),
            int(pl["keep"].sum()), len(pl["keep"]))
    lab = {k: v[pl["keep"]] for k, v in lab_all.items()}
    pieces = [str(p) for p in lab["piece"]]
    classes = {k: np.unique(lab[k]) for k in tasks}
    y = {k: np.searchsorted(classes[k], lab[k]) for k in tasks}
    groups = lab["group"] if (t.grouped and "group" in lab) else None
    strat_name, strat_y, splits = make_folds(strata_for(lab, tasks), groups, t.n_splits, cfg.seed)

    need = {d for m in modes for d in MODE_NEEDS[m]}
    sgt = SgtBlock(inputs["sgt"], pieces, s.top_vocab, s.normalize.value, s.vocab.value) if "sgt" in need else None
    emb = EmbBlock(inputs["embed"], pieces) if "embed" in need else None
    models = {"sgt" for m in modes if m in ("sgt_only", "late_fusion")}
    models |= {"emb" for m in modes if m in ("emb_only", "late_fusion")}
    models |= {"early" for m in modes if m == "early_fusion"}
    fit_predict = MODELS[t.model.value]
    n_classes = {k: len(classes[k]) for k in tasks}
    proba = {m: {k: np.zeros((len(pieces), n_classes[k])) for k in tasks} for m in modes}
    scores = {m: {k: [] for k in tasks} for m in modes}
    base_scores = {k: [] for k in tasks}
    fold_info = {m: [] for m in modes}
    fold_of = np.full(len(pieces), -1)
    for f, (tr_out, te) in enumerate(splits):
        fold_of[te] = f
        tr, va = inner_split(tr_out, strat_y, groups, t.val_size, cfg.seed + f)
        blocks = {}  # every transform below is fitted on the inner training rows `tr` only
        if sgt is not None:
            X = sgt.matrix(sgt.vocab(tr))
            blocks["sgt"] = Prep(t.log1p, t.reduce.value, t.n_components, cfg.seed).fit_transform(X[tr], X[va], X[te])
        if emb is not None:
            E = emb.matrix()
            blocks["emb"] = Prep(False, "none", 0, cfg.seed).fit_transform(E[tr], E[va], E[te])
        if "early" in models:
            blocks["early"] = [np.hstack(parts) for parts in zip(blocks["sgt"], blocks["emb"])]
        out, info = {}, {"fold": f, "n_train": len(tr), "n_val": len(va), "n_test": len(te)}
        for name in sorted(models):
            X_tr, X_va, X_te = blocks[name]
            (p_va, p_te), fit_info = fit_predict(
                X_tr, {k: y[k][tr] for k in tasks}, X_va, {k: y[k][va] for k in tasks},
                n_classes, [X_va, X_te], t, cfg.seed + f, cfg.deterministic_tf,
            )
            out[name] = (p_va, p_te)
            info[f"{name}_inputs"] = int(X_tr.shape[1])
            info.update({f"{name}_{k}": v for k, v in fit_info.items()})
        for k in tasks:
            majority = np.bincount(y[k][tr_out], minlength=n_classes[k]).argmax()
            base_scores[k].append(_scores(y[k][te], np.full(len(te), majority)))
        for m in modes:
            mi = dict(info)
            for k in tasks:
                if m == "late_fusion":
                    w = _late_weight(out["emb"][0][k], out["sgt"][0][k], y[k][va])
                    p = w * out["emb"][1][k] + (1 - w) * out["sgt"][1][k]
                    mi[f"w_emb_{k}"] = w
                else:
                    p = out[{"sgt_only": "sgt", "emb_only": "emb", "early_fusion": "early"}[m]][1][k]
                proba[m][k][te] = p
                scores[m][k].append(_scores(y[k][te], p.argmax(1)))
            fold_info[m].append(mi)

    metrics, preds, confusion, records, reports = {}, {}, {}, [], {}
    base = {k: _summarise(base_scores[k]) for k in tasks}
    for m in modes:
        metrics[m] = {"folds": fold_info[m]}
        rec = {"mode": m, "task": t.task, "tasks": tasks, "n_pieces": len(pieces), "n_splits": t.n_splits,
               "stratified_on": strat_name, "grouped": groups is not None, "model": t.model.value,
               "n_pieces_labelled": len(pl["keep"]), "min_class_count": pl["min_count"],
               **{f"n_pieces_{k}": pl["own"][k] for k in tasks}, "dropped_classes": dropped}
        for k in tasks:
            summ = _summarise(scores[m][k])
            metrics[m][k] = {"per_fold": scores[m][k], **summ,
                             "baseline_acc_mean": base[k]["acc_mean"], "baseline_f1_mean": base[k]["f1_mean"]}
            prefix = f"{k}_" if len(tasks) > 1 else ""
            rec.update({f"{prefix}{key}": v for key, v in summ.items()})
            rec[f"{prefix}baseline_acc"], rec[f"{prefix}baseline_f1"] = base[k]["acc_mean"], base[k]["f1_mean"]
            rec[f"{prefix}n_classes"] = n_classes[k]
            pred = proba[m][k].argmax(1)
            preds[f"{m}__{k}__proba"] = proba[m][k]
            cm = np.zeros((n_classes[k], n_classes[k]))
            np.add.at(cm, (y[k], pred), 1)
            confusion[f"{m}/{k}"] = {
                "classes": classes[k].tolist(),
                "row_normalised": (cm / np.maximum(cm.sum(1, keepdims=True), 1)).round(4).tolist(),
                "counts": cm.astype(int).tolist(),
            }
            reports[f"{m}/{k}"] = _report(y[k], pred, classes[k])
        if len(tasks) > 1:
            per_fold = lambda sc: [{q: float(np.mean([sc[k][f][q] for k in tasks])) for q in ("acc", "f1")}  # noqa: E731
                                   for f in range(len(splits))]
            summ, bsum = _summarise(per_fold(scores[m])), _summarise(per_fold(base_scores))
            rec.update({f"overall_{key}": v for key, v in summ.items()})
            rec["overall_baseline_acc"], rec["overall_baseline_f1"] = bsum["acc_mean"], bsum["f1_mean"]
        if m == "late_fusion":
            for k in tasks:
                rec[f"{k}_w_emb_mean"] = float(np.mean([fi[f"w_emb_{k}"] for fi in fold_info[m]]))
        rec["score"] = rec["overall_f1_mean"] if len(tasks) > 1 else rec["f1_mean"]
        records.append(rec)
    preds["fold"] = fold_of
    preds["piece"] = np.array(pieces, dtype=str)
    outputs = {"records": records, "metrics": metrics, "predictions": preds, "confusion": confusion,
               "reports": reports}
    summary = {"score": records[0]["score"], "pieces": len(pieces),
               "dropped_classes": sum(len(d) for d in dropped.values()), "modes": modes}
    return outputs, summary


def _report(y_true, y_pred, names) -> str:
    import numpy as np
    from sklearn.metrics import classification_report

    return classification_report(y_true, y_pred, labels=np.arange(len(names)), target_names=[str(n) for n in names],
                                 digits=3, zero_division=0)
