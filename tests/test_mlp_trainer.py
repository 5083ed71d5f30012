"""The compiled MLP trainer against ``keras.Model.fit``: the same model and protocol.

Real TensorFlow on a fixed synthetic problem (two heads, informative features): with dropout off
and the rows in order, both trainers start from the same weights and must follow the same
trajectory (epochs run, restored weights, validation loss); with the default protocol (dropout,
shuffled batches) both must reach the same validation loss within a tolerance.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from musicexp.evaluation import mlp


def conf(**kw):
    base = dict(hidden=[64, 32], dropout=0.3, head_units=16, head_dropout=0.2, lr=1e-3, batch_size=32, epochs=40,
                patience=3, class_weight="none", trainer="compiled", verbose=0)
    return SimpleNamespace(**{**base, **kw})


def problem(seed=0, n=360, d=24):
    """Six classes (head a) and their parity-like grouping (head b), classes overlapping."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(6, d))
    c = rng.integers(0, 6, n)
    X = (centres[c] * 0.7 + rng.normal(size=(n, d))).astype(np.float32)
    Y = np.stack([c, c % 3], axis=1)
    tr, va = np.arange(0, 300), np.arange(300, n)
    return X, Y, tr, va


def val_loss(probs: dict, Y: np.ndarray) -> float:
    """The training loss on the validation rows: the sum over heads of the mean cross-entropy."""
    return sum(float(-np.log(np.clip(p[np.arange(len(Y)), Y[:, t]], 1e-7, 1)).mean())
               for t, p in enumerate(probs.values()))


def test_same_start_same_order_no_dropout_follows_keras_fit_step_by_step():
    tc = conf(dropout=0.0, head_dropout=0.0, epochs=60, lr=3e-3)  # overfits: early stopping ends it
    net, X, Y, va, epochs, ours, theirs, hist = _both_trainers_same_start(tc)
    assert epochs == len(hist["loss"]) < tc.epochs  # stopped early, at the same epoch
    assert max(float(np.abs(a - b).max()) for a, b in zip(ours, theirs)) < 1e-4
    p_ours = dict(zip(net.heads, net.predict(X[va])))
    assert val_loss(p_ours, Y[va]) == pytest.approx(min(hist["val_loss"]), rel=1e-4)
    # the padding's weights never moved: the model is the unpadded one
    assert not ours[0][X.shape[1]:].any()


def test_dropout_acts_in_training_and_not_in_prediction():
    """Same start, same batch order: only the dropout rate differs, so the trained weights must
    differ; predicting twice gives the same probabilities (no dropout at prediction)."""
    keras = mlp._keras(None, True)
    X, Y, tr, va = problem()
    W = np.ones((len(X), 2), np.float32)
    trained = {}
    for rate in (0.0, 0.5):
        net = mlp.compiled_for(keras, X.shape[1], [6, 3], conf(dropout=rate, head_dropout=rate))
        none = slice(0, 0)  # no validation rows: every epoch runs
        net.fit(X[tr], Y[tr], W[tr], X[none], Y[none], W[none], 3, 3, seed=1, shuffle=False)
        trained[rate] = [v.numpy().copy() for v in net.vars]
        first, again = net.predict(X[va]), net.predict(X[va])
        assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not all(np.allclose(a, b) for a, b in zip(trained[0.0], trained[0.5]))


def test_a_fit_depends_on_its_data_and_seed_not_on_what_the_process_trained_before():
    X, Y, tr, va = problem()
    tc = conf()
    n_classes = {"a": 6, "b": 3}
    y = lambda rows: {"a": Y[rows, 0], "b": Y[rows, 1]}  # noqa: E731
    first, info = mlp.fit_predict(X[tr], y(tr), X[va], y(va), n_classes, [X[va]], tc, 3, True)
    other = X[:, :10] * 2  # another width, another seed: the same graph, other weights
    mlp.fit_predict(other[tr], y(tr), other[va], y(va), n_classes, [other[va]], tc, 4, True)
    again, info2 = mlp.fit_predict(X[tr], y(tr), X[va], y(va), n_classes, [X[va]], tc, 3, True)
    assert info == info2
    for k in n_classes:
        np.testing.assert_array_equal(first[0][k], again[0][k])


@pytest.mark.slow
def test_compiled_and_keras_fit_reach_the_same_validation_loss():
    """Default protocol (dropout, shuffled batches, early stopping): the mean over seeds of the
    restored model's validation loss agrees within 10%, and both learn (far below chance)."""
    X, Y, tr, va = problem(1)
    n_classes = {"a": 6, "b": 3}
    y = lambda rows: {"a": Y[rows, 0], "b": Y[rows, 1]}  # noqa: E731
    chance = np.log(6) + np.log(3)
    losses = {}
    for trainer in ("compiled", "keras_fit"):
        tc = conf(trainer=trainer)
        losses[trainer] = [val_loss(mlp.fit_predict(X[tr], y(tr), X[va], y(va), n_classes, [X[va]], tc, s, True)
                                    [0][0], Y[va]) for s in range(3)]
    ours, theirs = np.mean(losses["compiled"]), np.mean(losses["keras_fit"])
    assert ours < 0.5 * chance and theirs < 0.5 * chance, losses
    assert ours == pytest.approx(theirs, rel=0.10), losses


def _both_trainers_same_start(tc, monitor_f1: bool = False):
    """Fit the compiled trainer and keras.Model.fit from the same weights, rows in order, no
    dropout; the epochs run, the restored weights, the Keras history."""
    keras = mlp._keras(None, True)
    X, Y, tr, va = problem()
    W = np.ones((len(X), 2), np.float32)
    net = mlp.compiled_for(keras, X.shape[1], [6, 3], tc)
    net.reset(np.random.default_rng(7), X.shape[1])
    start = [v.numpy().copy() for v in net.vars]
    epochs = net.fit(X[tr], Y[tr], W[tr], X[va], Y[va], W[va], tc.epochs, tc.patience, seed=7, shuffle=False)
    ours = [v.numpy().copy() for v in net.vars]

    model = mlp.build(keras, net.n_in, [6, 3], tc)
    model.set_weights(start)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=tc.lr),
                  loss={h: "sparse_categorical_crossentropy" for h in net.heads})
    y_va = {h: Y[va, t] for t, h in enumerate(net.heads)}
    if monitor_f1:
        stop = [mlp._val_f1_callback(keras, net.pad(X[va]), y_va),
                keras.callbacks.EarlyStopping(monitor="val_f1", mode="max", patience=tc.patience,
                                              restore_best_weights=True)]
    else:
        stop = [keras.callbacks.EarlyStopping(patience=tc.patience, restore_best_weights=True)]
    hist = model.fit(net.pad(X[tr]), {h: Y[tr, t] for t, h in enumerate(net.heads)},
                     validation_data=(net.pad(X[va]), y_va), epochs=tc.epochs, batch_size=tc.batch_size,
                     shuffle=False, verbose=0, callbacks=stop)
    return net, X, Y, va, epochs, ours, model.get_weights(), hist.history


def test_weight_decay_is_keras_l2_kernel_penalty_step_by_step():
    """weight_decay > 0: the compiled trainer follows keras.Model.fit with L2 kernel regularizers
    (in the training loss and in the validation loss early stopping reads), and the penalty
    shrinks the kernels against the same fit without it."""
    tc = conf(dropout=0.0, head_dropout=0.0, epochs=60, lr=3e-3, weight_decay=1e-3)
    net, X, Y, va, epochs, ours, theirs, hist = _both_trainers_same_start(tc)
    assert epochs == len(hist["loss"])
    assert max(float(np.abs(a - b).max()) for a, b in zip(ours, theirs)) < 1e-4
    penalty = 1e-3 * sum(float((w ** 2).sum()) for w in ours if w.ndim == 2)
    p_ours = dict(zip(net.heads, net.predict(X[va])))
    assert val_loss(p_ours, Y[va]) + penalty == pytest.approx(min(hist["val_loss"]), rel=1e-4)
    free = _both_trainers_same_start(conf(dropout=0.0, head_dropout=0.0, epochs=60, lr=3e-3))
    norm = lambda ws: sum(float((w ** 2).sum()) for w in ws if w.ndim == 2)  # noqa: E731
    assert norm(ours) < norm(free[5])


def test_monitor_f1_stops_and_restores_as_keras_on_validation_macro_f1():
    """monitor=f1: early stopping on the validation macro-F1 (mean over heads) follows Keras'
    EarlyStopping(monitor="val_f1", mode="max") step by step, and the restored model's
    validation macro-F1 is the best epoch's."""
    tc = conf(dropout=0.0, head_dropout=0.0, epochs=60, lr=3e-3, monitor="f1")
    net, X, Y, va, epochs, ours, theirs, hist = _both_trainers_same_start(tc, monitor_f1=True)
    assert epochs == len(hist["loss"]) < tc.epochs
    assert max(float(np.abs(a - b).max()) for a, b in zip(ours, theirs)) < 1e-4
    probs = net.predict(X[va])
    f1 = np.mean([mlp.macro_f1_present(Y[va, t], p.argmax(1), p.shape[1]) for t, p in enumerate(probs)])
    assert f1 == pytest.approx(max(hist["val_f1"]), abs=1e-9)
    assert f1 > 0.5  # it learnt: chance is about 1/6 and 1/3


def test_monitor_f1_and_weight_decay_change_the_fit_and_their_legacy_values_do_not():
    """The legacy values (monitor=loss, weight_decay=0) give the very fit of a conf without
    the options; the other values give another fit."""
    X, Y, tr, va = problem()
    n_classes = {"a": 6, "b": 3}
    y = lambda rows: {"a": Y[rows, 0], "b": Y[rows, 1]}  # noqa: E731
    fit = lambda tc: mlp.fit_predict(X[tr], y(tr), X[va], y(va), n_classes, [X[va]], tc, 3, True)[0][0]  # noqa: E731
    before = fit(conf())
    legacy = fit(conf(monitor="loss", weight_decay=0.0))
    for k in n_classes:
        np.testing.assert_array_equal(before[k], legacy[k])
    for other in (conf(monitor="f1", patience=10), conf(weight_decay=1e-2)):
        assert not np.allclose(fit(other)["a"], before["a"])


def test_macro_f1_present_by_hand():
    # y: 0 0 1 1 2 ; pred: 0 1 1 1 0 -> class 0: tp 1, support 2, predicted 2 -> 0.5;
    # class 1: tp 2, support 2, predicted 3 -> 0.8; class 2: tp 0 -> 0; class 3 absent from y: not averaged
    f1 = mlp.macro_f1_present(np.array([0, 0, 1, 1, 2]), np.array([0, 1, 1, 1, 0]), 4)
    assert f1 == pytest.approx((0.5 + 0.8 + 0.0) / 3)


def test_keras_fit_trainer_takes_monitor_f1_and_weight_decay():
    """trainer=keras_fit through fit_predict: early stopping on val_f1 with the L2 model; it stops
    before the last epoch and its restored model has learnt both heads."""
    X, Y, tr, va = problem()
    n_classes = {"a": 6, "b": 3}
    y = lambda rows: {"a": Y[rows, 0], "b": Y[rows, 1]}  # noqa: E731
    tc = conf(trainer="keras_fit", monitor="f1", weight_decay=1e-3, epochs=60, patience=3, lr=3e-3)
    (probs,), info = mlp.fit_predict(X[tr], y(tr), X[va], y(va), n_classes, [X[va]], tc, 5, True)
    assert info["epochs"] < 60
    for t, k in enumerate(n_classes):
        assert probs[k].shape == (len(va), n_classes[k])
        assert mlp.macro_f1_present(Y[va, t], probs[k].argmax(1), n_classes[k]) > 0.5
