"""Classifiers behind one contract: fit on (X_train, labels per task) with an inner validation
split, return class probabilities per task for any other rows.

``mlp`` is the older pipeline's Keras multi-head MLP (:mod:`.mlp`, TensorFlow imported on first
use); ``logreg`` is a fast scikit-learn baseline.
"""

from __future__ import annotations

import numpy as np


def fit_predict_logreg(X_tr, Y_tr: dict, X_va, Y_va: dict, n_classes: dict, predict: list, tc, seed: int,
                       deterministic: bool, verbose: int = 0) -> tuple[list[dict], dict]:
    """One multinomial logistic regression per task, fitted on the inner training part (the same
    rows as the MLP; it needs no validation part: that is for the fusion weights)."""
    from sklearn.linear_model import LogisticRegression

    probs = [{} for _ in predict]
    for task, k in n_classes.items():
        clf = LogisticRegression(C=tc.logreg_c, max_iter=2000, random_state=seed,
                                 class_weight="balanced" if tc.class_weight == "balanced" else None)
        present = np.unique(Y_tr[task])
        if len(present) > 1:
            clf.fit(X_tr, Y_tr[task])
        for out, X in zip(probs, predict):
            p = np.zeros((len(X), k))
            if len(present) > 1 and len(X):
                p[:, clf.classes_] = clf.predict_proba(X)
            elif len(present) == 1:  # one class in the training part (tiny data, shuffled labels)
                p[:, present] = 1.0
            out[task] = p
    return probs, {}


def fit_predict_mlp(*args, **kwargs) -> tuple[list[dict], dict]:
    from musicexp.evaluation import mlp  # TensorFlow on first use only

    return mlp.fit_predict(*args, **kwargs)


MODELS = {"mlp": fit_predict_mlp, "logreg": fit_predict_logreg}
