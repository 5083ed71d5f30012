"""Classifiers behind one contract: fit on (X_train, labels per task) with an inner validation
split, return class probabilities per task for any other rows.

``mlp`` is the older pipeline's Keras multi-head MLP (docs/older-pipeline.md), written with ``keras``
only (no ``tf.*``) so that it runs under another Keras backend; ``logreg`` is a fast
scikit-learn baseline. TensorFlow is imported here and only here, on first use.
"""

from __future__ import annotations

import os

import numpy as np


def _keras(seed: int, deterministic: bool):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras

    keras.utils.set_random_seed(seed)
    if deterministic and keras.backend.backend() == "tensorflow":
        import tensorflow as tf  # determinism is a backend switch, not a model op

        tf.config.experimental.enable_op_determinism()
    return keras


def fit_predict_mlp(X_tr, Y_tr: dict, X_va, Y_va: dict, n_classes: dict, predict: list, tc, seed: int,
                    deterministic: bool, verbose: int = 0) -> tuple[list[dict], dict]:
    """Train the multi-head MLP with early stopping on val_loss; probabilities for ``predict``."""
    keras = _keras(seed, deterministic)
    from keras import layers

    heads = {task: f"head_{i}" for i, task in enumerate(n_classes)}
    inp = keras.Input(shape=(X_tr.shape[1],))
    x = inp
    for units in tc.hidden:
        x = layers.Dense(units, activation="relu")(x)
        x = layers.Dropout(tc.dropout)(x)
    outs = {}
    for task, name in heads.items():
        h = layers.Dense(tc.head_units, activation="relu")(x)
        h = layers.Dropout(tc.head_dropout)(h)
        outs[name] = layers.Dense(n_classes[task], activation="softmax", name=name)(h)
    model = keras.Model(inp, outs)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=tc.lr),
        loss={name: "sparse_categorical_crossentropy" for name in heads.values()},
    )
    balanced = tc.class_weight == "balanced"
    weights = (lambda Y: {heads[t]: balanced_weights(Y[t], n_classes[t]) for t in heads}) if balanced else (lambda Y: None)
    if len(X_va):
        stop = [keras.callbacks.EarlyStopping(monitor="val_loss", patience=tc.patience, restore_best_weights=True)]
        val = (X_va, {heads[t]: Y_va[t] for t in heads}) + ((weights(Y_va),) if balanced else ())
    else:  # no validation part (a tiny dataset): the full number of epochs, no early stopping
        stop, val = [], None
    hist = model.fit(
        X_tr, {heads[t]: Y_tr[t] for t in heads}, sample_weight=weights(Y_tr), validation_data=val,
        epochs=tc.epochs, batch_size=tc.batch_size, callbacks=stop, verbose=verbose, shuffle=True,
    )
    probs = []
    for X in predict:
        if not len(X):
            probs.append({t: np.zeros((0, n_classes[t])) for t in heads})
            continue
        out = model.predict(X, batch_size=256, verbose=0)
        probs.append({t: np.asarray(out[heads[t]], dtype=np.float64) for t in heads})
    keras.backend.clear_session()
    return probs, {"epochs": len(hist.history["loss"])}


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


def balanced_weights(y: np.ndarray, n_classes: int) -> np.ndarray:
    """Per-sample weights n / (classes present * class count), as scikit-learn's "balanced"."""
    counts = np.bincount(y, minlength=n_classes)
    present = int((counts > 0).sum())
    return (len(y) / (present * np.maximum(counts, 1)))[y].astype(np.float64)


MODELS = {"mlp": fit_predict_mlp, "logreg": fit_predict_logreg}
