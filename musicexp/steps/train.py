"""train: stratified (grouped) k-fold CV of the configured modes; per-fold metrics,
test-fold predictions, pooled row-normalised confusion matrices and classification reports.

Per fold, every data-fitted transform (vocabulary, scaler, PCA) is fitted on the inner
training part only; the inner validation part drives early stopping; the test fold is only
predicted. The majority class of the training fold is scored beside every result.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from musicexp.errors import UserError
from musicexp.features import Prep, SgtBlock

VERSION = "1"
DEPS = ("labels", "sgt")
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


def make_folds(strata: list[tuple[str, np.ndarray]], groups, n_splits: int, seed: int):
    """Outer folds, stratified on the first candidate whose smallest class fits n_splits."""
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    for name, y in strata:
        if np.unique(y, return_counts=True)[1].min() >= n_splits:
            break
    else:
        name, y = strata[-1]
        vals, cnt = np.unique(y, return_counts=True)
        raise TrainError(
            f"steps.train.n_splits={n_splits} is larger than the smallest class of {name!r} "
            f"({vals[cnt.argmin()]!r}: {cnt.min()} pieces); lower steps.train.n_splits."
        )
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


def _scores(y_true, y_pred) -> dict:
    from sklearn.metrics import accuracy_score, f1_score

    return {"acc": float(accuracy_score(y_true, y_pred)),
            "f1": float(f1_score(y_true, y_pred, average="macro", zero_division=0))}


def _summarise(per_fold: list[dict]) -> dict:
    out = {}
    for k in per_fold[0]:
        vals = np.array([f[k] for f in per_fold])
        out[f"{k}_mean"], out[f"{k}_std"] = float(vals.mean()), float(vals.std())
    return out


def run(inputs: dict[str, Any], cfg) -> tuple[dict, dict]:
    from musicexp.models import MODELS

    t, s = cfg.steps.train, cfg.steps.sgt
    lab = inputs["labels"]["labels"]
    tasks = resolve_tasks(t.task, inputs["labels"]["report"]["columns"])
    pieces = [str(p) for p in lab["piece"]]
    classes = {k: np.unique(lab[k]) for k in tasks}
    y = {k: np.searchsorted(classes[k], lab[k]) for k in tasks}
    groups = lab["group"] if (t.grouped and "group" in lab) else None
    joint = np.array(["|".join(v) for v in zip(*(lab[k] for k in tasks))])
    strata = ([("+".join(tasks), joint)] if len(tasks) > 1 else []) + [(k, lab[k]) for k in tasks]
    strat_name, strat_y, splits = make_folds(strata, groups, t.n_splits, cfg.seed)

    sgt = SgtBlock(inputs["sgt"], pieces, s.top_vocab, s.normalize.value, s.vocab.value)
    fit_predict = MODELS[t.model.value]
    n_classes = {k: len(classes[k]) for k in tasks}
    metrics, preds, confusion, records, reports = {}, {}, {}, [], {}
    fold_of = np.full(len(pieces), -1)
    for f, (_, te) in enumerate(splits):
        fold_of[te] = f
    for mode in (m.value for m in t.modes):
        fold_scores = {k: [] for k in tasks}
        base_scores = {k: [] for k in tasks}
        proba = {k: np.zeros((len(pieces), n_classes[k])) for k in tasks}
        info = []
        for f, (tr_out, te) in enumerate(splits):
            tr, va = inner_split(tr_out, strat_y, groups, t.val_size, cfg.seed + f)
            X = sgt.matrix(sgt.vocab(tr))  # vocabulary from the inner training part only
            X_tr, X_va, X_te = Prep(t.log1p, t.reduce.value, t.n_components, cfg.seed).fit_transform(X[tr], X[va], X[te])
            (p_te,), fit_info = fit_predict(
                X_tr, {k: y[k][tr] for k in tasks}, X_va, {k: y[k][va] for k in tasks},
                n_classes, [X_te], t, cfg.seed + f, cfg.deterministic_tf,
            )
            info.append({"fold": f, "n_train": len(tr), "n_val": len(va), "n_test": len(te),
                         "n_features": int(X.shape[1]), "n_inputs": int(X_tr.shape[1]), **fit_info})
            for k in tasks:
                proba[k][te] = p_te[k]
                fold_scores[k].append(_scores(y[k][te], p_te[k].argmax(1)))
                majority = np.bincount(y[k][tr_out], minlength=n_classes[k]).argmax()
                base_scores[k].append(_scores(y[k][te], np.full(len(te), majority)))
        metrics[mode] = {"folds": info}
        rec = {"mode": mode, "task": t.task, "tasks": tasks, "n_pieces": len(pieces), "n_splits": t.n_splits,
               "stratified_on": strat_name, "grouped": groups is not None, "model": t.model.value}
        overall = [{m: float(np.mean([fold_scores[k][f][m] for k in tasks])) for m in ("acc", "f1")}
                   for f in range(len(splits))]
        overall_base = [{m: float(np.mean([base_scores[k][f][m] for k in tasks])) for m in ("acc", "f1")}
                        for f in range(len(splits))]
        for k in tasks:
            summ, base = _summarise(fold_scores[k]), _summarise(base_scores[k])
            metrics[mode][k] = {"per_fold": fold_scores[k], **summ,
                                "baseline_acc_mean": base["acc_mean"], "baseline_f1_mean": base["f1_mean"]}
            prefix = f"{k}_" if len(tasks) > 1 else ""
            rec.update({f"{prefix}{m}": v for m, v in summ.items()})
            rec[f"{prefix}baseline_acc"], rec[f"{prefix}baseline_f1"] = base["acc_mean"], base["f1_mean"]
            rec[f"{prefix}n_classes"] = n_classes[k]
            pred = proba[k].argmax(1)
            preds[f"{mode}__{k}__proba"] = proba[k]
            cm = np.zeros((n_classes[k], n_classes[k]))
            np.add.at(cm, (y[k], pred), 1)
            confusion[f"{mode}/{k}"] = {
                "classes": classes[k].tolist(),
                "row_normalised": (cm / np.maximum(cm.sum(1, keepdims=True), 1)).round(4).tolist(),
                "counts": cm.astype(int).tolist(),
            }
            reports[f"{mode}/{k}"] = _report(y[k], pred, classes[k])
        if len(tasks) > 1:
            summ, base = _summarise(overall), _summarise(overall_base)
            rec.update({f"overall_{m}": v for m, v in summ.items()})
            rec["overall_baseline_acc"], rec["overall_baseline_f1"] = base["acc_mean"], base["f1_mean"]
        rec["score"] = rec["overall_f1_mean"] if len(tasks) > 1 else rec["f1_mean"]
        records.append(rec)
    preds["fold"] = fold_of
    preds["piece"] = np.array(pieces, dtype=str)
    outputs = {"records": records, "metrics": metrics, "predictions": preds, "confusion": confusion,
               "reports": reports}
    summary = {"score": records[0]["score"], "modes": [r["mode"] for r in records]}
    return outputs, summary


def _report(y_true, y_pred, names) -> str:
    from sklearn.metrics import classification_report

    return classification_report(y_true, y_pred, labels=np.arange(len(names)), target_names=[str(n) for n in names],
                                 digits=3, zero_division=0)
