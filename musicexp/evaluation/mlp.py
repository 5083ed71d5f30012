"""The older pipeline's multi-head MLP (docs/older-pipeline.md), defined in Keras, trained two
ways under one protocol: Adam, shuffled mini-batches, dropout, early stopping on the inner
validation loss with the best epoch's weights restored.

``compiled`` (the default) runs a whole fit inside one TensorFlow graph: the data stay
in-memory tensors; epochs, batches, the validation loss and the early-stopping test are graph
loops and conditions, so Python runs once per fit, not once per batch. The graph is traced once
per architecture (inputs, heads, layer sizes) and reused by every fold, mode, repeat and chance
refit of the process: each fit first resets the weights (Keras' Glorot-uniform / zeros), the
optimizer's moments and the dropout seeds from its own seed, so a fit's result depends on its
data and seed only, not on what the process trained before. Inputs are zero-padded to a multiple
of 256 columns (``WIDTH``), so the default modes' inputs (64, 100, 164 columns) share one graph:
the padded columns' weights start at zero and get zero gradients, so Adam never moves them and
the model is the unpadded one (the Glorot limit uses the real number of inputs).

``keras_fit`` is plain ``keras.Model.fit`` with an ``EarlyStopping`` callback, as the older
pipeline trained; it uses ``keras`` only and so also runs under another Keras backend. Both
compute the same loss: the sum over heads of the sparse categorical cross-entropy, each the
mean over the batch of the sample-weighted losses (Keras' ``sum_over_batch_size``), plus
``weight_decay`` times the sum of the squared kernel weights (Keras' L2 kernel regularizer).
Early stopping watches the validation loss, or with ``monitor=f1`` the validation macro-F1.

TensorFlow is imported here and only here, on first use (a cached run never imports it).
"""

from __future__ import annotations

import math
import os

import numpy as np


def _keras(seed: int | None, deterministic: bool):
    """keras, imported; with a ``seed``, Python's, numpy's and the backend's global seeds set (the
    compiled trainer passes none: its randomness is all its own, and setting TensorFlow's global
    seed between calls makes a traced graph run 3x slower)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras

    if seed is not None:
        keras.utils.set_random_seed(seed)
    if deterministic and keras.backend.backend() == "tensorflow":
        import tensorflow as tf  # determinism is a backend switch, not a model op

        tf.config.experimental.enable_op_determinism()
    return keras


def weight_decay(tc) -> float:
    """The L2 coefficient on every Dense kernel (``steps.train.weight_decay``; 0: none, as before)."""
    return float(getattr(tc, "weight_decay", 0.0) or 0.0)


def monitor(tc) -> str:
    """What early stopping watches on the validation part: ``loss`` (as before) or ``f1``."""
    return str(getattr(tc, "monitor", "loss") or "loss")


def build(keras, n_in: int, n_classes: list[int], tc):
    """The model: Dense relu + Dropout per hidden layer, then per task Dense relu + Dropout +
    softmax (output ``head_<i>``); with ``weight_decay`` an L2 penalty on every kernel."""
    from keras import layers

    wd = weight_decay(tc)
    reg = (lambda: keras.regularizers.L2(wd)) if wd > 0 else (lambda: None)
    inp = keras.Input(shape=(n_in,))
    x = inp
    for units in tc.hidden:
        x = layers.Dense(units, activation="relu", kernel_regularizer=reg())(x)
        x = layers.Dropout(tc.dropout)(x)
    outs = {}
    for i, k in enumerate(n_classes):
        h = layers.Dense(tc.head_units, activation="relu", kernel_regularizer=reg())(x)
        h = layers.Dropout(tc.head_dropout)(h)
        outs[f"head_{i}"] = layers.Dense(k, activation="softmax", kernel_regularizer=reg(), name=f"head_{i}")(h)
    return keras.Model(inp, outs)


def sample_weights(Y: dict, n_classes: dict, balanced: bool) -> np.ndarray:
    """(rows, tasks) per-sample weights: scikit-learn's "balanced" per task, or ones."""
    n = len(next(iter(Y.values())))
    if not balanced:
        return np.ones((n, len(n_classes)), dtype=np.float32)
    return np.stack([balanced_weights(Y[t], k) for t, k in n_classes.items()], axis=1).astype(np.float32)


def balanced_weights(y: np.ndarray, n_classes: int) -> np.ndarray:
    """Per-sample weights n / (classes present * class count), as scikit-learn's "balanced"."""
    counts = np.bincount(y, minlength=n_classes)
    present = int((counts > 0).sum())
    return (len(y) / (present * np.maximum(counts, 1)))[y].astype(np.float64)


WIDTH = 256  # inputs are zero-padded to a multiple of this (one traced graph for the default modes)


class Compiled:
    """One architecture's model, optimizer and traced fit / predict graphs (see the module
    docstring), for inputs of up to ``n_in`` columns. ``fit`` is a pure function of (data, seed)."""

    def __init__(self, keras, n_in: int, n_classes: list[int], tc):
        import tensorflow as tf

        self.tf, self.batch_size, self.n_in = tf, int(tc.batch_size), n_in
        self.model = build(keras, n_in, n_classes, tc)
        self.vars = self.model.trainable_variables
        self.opt = keras.optimizers.Adam(learning_rate=tc.lr)
        self.opt.build(self.vars)
        # the optimizer's state, reset per fit (its learning rate is a variable too: kept)
        self.opt_state = [v for v in self.opt.variables if v is not self.opt.learning_rate]
        self.dropout_seeds = [layer.seed_generator.state for layer in self.model.layers  # (none at rate 0)
                              if isinstance(layer, keras.layers.Dropout) and hasattr(layer, "seed_generator")]
        self.best = [tf.Variable(tf.zeros_like(v), trainable=False) for v in self.vars]
        self.heads = [f"head_{i}" for i in range(len(n_classes))]
        self.n_classes, self.wd, self.monitor = list(n_classes), weight_decay(tc), monitor(tc)
        self.kernels = [v for v in self.vars if len(v.shape) == 2]
        self.xent = keras.losses.sparse_categorical_crossentropy
        f32, i32 = tf.float32, tf.int32
        T = len(n_classes)
        data = [tf.TensorSpec([None, n_in], f32), tf.TensorSpec([None, T], i32), tf.TensorSpec([None, T], f32)]
        self._fit = tf.function(self._fit_graph, input_signature=data + data + [
            tf.TensorSpec([None, None], i32), tf.TensorSpec([], i32)])
        self._predict = tf.function(lambda X: self.model(X, training=False),
                                    input_signature=[tf.TensorSpec([None, n_in], f32)])

    def _loss(self, X, Y, W, training: bool):
        tf = self.tf
        out = self.model(X, training=training)
        n = tf.cast(tf.shape(X)[0], tf.float32)
        loss = tf.add_n([tf.reduce_sum(W[:, t] * self.xent(Y[:, t], out[h])) / n for t, h in enumerate(self.heads)])
        if self.wd > 0:  # Keras' L2 kernel regularizer: wd * sum of squares, in every loss it reports
            loss += self.wd * tf.add_n([tf.reduce_sum(tf.square(k)) for k in self.kernels])
        return loss

    def _val_f1(self, X, Y):
        """Macro-F1 of the validation rows (over the classes they hold), averaged over heads."""
        tf = self.tf
        out = self.model(X, training=False)
        f1s = []
        for t, (h, k) in enumerate(zip(self.heads, self.n_classes)):
            cm = tf.cast(tf.math.confusion_matrix(Y[:, t], tf.argmax(out[h], axis=1, output_type=tf.int32),
                                                  num_classes=k), tf.float32)
            tp, support, predicted = tf.linalg.diag_part(cm), tf.reduce_sum(cm, 1), tf.reduce_sum(cm, 0)
            f1 = tf.math.divide_no_nan(2.0 * tp, support + predicted)
            present = tf.cast(support > 0, tf.float32)
            f1s.append(tf.math.divide_no_nan(tf.reduce_sum(f1 * present), tf.reduce_sum(present)))
        return tf.add_n(f1s) / len(f1s)

    def _val_score(self, Xv, Yv, Wv):
        """What early stopping minimises: the validation loss, or minus the validation macro-F1."""
        if self.monitor == "f1":
            return -self._val_f1(Xv, Yv)
        return self._loss(Xv, Yv, Wv, False)

    def _fit_graph(self, X, Y, W, Xv, Yv, Wv, order, patience):
        """Epochs over the rows in ``order[e]`` (one permutation per epoch), batch by batch;
        then early stopping exactly as Keras' EarlyStopping(restore_best_weights=True) on the
        validation loss (or, ``monitor=f1``, on minus the validation macro-F1)."""
        tf, bs = self.tf, self.batch_size
        n = tf.shape(X)[0]
        has_val = tf.shape(Xv)[0] > 0
        best, wait, ran = tf.constant(math.inf), tf.constant(0), tf.constant(0)
        for e in tf.range(tf.shape(order)[0]):
            for b in tf.range((n + bs - 1) // bs):
                idx = order[e, b * bs:tf.minimum((b + 1) * bs, n)]
                with tf.GradientTape() as tape:
                    loss = self._loss(tf.gather(X, idx), tf.gather(Y, idx), tf.gather(W, idx), True)
                self.opt.apply_gradients(zip(tape.gradient(loss, self.vars), self.vars))
            ran = e + 1
            if has_val:
                val = self._val_score(Xv, Yv, Wv)
                wait += 1
                if val < best or e == 0:  # Keras keeps the first epoch's weights even if its loss is NaN
                    for keep, v in zip(self.best, self.vars):
                        keep.assign(v)
                if val < best:
                    best, wait = val, tf.constant(0)
                elif wait >= patience and e > 0:
                    break
        if has_val:
            for keep, v in zip(self.best, self.vars):
                v.assign(keep)
        return ran

    def reset(self, rng: np.random.Generator, n_in: int) -> None:
        """Fresh weights as Keras initialises Dense layers for ``n_in`` inputs (the padding's rows
        zero), zero optimizer state, new dropout seeds."""
        for i, v in enumerate(self.vars):
            w = np.zeros(tuple(v.shape), np.float32)
            if w.ndim == 2:  # Glorot uniform over the real fan-in
                fan_in = n_in if i == 0 else w.shape[0]
                lim = math.sqrt(6.0 / (fan_in + w.shape[1]))
                w[:fan_in] = rng.uniform(-lim, lim, (fan_in, w.shape[1]))
            v.assign(w)
        for v in self.opt_state:
            v.assign(np.zeros(tuple(v.shape), v.dtype))
        for s in self.dropout_seeds:
            s.assign(np.array([rng.integers(2**31), 0], dtype=np.int64))

    def pad(self, X) -> np.ndarray:
        out = np.zeros((len(X), self.n_in), np.float32)
        out[:, :X.shape[1]] = X
        return out

    def fit(self, X, Y, W, Xv, Yv, Wv, epochs: int, patience: int, seed: int, shuffle: bool = True) -> int:
        """Train from fresh state; the number of epochs run. ``shuffle=False``: the rows in their
        order every epoch (as ``keras.Model.fit(shuffle=False)``)."""
        rng = np.random.default_rng(seed)
        self.reset(rng, X.shape[1])
        order = np.stack([rng.permutation(len(X)) if shuffle else np.arange(len(X)) for _ in range(epochs)])
        return int(self._fit(self.pad(X), Y.astype(np.int32), W, self.pad(Xv), Yv.astype(np.int32), Wv,
                             order.astype(np.int32), np.int32(patience)))

    def predict(self, X) -> list[np.ndarray]:
        out = self._predict(self.pad(X))
        return [np.asarray(out[h], dtype=np.float64) for h in self.heads]


_COMPILED: dict[tuple, Compiled] = {}  # one per architecture, for the life of the process


def compiled_for(keras, n_in: int, n_classes: list[int], tc) -> Compiled:
    n_in = WIDTH * max(1, math.ceil(n_in / WIDTH))
    key = (n_in, tuple(n_classes), tuple(tc.hidden), tc.dropout, tc.head_units, tc.head_dropout, tc.lr,
           tc.batch_size, weight_decay(tc), monitor(tc))
    if key not in _COMPILED:
        _COMPILED[key] = Compiled(keras, n_in, n_classes, tc)
    return _COMPILED[key]


def fit_predict(X_tr, Y_tr: dict, X_va, Y_va: dict, n_classes: dict, predict: list, tc, seed: int,
                deterministic: bool, verbose: int = 0) -> tuple[list[dict], dict]:
    """Train the multi-head MLP with early stopping on the validation loss (no validation rows:
    every epoch, no early stopping); class probabilities per task for each of ``predict``."""
    tasks, balanced = list(n_classes), tc.class_weight == "balanced"
    if tc.trainer == "keras_fit":
        return _keras_fit(_keras(seed, deterministic), X_tr, Y_tr, X_va, Y_va, n_classes, predict, tc, balanced, verbose)
    net = compiled_for(_keras(None, deterministic), X_tr.shape[1], [n_classes[t] for t in tasks], tc)
    epochs = net.fit(X_tr, np.stack([Y_tr[t] for t in tasks], axis=1), sample_weights(Y_tr, n_classes, balanced),
                     X_va, np.stack([Y_va[t] for t in tasks], axis=1), sample_weights(Y_va, n_classes, balanced),
                     tc.epochs, tc.patience, seed)
    probs = []
    for X in predict:
        heads = net.predict(X) if len(X) else [np.zeros((0, n_classes[t])) for t in tasks]
        probs.append(dict(zip(tasks, heads)))
    return probs, {"epochs": epochs}


def _keras_fit(keras, X_tr, Y_tr, X_va, Y_va, n_classes, predict, tc, balanced, verbose):
    heads = {task: f"head_{i}" for i, task in enumerate(n_classes)}
    model = build(keras, X_tr.shape[1], list(n_classes.values()), tc)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=tc.lr),
                  loss={name: "sparse_categorical_crossentropy" for name in heads.values()})
    weights = (lambda Y: {heads[t]: balanced_weights(Y[t], n_classes[t]) for t in heads}) if balanced else (lambda Y: None)
    if len(X_va):
        stop = [keras.callbacks.EarlyStopping(monitor="val_loss", patience=tc.patience, restore_best_weights=True)]
        if monitor(tc) == "f1":  # val_f1 is written into the epoch's logs before EarlyStopping reads them
            stop = [_val_f1_callback(keras, X_va, {heads[t]: Y_va[t] for t in heads}),
                    keras.callbacks.EarlyStopping(monitor="val_f1", mode="max", patience=tc.patience,
                                                  restore_best_weights=True)]
        val = (X_va, {heads[t]: Y_va[t] for t in heads}) + ((weights(Y_va),) if balanced else ())
    else:  # no validation part (a tiny dataset): the full number of epochs, no early stopping
        stop, val = [], None
    hist = model.fit(X_tr, {heads[t]: Y_tr[t] for t in heads}, sample_weight=weights(Y_tr), validation_data=val,
                     epochs=tc.epochs, batch_size=tc.batch_size, callbacks=stop, verbose=verbose, shuffle=True)
    probs = []
    for X in predict:
        if not len(X):
            probs.append({t: np.zeros((0, n_classes[t])) for t in heads})
            continue
        out = model.predict(X, batch_size=256, verbose=0)
        probs.append({t: np.asarray(out[heads[t]], dtype=np.float64) for t in heads})
    keras.backend.clear_session()
    return probs, {"epochs": len(hist.history["loss"])}


def macro_f1_present(y: np.ndarray, pred: np.ndarray, n_classes: int) -> float:
    """Macro-F1 over the classes present in ``y`` (what ``monitor=f1`` watches per head)."""
    cm = np.zeros((n_classes, n_classes))
    np.add.at(cm, (y, pred), 1)
    tp, support, predicted = np.diag(cm), cm.sum(1), cm.sum(0)
    f1 = np.divide(2 * tp, support + predicted, out=np.zeros(n_classes), where=(support + predicted) > 0)
    return float(f1[support > 0].mean())


def _val_f1_callback(keras, X_va, Y_va: dict):
    """A callback that puts the validation macro-F1 (mean over heads) into each epoch's logs."""

    class ValF1(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            out = self.model.predict(X_va, batch_size=256, verbose=0)
            logs["val_f1"] = float(np.mean([macro_f1_present(y, out[h].argmax(1), out[h].shape[1])
                                            for h, y in Y_va.items()]))

    return ValF1()
