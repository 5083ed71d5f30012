"""Metrics of one task: per-fold scores and their summary, confusion matrices, reports."""

from __future__ import annotations

import numpy as np


def scores(y_true: np.ndarray, y_pred: np.ndarray) -> dict:
    """Accuracy and macro-F1 of one fold."""
    from sklearn.metrics import accuracy_score, f1_score

    return {"acc": float(accuracy_score(y_true, y_pred)),
            "f1": float(f1_score(y_true, y_pred, average="macro", zero_division=0))}


def summarise(per_fold: list[dict]) -> dict:
    """``<metric>_mean`` and ``<metric>_std`` over folds for every metric of the folds."""
    out = {}
    for k in per_fold[0]:
        vals = np.array([f[k] for f in per_fold])
        out[f"{k}_mean"], out[f"{k}_std"] = float(vals.mean()), float(vals.std())
    return out


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
