"""Cross-validation of the configured modes: repeated outer folds, a held-out part, a chance
control; the out-of-fold predictions and per-fold scores that :mod:`.records` summarises.

Per fold, every data-fitted transform (a block's vocabulary, the scaler, PCA, a late-fusion
weight) is fitted on the inner training part only; the inner validation part drives early
stopping and the fusion weights; the test fold is only predicted. The majority class of the
training fold is predicted beside every mode (the majority baseline).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from musicexp.evaluation import metrics
from musicexp.core.registry import Params
from musicexp.evaluation.folds import inner_split, outer_folds, plan, plural
from musicexp.evaluation.modes import Mode, combine, control, late_weights, parse
from musicexp.evaluation.prep import for_block
from musicexp.features import blocks as block_registry

log = logging.getLogger("musicexp")


@dataclass
class Study:
    """Everything one train step computed, for :mod:`.records` and the artifact."""

    modes: list[Mode]
    tasks: list[str]
    classes: dict[str, np.ndarray]
    y: dict[str, np.ndarray]  # class index per CV piece
    groups: np.ndarray | None  # of the CV pieces (None: pieces are independent)
    pieces: list[str]  # CV pieces
    folds: list[tuple[int, np.ndarray, np.ndarray]]  # (repeat, train, test) positions in `pieces`
    proba: list[dict]  # per repeat: mode -> task -> (n, classes) out-of-fold probabilities
    fold_scores: dict  # mode -> task -> [{"acc", "f1"} per fold]
    baseline: list[dict]  # per repeat: task -> out-of-fold majority-class predictions
    fold_info: dict  # mode -> [per-fold facts: sizes, epochs, fusion weights]
    holdout: dict = field(default_factory=dict)  # pieces, y, groups, proba: mode -> task -> probabilities
    null: dict = field(default_factory=dict)  # mode -> headline scores under shuffled labels
    control: dict = field(default_factory=dict)  # proba (per repeat: task -> probabilities), fold_scores
    plan: dict = field(default_factory=dict)


class Folds:
    """The feature matrices of the folds, built once and reused (e.g. by the chance control)."""

    def __init__(self, inputs: Mapping[str, Any], modes: list[Mode], pieces: list[str], params):
        used = {b for m in modes for b in m.blocks}
        self.blocks = {b.name: (b, b.cls()(inputs[b.step], pieces, params.get(b.step, {})))
                       for b in block_registry.blocks() if b.name in used}
        self.modes, self.params = modes, params

    def matrices(self, tr: np.ndarray, va: np.ndarray, te: np.ndarray) -> dict[str, list[np.ndarray]]:
        """model name -> [X_tr, X_va, X_te], every transform fitted on the rows ``tr``."""
        mats = {}
        for name, (spec, block) in self.blocks.items():
            X = block.matrix(tr)
            mats[name] = for_block(spec.prep, self.params, self.params.seed).fit_transform(X[tr], X[va], X[te])
        for mode in self.modes:
            if mode.kind == "early":
                mats[mode.models()[0]] = [np.hstack(parts) for parts in zip(*(mats[b] for b in mode.blocks))]
        return mats


def fit_modes(modes: list[Mode], mats: dict, y_tr: dict, y_va: dict, n_classes: dict, params, seed: int,
              verbose: int) -> tuple[dict, dict]:
    """Fit every model the modes need; per mode and task the test rows' probabilities, and facts."""
    from musicexp.evaluation.models import MODELS

    fit_predict = MODELS[params.model]
    out, info = {}, {}
    for name in dict.fromkeys(x for m in modes for x in m.models()):
        X_tr, X_va, X_te = mats[name]
        (p_va, p_te), fit_info = fit_predict(X_tr, y_tr, X_va, y_va, n_classes, [X_va, X_te], params, seed,
                                             params.deterministic_tf, verbose)
        out[name] = (p_va, p_te)
        info[f"{name}_inputs"] = int(X_tr.shape[1])
        info.update({f"{name}_{k}": v for k, v in fit_info.items()})
    probs: dict[str, dict] = {}
    per_mode = {}
    for mode in modes:
        mi, probs[mode.name] = {}, {}
        for k in n_classes:
            if mode.kind == "late":
                w = late_weights([out[b][0][k] for b in mode.blocks], y_va[k])
                probs[mode.name][k] = combine(w, [out[b][1][k] for b in mode.blocks])
                mi.update({f"w_{b}_{k}": float(wb) for b, wb in zip(mode.blocks, w)})
            else:
                probs[mode.name][k] = out[mode.models()[0]][1][k]
        per_mode[mode.name] = {**info, **mi}
    return probs, per_mode


def cross_validate(inputs: Mapping[str, Any], params, verbose: int = 0, progress: bool = False) -> Study:
    """Repeated CV of the configured modes on the labelled pieces (see the module docstring)."""
    modes = [parse(m) for m in params.modes]
    lab_all = inputs["labels"]["labels"]
    pl = plan(lab_all, inputs["labels"]["report"]["columns"], params)
    tasks, dropped = pl["tasks"], pl["dropped"]
    if any(dropped.values()):
        log.warning(
            "steps.train.min_class_count=%d: dropped classes with fewer %s (%s); %d of %d pieces kept",
            pl["min_count"], pl["unit"],
            "; ".join(f"{k}: " + ", ".join(f"{c} ({plural(d['groups'], 'groups')}, {plural(d['pieces'], 'pieces')})"
                                           if pl["unit"] == "groups" else f"{c} ({plural(d['pieces'], 'pieces')})"
                                           for c, d in dd.items())
                      for k, dd in dropped.items() if dd),
            int((pl["cv"] | pl["holdout"]).sum()), len(pl["cv"]))
    use = pl["cv"] | pl["holdout"]
    pieces_all = [str(p) for p in lab_all["piece"][use]]
    cv_pos, ho_pos = np.flatnonzero(pl["cv"][use]), np.flatnonzero(pl["holdout"][use])
    classes = {k: np.unique(lab_all[k][pl["cv"]]) for k in tasks}
    y_all = {k: np.searchsorted(classes[k], lab_all[k][use]) for k in tasks}
    n_classes = {k: len(classes[k]) for k in tasks}
    groups_all = lab_all["group"][use] if pl["groups"] is not None else None
    ctrl = control() if params.metadata_control else None
    folds = Folds(inputs, modes + ([ctrl] if ctrl else []), pieces_all, params)
    ctrl_params = Params({**params.plain(), "model": "logreg"}, "steps.train (metadata control)")

    y = {k: v[cv_pos] for k, v in y_all.items()}
    groups = pl["groups"]
    splits = outer_folds(pl["strat_y"], groups, params.n_splits, params.seed, params.repeats)
    names = [m.name for m in modes]
    proba = [{m: {k: np.zeros((len(cv_pos), n_classes[k])) for k in tasks} for m in names}
             for _ in range(params.repeats)]
    baseline = [{k: np.zeros(len(cv_pos), dtype=np.int64) for k in tasks} for _ in range(params.repeats)]
    scores = {m: {k: [] for k in tasks} for m in names}
    fold_info = {m: [] for m in names}
    ctrl_proba = [{k: np.zeros((len(cv_pos), n_classes[k])) for k in tasks} for _ in range(params.repeats)]
    ctrl_scores = {k: [] for k in tasks}
    ctrl_family = {}  # family -> per repeat: task -> probabilities of the control fitted on that family alone
    stored = []  # the chance control refits on the same matrices (repeat 0)
    bar = _bar(len(splits) + bool(pl["holdout"].any()) + params.permutations, progress)
    for f, (r, tr_out, te) in enumerate(splits):
        bar.set_postfix_str(f"repeat {r + 1}, fold {f % params.n_splits + 1}")
        seed = params.seed + f  # the models' seed (fold f of all repeats)
        tr, va = inner_split(tr_out, [y[k] for k in tasks], groups, params.val_size, seed)
        mats = folds.matrices(cv_pos[tr], cv_pos[va], cv_pos[te])
        probs, info = fit_modes(modes, mats, {k: y[k][tr] for k in tasks}, {k: y[k][va] for k in tasks},
                                n_classes, params, seed, verbose)
        if ctrl is not None:  # logistic regression on the metadata, same rows, every task
            cp, _ = fit_modes([ctrl], mats, {k: y[k][tr] for k in tasks}, {k: y[k][va] for k in tasks}, n_classes,
                              ctrl_params, seed, verbose)
            for k in tasks:
                ctrl_proba[r][k][te] = cp[ctrl.name][k]
                ctrl_scores[k].append(metrics.fold_scores(y[k][te], cp[ctrl.name][k].argmax(1)))
            for fam, fp in _control_families(folds, ctrl, mats, cv_pos[tr], {k: y[k][tr] for k in tasks},
                                             {k: y[k][va] for k in tasks}, n_classes, ctrl_params, seed,
                                             verbose).items():
                per_repeat = ctrl_family.setdefault(fam, [{k: np.zeros((len(cv_pos), n_classes[k])) for k in tasks}
                                                          for _ in range(params.repeats)])
                for k in tasks:
                    per_repeat[r][k][te] = fp[k]
        for k in tasks:
            baseline[r][k][te] = np.bincount(y[k][tr_out], minlength=n_classes[k]).argmax()
        for m in names:
            for k in tasks:
                proba[r][m][k][te] = probs[m][k]
                scores[m][k].append(metrics.fold_scores(y[k][te], probs[m][k].argmax(1)))
            fold_info[m].append({"repeat": r, "fold": f, "n_train": len(tr), "n_val": len(va), "n_test": len(te),
                                 "n_train_outer": len(tr_out), **info[m]})
        if params.permutations and r == 0:
            stored.append((tr, va, te, mats, seed))
        bar.update()

    study = Study(modes, tasks, classes, y, groups, [pieces_all[i] for i in cv_pos], splits, proba, scores,
                  baseline, fold_info, plan={**pl, "n_labelled": len(pl["cv"])},
                  control={"proba": ctrl_proba, "fold_scores": ctrl_scores, "families": ctrl_family}
                  if ctrl is not None else {})
    if len(ho_pos):
        bar.set_postfix_str("held-out part")
        study.holdout = _holdout(folds, modes, tasks, y_all, groups_all, cv_pos, ho_pos, n_classes, params, verbose)
        study.holdout["pieces"] = [pieces_all[i] for i in ho_pos]
        bar.update()
    if params.permutations:
        study.null = _chance(stored, modes, tasks, y, groups, n_classes, params, verbose, bar)
    bar.close()
    return study


def _control_families(folds: Folds, ctrl: Mode, mats: dict, train_rows: np.ndarray, y_tr: dict, y_va: dict,
                      n_classes: dict, params, seed: int, verbose: int) -> dict[str, dict]:
    """The control refitted on each metadata family's columns alone (same rows, same model):
    family -> task -> the test rows' probabilities. A family without columns in this fold (a
    signature set that is empty after ``dataset.neutralize``) predicts the training majority."""
    block = folds.blocks[ctrl.blocks[0]][1]
    families = getattr(block, "families", None)
    if families is None:
        return {}
    name = ctrl.models()[0]
    out = {}
    for fam, cols in families(train_rows).items():
        if len(cols):
            sub = {name: [X[:, cols] for X in mats[name]]}
            out[fam] = fit_modes([ctrl], sub, y_tr, y_va, n_classes, params, seed, verbose)[0][ctrl.name]
        else:
            n_te = len(mats[name][2])
            out[fam] = {k: np.tile(np.eye(n_classes[k])[np.bincount(y_tr[k], minlength=n_classes[k]).argmax()],
                                   (n_te, 1)) for k in y_tr}
    return out


def _bar(total: int, progress: bool):
    """A progress bar over the folds (stdout, so log lines and bars share it cleanly)."""
    import sys

    from tqdm import tqdm

    return tqdm(total=total, desc="train", unit="fit", leave=False, disable=not progress, file=sys.stdout)


def _holdout(folds: Folds, modes, tasks, y_all, groups_all, cv_pos, ho_pos, n_classes, params, verbose) -> dict:
    """Every mode fitted on all CV pieces (inner split for early stopping and fusion weights),
    predicted once on the held-out part."""
    y_cv = [y_all[k][cv_pos] for k in tasks]
    tr, va = inner_split(np.arange(len(cv_pos)), y_cv, None if groups_all is None else groups_all[cv_pos],
                         params.val_size, params.seed)
    mats = folds.matrices(cv_pos[tr], cv_pos[va], ho_pos)
    probs, _ = fit_modes(modes, mats, {k: y_all[k][cv_pos][tr] for k in tasks},
                         {k: y_all[k][cv_pos][va] for k in tasks}, n_classes, params, params.seed, verbose)
    return {"y": {k: y_all[k][ho_pos] for k in tasks}, "proba": probs,
            "groups": None if groups_all is None else groups_all[ho_pos]}


def _chance(stored: list, modes, tasks, y, groups, n_classes, params, verbose, bar) -> dict:
    """The chance control: the headline of every mode with the labels shuffled among the groups
    (rows of all tasks together), on the same folds and matrices (repeat 0), N times."""
    from musicexp.evaluation.records import headline
    from musicexp.evaluation.statistics import shuffle_labels

    Y = np.stack([y[k] for k in tasks], axis=1)
    null: dict[str, list[float]] = {m.name: [] for m in modes}
    for p in range(params.permutations):
        Yp = shuffle_labels(Y, groups, np.random.default_rng([params.seed, p]))
        yp = {k: Yp[:, i] for i, k in enumerate(tasks)}
        pooled = {m.name: {k: np.zeros((len(Y), n_classes[k])) for k in tasks} for m in modes}
        for tr, va, te, mats, seed in stored:
            probs, _ = fit_modes(modes, mats, {k: yp[k][tr] for k in tasks}, {k: yp[k][va] for k in tasks},
                                 n_classes, params, seed, verbose)
            for m in pooled:
                for k in tasks:
                    pooled[m][k][te] = probs[m][k]
        for m in pooled:
            null[m].append(headline(yp, [pooled[m]], n_classes, tasks))
        bar.set_postfix_str(f"chance control {p + 1}/{params.permutations}")
        bar.update()
    return null
