"""The sgt step through the real pipeline, against formulas written out here."""

import math
from collections import Counter

import numpy as np
import pytest

from helpers import make_dataset, run_step, tiny_overrides, write_midi
from musicexp.features.sgt.block import SgtBlock
from musicexp.engine.runner import run


def _sgt_features(result, vocab_rows=None, top_vocab=64, norm="max", scope="fold"):
    art = result.steps["sgt"].artifact
    pieces = art["info"]["pieces"]
    block = SgtBlock(art, pieces, {"top_vocab": top_vocab, "normalize": norm, "vocab": scope})
    rows = np.arange(len(pieces)) if vocab_rows is None else vocab_rows
    return pieces, block.vocab(rows), block.matrix(rows)


def _legacy_reference(path, top_vocab, alpha, max_dt, vocab_counter):
    """The older pipeline's SGT (docs/older-pipeline.md), as literally as possible (slow, per pair)."""
    import symusic

    score = symusic.Score(str(path))
    events = []  # file order: track by track, note by note
    for tr in score.tracks:
        if tr.is_drum:
            continue
        for n in tr.notes:
            events.append((n.time / score.ticks_per_quarter, (tr.program // 8) * 12 + n.pitch % 12))
    events.sort(key=lambda e: e[0])  # by onset only: ties stay in file order
    vocab = sorted(tok for tok, _ in sorted(vocab_counter.items(), key=lambda kv: (-kv[1], kv[0]))[:top_vocab])
    index = {tok: i for i, tok in enumerate(vocab)}
    S = np.zeros((len(vocab), len(vocab)))
    for i in range(len(events)):
        for j in range(i + 1, len(events)):
            dt = events[j][0] - events[i][0]
            if dt > max_dt:
                break
            if 0 <= dt and events[i][1] in index and events[j][1] in index:
                S[index[events[i][1]], index[events[j][1]]] += math.exp(-alpha * dt)
    if S.max() > 0:
        S /= S.max()
    return S.ravel()


def test_legacy_sgt_matches_the_older_formula(compose, tmp_path):
    data = make_dataset(tmp_path / "midi", per_class=3, seed=5)
    top_vocab, alpha, max_dt = 10, 0.8, 4.0
    r = run(compose(tiny_overrides(data, tmp_path, "steps/sgt=legacy", f"steps.sgt.top_vocab={top_vocab}",
                                   f"steps.sgt.max_dt_beats={max_dt}", "steps.train.n_splits=2")))
    pieces, vocab, X = _sgt_features(r, top_vocab=top_vocab, norm="max", scope="global")
    import symusic

    counts = Counter()
    for p in pieces:  # the older vocabulary: token counts over the whole dataset
        for tr in symusic.Score(str(data / p)).tracks:
            counts.update((tr.program // 8) * 12 + n.pitch % 12 for n in tr.notes if not tr.is_drum)
    for k, p in enumerate(pieces):
        ref = _legacy_reference(data / p, top_vocab, alpha, max_dt, counts)
        np.testing.assert_allclose(X[k], ref, rtol=1e-12, atol=1e-12)


def test_default_sgt_equals_the_published_sgt_package(compose, tmp_path):
    """time_axis=index, no window, normalize=sgt: Ranjan et al.'s SGT (package `sgt`, kappa = alpha)."""
    pytest.importorskip("sgt")
    from sgt import SGT

    rng = np.random.default_rng(3)
    data = tmp_path / "seq"
    for k in range(6):
        pitches = rng.integers(60, 72, size=40)
        write_midi(data / f"s{k}.mid", [(i * 0.5, 0.5, int(p), 80) for i, p in enumerate(pitches)])
    import csv

    with open(data / "labels.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "composer", "era"])
        w.writerows([[f"s{k}.mid", "ab"[k % 2], "x"] for k in range(6)])
    alpha = 1.3
    r = run(compose(tiny_overrides(data, tmp_path, "steps.sgt.token_mode=pitch", "steps.sgt.time_axis=index",
                                   "steps.sgt.max_dt_beats=null", "steps.sgt.normalize=sgt",
                                   f"steps.sgt.alpha={alpha}", "steps.sgt.top_vocab=128",
                                   "dataset.labels.columns=[composer]", "steps.train.n_splits=2")))
    pieces, vocab, X = _sgt_features(r, top_vocab=128, norm="sgt")
    import symusic

    for k, p in enumerate(pieces):
        seq = [n.pitch for n in symusic.Score(str(data / p)).tracks[0].notes]
        ref = SGT(alphabets=[int(v) for v in vocab], kappa=alpha, lengthsensitive=False, flatten=False).fit(seq)
        np.testing.assert_allclose(X[k], np.asarray(ref, dtype=float).ravel(), rtol=1e-9, atol=1e-9)


def test_default_tie_break_ignores_track_order(compose, tmp_path):
    """The same chords written with the parts in another track order give the same features."""
    notes = [(float(t), 1.0, p, 80) for t in range(12) for p in (60 + t % 5, 64 + t % 3, 67)]
    data = tmp_path / "order"
    write_midi(data / "a.mid", notes, tracks=3)
    write_midi(data / "b.mid", notes[::-1], tracks=3)  # reversed notes land in other tracks
    (data / "labels.csv").write_text("file,composer,era\na.mid,x,y\nb.mid,x,y\n")
    cfg = tiny_overrides(data, tmp_path, "steps.sgt.token_mode=pitch_class", "steps.train.n_splits=2")
    from musicexp.data.dataset import open_dataset

    c = compose(cfg)
    ds = open_dataset(c.dataset, data, progress=False)
    notes_out, _ = run_step(c, "notes", {}, ds)
    sgt_out, _ = run_step(c, "sgt", {"notes": notes_out})
    block = SgtBlock(sgt_out, ["a.mid", "b.mid"], {"top_vocab": 12, "normalize": "none", "vocab": "fold"})
    X = block.matrix(np.arange(2))
    np.testing.assert_allclose(X[0], X[1], rtol=1e-12)
    c_legacy = compose(cfg + ["steps/sgt=legacy", "steps.sgt.token_mode=pitch_class"])
    sgt_leg, _ = run_step(c_legacy, "sgt", {"notes": notes_out})
    block = SgtBlock(sgt_leg, ["a.mid", "b.mid"], {"top_vocab": 12, "normalize": "none", "vocab": "global"})
    X = block.matrix(np.arange(2))
    assert not np.allclose(X[0], X[1])  # the older file-order tie break depends on track order
