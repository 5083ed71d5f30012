"""Cross-validation of the configured modes: per-fold metrics, pooled test-fold predictions,
confusion matrices, classification reports and the results records.

Per fold, every data-fitted transform (a block's vocabulary, the scaler, PCA, a late-fusion
weight) is fitted on the inner training part only; the inner validation part drives early
stopping and the fusion weights; the test fold is only predicted. The majority class of the
training fold is scored beside every result.
"""

from __future__ import annotations

import logging
from typing import Any, Mapping

import numpy as np

from musicexp.evaluation import metrics
from musicexp.evaluation.folds import inner_split, make_folds, plan, strata_for
from musicexp.evaluation.modes import combine, late_weights, parse
from musicexp.evaluation.prep import for_block
from musicexp.features import blocks as block_registry

log = logging.getLogger("musicexp")


def cross_validate(inputs: Mapping[str, Any], params, verbose: int = 0) -> tuple[dict, dict]:
    """The train step's outputs and summary for ``inputs`` (labels + the blocks' artifacts)."""
    from musicexp.evaluation.models import MODELS

    modes = [parse(m) for m in params.modes]
    lab_all = inputs["labels"]["labels"]
    pl = plan(lab_all, inputs["labels"]["report"]["columns"], params)
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
    groups = lab["group"] if (params.grouped and "group" in lab) else None
    strat_name, strat_y, splits = make_folds(strata_for(lab, tasks), groups, params.n_splits, params.seed)

    used = {b for m in modes for b in m.blocks}
    blocks = {b.name: (b, b.cls()(inputs[b.step], pieces, params.get(b.step, {})))
              for b in block_registry.blocks() if b.name in used}
    models = list(dict.fromkeys(x for m in modes for x in m.models()))
    fit_predict = MODELS[params.model]
    n_classes = {k: len(classes[k]) for k in tasks}
    names = [m.name for m in modes]
    proba = {m: {k: np.zeros((len(pieces), n_classes[k])) for k in tasks} for m in names}
    scores = {m: {k: [] for k in tasks} for m in names}
    base_scores = {k: [] for k in tasks}
    fold_info = {m: [] for m in names}
    fold_of = np.full(len(pieces), -1)
    for f, (tr_out, te) in enumerate(splits):
        fold_of[te] = f
        tr, va = inner_split(tr_out, strat_y, groups, params.val_size, params.seed + f)
        mats = {}  # every transform below is fitted on the inner training rows `tr` only
        for name, (spec, block) in blocks.items():
            X = block.matrix(tr)
            mats[name] = for_block(spec.prep, params, params.seed).fit_transform(X[tr], X[va], X[te])
        for mode in modes:
            if mode.kind == "early":
                mats[mode.models()[0]] = [np.hstack(parts) for parts in zip(*(mats[b] for b in mode.blocks))]
        out, info = {}, {"fold": f, "n_train": len(tr), "n_val": len(va), "n_test": len(te)}
        for name in models:
            X_tr, X_va, X_te = mats[name]
            (p_va, p_te), fit_info = fit_predict(
                X_tr, {k: y[k][tr] for k in tasks}, X_va, {k: y[k][va] for k in tasks},
                n_classes, [X_va, X_te], params, params.seed + f, params.deterministic_tf, verbose,
            )
            out[name] = (p_va, p_te)
            info[f"{name}_inputs"] = int(X_tr.shape[1])
            info.update({f"{name}_{k}": v for k, v in fit_info.items()})
        for k in tasks:
            majority = np.bincount(y[k][tr_out], minlength=n_classes[k]).argmax()
            base_scores[k].append(metrics.scores(y[k][te], np.full(len(te), majority)))
        for mode in modes:
            mi = dict(info)
            for k in tasks:
                if mode.kind == "late":
                    w = late_weights([out[b][0][k] for b in mode.blocks], y[k][va])
                    p = combine(w, [out[b][1][k] for b in mode.blocks])
                    mi.update({f"w_{b}_{k}": float(wb) for b, wb in zip(mode.blocks, w)})
                else:
                    p = out[mode.models()[0]][1][k]
                proba[mode.name][k][te] = p
                scores[mode.name][k].append(metrics.scores(y[k][te], p.argmax(1)))
            fold_info[mode.name].append(mi)

    metrics_out, preds, confusion, records, reports = {}, {}, {}, [], {}
    base = {k: metrics.summarise(base_scores[k]) for k in tasks}
    for mode in modes:
        m = mode.name
        metrics_out[m] = {"folds": fold_info[m]}
        rec = {"mode": m, "task": params.task, "tasks": tasks, "n_pieces": len(pieces), "n_splits": params.n_splits,
               "stratified_on": strat_name, "grouped": groups is not None, "model": params.model,
               "n_pieces_labelled": len(pl["keep"]), "min_class_count": pl["min_count"],
               **{f"n_pieces_{k}": pl["own"][k] for k in tasks}, "dropped_classes": dropped}
        for k in tasks:
            summ = metrics.summarise(scores[m][k])
            metrics_out[m][k] = {"per_fold": scores[m][k], **summ,
                                 "baseline_acc_mean": base[k]["acc_mean"], "baseline_f1_mean": base[k]["f1_mean"]}
            prefix = f"{k}_" if len(tasks) > 1 else ""
            rec.update({f"{prefix}{key}": v for key, v in summ.items()})
            rec[f"{prefix}baseline_acc"], rec[f"{prefix}baseline_f1"] = base[k]["acc_mean"], base[k]["f1_mean"]
            rec[f"{prefix}n_classes"] = n_classes[k]
            pred = proba[m][k].argmax(1)
            preds[f"{m}__{k}__proba"] = proba[m][k]
            confusion[f"{m}/{k}"] = metrics.confusion(y[k], pred, classes[k])
            reports[f"{m}/{k}"] = metrics.report(y[k], pred, classes[k])
        if len(tasks) > 1:
            def per_fold(sc):
                return [{q: float(np.mean([sc[k][f][q] for k in tasks])) for q in ("acc", "f1")}
                        for f in range(len(splits))]

            summ, bsum = metrics.summarise(per_fold(scores[m])), metrics.summarise(per_fold(base_scores))
            rec.update({f"overall_{key}": v for key, v in summ.items()})
            rec["overall_baseline_acc"], rec["overall_baseline_f1"] = bsum["acc_mean"], bsum["f1_mean"]
        if mode.kind == "late":
            for k in tasks:
                for b in mode.blocks:
                    rec[f"{k}_w_{b}_mean"] = float(np.mean([fi[f"w_{b}_{k}"] for fi in fold_info[m]]))
        rec["score"] = rec["overall_f1_mean"] if len(tasks) > 1 else rec["f1_mean"]
        records.append(rec)
    preds["fold"] = fold_of
    preds["piece"] = np.array(pieces, dtype=str)
    outputs = {"records": records, "metrics": metrics_out, "predictions": preds, "confusion": confusion,
               "reports": reports}
    summary = {"score": records[0]["score"], "pieces": len(pieces),
               "dropped_classes": sum(len(d) for d in dropped.values()), "modes": names}
    return outputs, summary
