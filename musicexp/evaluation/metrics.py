"""Metrics of one task, under two stated class conventions.

* **Pooled** (the headline): accuracy and macro-F1 of the out-of-fold predictions of all folds
  together, macro-F1 over the task's full class set. Averaging per-fold F1 instead is biased
  when folds lack classes (Forman and Scholz, SIGKDD Explorations 12(1), 2010).
* **Per fold** (for the paired tests across folds): macro-F1 over the classes present in that
  fold's test part, so a class missing from a fold is neither a free point nor a zero.
"""

from __future__ import annotations

import numpy as np

from musicexp.evaluation.statistics import macro_f1, macro_f1_present, sample_std


def fold_scores(y_true: np.ndarray, y_pred: np.ndarray) -> dict:
    """Accuracy and macro-F1 (classes present in ``y_true``) of one test fold."""
    return {"acc": float(np.mean(y_true == y_pred)), "f1": macro_f1_present(y_true, y_pred)}


def pooled_scores(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int, labels=None) -> dict:
    """Accuracy and macro-F1 over the classes 0 .. n_classes-1 (or ``labels``) of pooled predictions."""
    return {"acc": float(np.mean(y_true == y_pred)), "f1": macro_f1(y_true, y_pred, n_classes, labels)}


def summarise(per_fold: list[dict]) -> dict:
    """``<metric>_mean`` and ``<metric>_std`` (ddof=1) over folds for every metric of the folds."""
    return {f"{k}_{s}": float(f(np.array([x[k] for x in per_fold])))
            for k in per_fold[0] for s, f in (("mean", np.mean), ("std", sample_std))}


def confusion(y_true: np.ndarray, y_pred: np.ndarray, classes: np.ndarray) -> dict:
    """Counts and row-normalised rates (rows = true class) over ``classes``."""
    k = len(classes)
    cm = np.zeros((k, k))
    np.add.at(cm, (y_true, y_pred), 1)
    return {"classes": classes.tolist(), "row_normalised": (cm / np.maximum(cm.sum(1, keepdims=True), 1)).round(4).tolist(),
            "counts": cm.astype(int).tolist()}


def report(y_true: np.ndarray, y_pred: np.ndarray, classes: np.ndarray) -> str:
    """scikit-learn's classification report over every class of the task."""
    from sklearn.metrics import classification_report

    return classification_report(y_true, y_pred, labels=np.arange(len(classes)),
                                 target_names=[str(n) for n in classes], digits=3, zero_division=0)
