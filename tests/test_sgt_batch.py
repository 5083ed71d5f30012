"""pair_sums_batch (many pieces in one call, on both kernels) against pair_sums piece by piece
and brute force, and the sgt step against a straightforward per-piece implementation."""

from __future__ import annotations

import math
import zlib

import numpy as np
import pytest

from helpers import run_step
from musicexp.features.sgt import kernel as sgtcore
from musicexp.features.sgt.kernel import pair_sums, pair_sums_batch

RTOL = 1e-12


def per_piece(t, tok, offsets, n_tokens, alpha, max_dt):
    """Reference: pair_sums piece by piece, nonzero entries of C in (piece, pair) order."""
    cols = [[], [], [], []]
    for k in range(len(offsets) - 1):
        a, b = offsets[k], offsets[k + 1]
        W, C = pair_sums(t[a:b], tok[a:b], n_tokens, alpha, max_dt)
        nz = np.flatnonzero(C.ravel())
        for col, x in zip(cols, (np.full(nz.size, k), nz, W.ravel()[nz], C.ravel()[nz])):
            col.append(x)
    return [np.concatenate(c) if c else np.zeros(0) for c in cols]


def brute(t, tok, offsets, n_tokens, alpha, max_dt):
    """Reference: the definition, a double loop per piece."""
    out = {}
    for k in range(len(offsets) - 1):
        ts, ks = t[offsets[k] : offsets[k + 1]], tok[offsets[k] : offsets[k + 1]]
        for j in range(len(ts)):
            for i in range(j):
                dt = float(ts[j]) - float(ts[i])
                if max_dt is None or dt <= max_dt:
                    w, c = out.get((k, int(ks[i]) * n_tokens + int(ks[j])), (0.0, 0))
                    out[(k, int(ks[i]) * n_tokens + int(ks[j]))] = (w + math.exp(-alpha * dt), c + 1)
    return out


def assert_same(got, ref):
    p, q, w, c = got
    assert p.dtype.kind == "i" and q.dtype == np.int64 and w.dtype == c.dtype == np.float64
    np.testing.assert_array_equal(p, ref[0])
    np.testing.assert_array_equal(q, ref[1])
    np.testing.assert_array_equal(c, ref[3])  # counts: exact
    np.testing.assert_allclose(w, ref[2], rtol=RTOL, atol=1e-300)
    assert np.all(w >= 0) and np.all(w <= c)


def onsets(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    if kind == "ties":  # chords on a quarter-beat grid
        return np.sort(rng.integers(0, max(1, n // 4), n)) * 0.25
    if kind == "gaps":  # triplets, chords and long gaps at large onsets
        return 1e5 + np.cumsum(rng.choice([0.0, 0.0, 0.1, 1 / 3, 0.5, 50.0, 1000.0], n))
    if kind == "dense":
        return 3000.0 + np.sort(rng.uniform(0, 40, n))
    if kind == "positions":
        return np.arange(n, dtype=np.float64)
    if kind == "bigties":  # a few huge groups of simultaneous events
        return np.sort(rng.integers(0, 3, n)).astype(np.float64)
    if kind == "cluster":  # dense past, sparse present: long fc searches
        m = n // 2
        return np.concatenate([np.sort(rng.uniform(0, 1, m)),
                               1.0 + np.cumsum(rng.choice([0.5, 3.0, 7.9], n - m))])
    if kind == "huge":  # onsets ~1e12 with tiny steps (rounding of the search keys)
        return 1e12 + np.cumsum(rng.choice([0.0, 2.0**-20, 0.25, 1.0, 8.0], n))
    raise AssertionError(kind)


KINDS = ["ties", "gaps", "dense", "positions", "bigties", "cluster", "huge"]
def random_pieces(rng, kind, n_pieces, max_len, n_tokens):
    lens = rng.integers(0, max_len, n_pieces)
    lens[rng.random(n_pieces) < 0.25] = rng.integers(0, 3)  # empty and one-event pieces
    t = np.concatenate([onsets(kind, int(L), rng) for L in lens] + [np.zeros(0)])
    tok = rng.integers(0, n_tokens, t.size)
    return t, tok, np.concatenate([[0], np.cumsum(lens)])


@pytest.mark.parametrize("kind", KINDS)
def test_batch_equals_per_piece(kind, backend):
    rng = np.random.default_rng(zlib.crc32(kind.encode()))
    for _ in range(4):
        n_tokens = int(rng.integers(1, 30))
        t, tok, offsets = random_pieces(rng, kind, int(rng.integers(1, 12)), 160, n_tokens)
        alpha = float(rng.choice([0.0, 1e-6, 0.01, 0.8, 3.0, 10.0]))
        for max_dt in [None, 0.0, 0.25, 1 / 3, 2.0, 8.0, 1000.0, float("inf")]:
            got = pair_sums_batch(t, tok, offsets, n_tokens, alpha, max_dt)
            assert_same(got, per_piece(t, tok, offsets, n_tokens, alpha, max_dt))


@pytest.mark.parametrize("max_dt", [None, 0.0, 0.5, 8.0])
def test_batch_equals_brute_force(max_dt, backend):
    rng = np.random.default_rng(3)
    for kind in ["ties", "gaps", "cluster"]:
        t, tok, offsets = random_pieces(rng, kind, 5, 60, 4)
        for alpha in [0.0, 0.8]:
            p, q, w, c = pair_sums_batch(t, tok, offsets, 4, alpha, max_dt)
            ref = brute(t, tok, offsets, 4, alpha, max_dt)
            assert {(int(a), int(b)) for a, b in zip(p, q)} == set(ref)
            for a, b, wi, ci in zip(p, q, w, c):
                rw, rc = ref[(int(a), int(b))]
                assert ci == rc and wi == pytest.approx(rw, rel=RTOL, abs=1e-300)


def test_many_tokens_and_long_pieces_come_out_in_piece_order(backend):
    """Pieces with up to 320 distinct tokens (as with drums), long, empty and one-event pieces
    mixed: the sparse output is in (piece, pair) order."""
    rng = np.random.default_rng(8)
    lens = [300, 5, 0, 400, 1, 250, 3000]
    t = np.concatenate([onsets("ties", n, rng) for n in lens])
    tok = np.concatenate([rng.integers(0, 320 if n >= 300 else 10, n) for n in lens])
    offsets = np.concatenate([[0], np.cumsum(lens)])
    for max_dt in [8.0, None]:
        assert_same(pair_sums_batch(t, tok, offsets, 320, 0.8, max_dt),
                    per_piece(t, tok, offsets, 320, 0.8, max_dt))


def test_long_forward_search_and_window_boundary(backend):
    # a dense cluster then sparse notes: some events step over many chunk starts (fallback
    # search); and fl(10.175 - 2.175) == 8.0 is inside the window although 10.175 - 8 > 2.175
    t = np.concatenate([np.linspace(0, 1, 101)[:-1], [1.0, 8.5, 8.6, 8.7, 9.0, 20.0],
                        [2.175, 10.175], [29.56, 29.66]])
    tok = np.arange(t.size) % 5
    offsets = [0, 106, 108, 110]
    for max_dt in [8.0, 0.1]:
        got = pair_sums_batch(t, tok, offsets, 5, 0.8, max_dt)
        assert_same(got, per_piece(t, tok, offsets, 5, 0.8, max_dt))
    p, q, w, c = pair_sums_batch(t[106:108], tok[106:108], [0, 2], 5, 0.5, 8.0)
    assert list(p) == [0] and c[0] == 1 and w[0] == pytest.approx(math.exp(-0.5 * 8.0))
    # fl(29.66 - 29.56) > 0.1 although 29.66 - 0.1 <= 29.56: outside
    assert pair_sums_batch(t[108:], tok[108:], [0, 2], 5, 0.5, 0.1)[0].size == 0


def test_alpha_zero_trivial_inputs_and_sorting(backend):
    rng = np.random.default_rng(1)
    t, tok, offsets = random_pieces(rng, "ties", 6, 80, 7)
    p, q, w, c = pair_sums_batch(t, tok, offsets, 7, 0.0, 2.0)
    np.testing.assert_array_equal(w, c)
    order = np.lexsort((q, p))
    np.testing.assert_array_equal(order, np.arange(p.size))  # sorted by piece, then pair
    for args in [([], [], [0]), ([0.0], [1], [0, 1]), ([1.0, 2.0], [0, 1], [0, 0, 1, 1, 2, 2])]:
        p, q, w, c = pair_sums_batch(np.asarray(args[0], float), np.asarray(args[1], int), args[2], 3, 1.0, None)
        assert p.size == q.size == w.size == c.size == 0
    # onsets may go down at a piece start; integer onsets and lists are accepted
    p, q, w, c = pair_sums_batch([5, 6, 0, 0], [0, 1, 1, 0], [0, 2, 4], 2, 1.0, None)
    np.testing.assert_array_equal(p, [0, 1])
    np.testing.assert_array_equal(q, [1, 2])
    np.testing.assert_allclose(w, [math.exp(-1.0), 1.0])


@pytest.mark.parametrize(
    "change,match",
    [
        (dict(onsets=[0.0, 2.0, 1.0, 0.0]), "sorted"),
        (dict(onsets=[0.0, np.nan, 1.0, 2.0]), "finite"),
        (dict(tokens=[0, 1, 3, 0]), r"\[0, 3\)"),
        (dict(tokens=[0.0, 1.0, 2.0, 0.0]), "integer"),
        (dict(tokens=[0, 1]), "length"),
        (dict(offsets=[0, 2]), "end at"),
        (dict(offsets=[1, 4]), "start at 0"),
        (dict(offsets=[0, 3, 2, 4]), "non-decreasing"),
        (dict(offsets=[0.0, 4.0]), "integer"),
        (dict(alpha=-1.0), "alpha"),
        (dict(max_dt=-1.0), "max_dt"),
        (dict(n_tokens=-1), "n_tokens"),
    ],
)
def test_validation_errors(change, match, backend):
    kw = dict(onsets=[0.0, 1.0, 1.0, 0.5], tokens=[0, 1, 2, 0], offsets=[0, 3, 4], n_tokens=3,
              alpha=0.8, max_dt=8.0)
    kw.update(change)
    with pytest.raises(ValueError, match=match):
        pair_sums_batch(**kw)


# ----------------------------------------------------------------------------- the sgt step


def fake_notes(rng, n_pieces=12):
    """A note table like the notes step's: per piece, tracks one after another, each sorted by
    onset; chords across and inside tracks, several programs, drums, an empty piece."""
    cols = {k: [] for k in ("track", "program", "is_drum", "pitch", "velocity", "onset", "duration")}
    counts = []
    tpqs = rng.choice([96, 480, 10080], n_pieces)
    for k in range(n_pieces):
        n_piece = 0
        for tr in range(int(rng.integers(0, 4)) if k else 0):
            n = int(rng.integers(1, 120))
            on = np.sort(rng.integers(0, 60, n)) * (tpqs[k] // int(rng.choice([4, 3]))) / tpqs[k]
            drum = tr == 2
            cols["track"].append(np.full(n, tr))
            cols["program"].append(np.full(n, 0 if drum else int(rng.integers(0, 128))))
            cols["is_drum"].append(np.full(n, drum))
            cols["pitch"].append(rng.integers(30, 90, n))
            cols["velocity"].append(rng.integers(1, 128, n))
            cols["onset"].append(on)
            cols["duration"].append(rng.choice([0.25, 0.5, 1.0], n))
            n_piece += n
        counts.append(n_piece)
    dtypes = dict(track=np.int16, program=np.int16, is_drum=bool, pitch=np.int16, velocity=np.int16,
                  onset=np.float64, duration=np.float64)
    notes = {k: np.concatenate(v).astype(dtypes[k]) for k, v in cols.items()}
    notes["onset_s"], notes["duration_s"] = notes["onset"] / 2, notes["duration"] / 2
    notes["offsets"] = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    pieces = [{"id": f"p{k}.mid", "n_notes": c, "tpq": int(tpqs[k])} for k, c in enumerate(counts)]
    return notes, pieces


def reference_step(notes, pieces, mode, include_drums, tie_break, axis, alpha, max_dt):
    """The sgt step as a plain loop over pieces (the pre-batch implementation's logic)."""
    n_base = {"pitch_class": 12, "prog_pitch": 192, "pitch": 128, "interval": 128}[mode]
    T = n_base + (128 if include_drums else 0)
    pieces_out, pairs, ws, cs = [], [], [], []
    counts = np.zeros((len(pieces), T), np.int64)
    for k in range(len(pieces)):
        sl = slice(notes["offsets"][k], notes["offsets"][k + 1])
        pitch = notes["pitch"][sl].astype(int)
        prog = notes["program"][sl].astype(int)
        drum = notes["is_drum"][sl]
        tok = {"pitch_class": pitch % 12, "prog_pitch": (prog // 8) * 12 + pitch % 12}.get(mode, pitch)
        keep = np.ones(len(pitch), bool) if include_drums else ~drum
        if include_drums:
            tok = np.where(drum, n_base + pitch, tok)
        idx = np.flatnonzero(keep)
        onset = notes["onset"][sl][idx]
        if tie_break == "file":
            order = np.argsort(onset, kind="stable")
        else:  # the full key list of the pre-batch implementation
            order = np.lexsort((notes["velocity"][sl][idx], notes["duration"][sl][idx], drum[idx],
                                prog[idx], pitch[idx], onset))
        ev = idx[order]
        if len(ev) == 0:
            continue
        t = onset[order] if axis == "beats" else np.arange(len(ev), dtype=np.float64)
        counts[k] = np.bincount(tok[ev], minlength=T)
        W, C = pair_sums(t, tok[ev], T, alpha, max_dt)
        nz = np.flatnonzero(C.ravel())
        pieces_out.append(np.full(nz.size, k))
        pairs.append(nz)
        ws.append(W.ravel()[nz])
        cs.append(C.ravel()[nz])
    return np.concatenate(pieces_out), np.concatenate(pairs), np.concatenate(ws), np.concatenate(cs), counts, T


STEP_CASES = [
    ["steps.sgt.token_mode=prog_pitch"],  # the default before ioi (the reference below knows the pitch modes;
                                          # the rhythm modes are checked by hand in test_token_modes.py)
    ["steps/sgt=legacy"],
    ["steps.sgt.token_mode=prog_pitch", "steps.sgt.time_axis=index", "steps.sgt.max_dt_beats=null", "steps.sgt.alpha=0.3"],
    ["steps.sgt.include_drums=true", "steps.sgt.token_mode=pitch", "steps.sgt.max_dt_beats=2"],
    ["steps.sgt.token_mode=pitch_class", "steps.sgt.max_dt_beats=0"],
    ["steps.sgt.token_mode=interval", "steps.sgt.time_axis=index", "steps.sgt.max_dt_beats=5"],
]


@pytest.mark.parametrize("overrides", STEP_CASES, ids=lambda o: " ".join(o) or "default")
def test_step_equals_per_piece_reference(compose, overrides, backend):
    cfg = compose(["progress=false"] + overrides)
    s = cfg.steps.sgt
    notes, pieces = fake_notes(np.random.default_rng(len(overrides)))
    out, summary = run_step(cfg, "sgt", {"notes": {"notes": notes, "pieces": pieces}})
    p, q, w, c, counts, T = reference_step(notes, pieces, s.token_mode.value, s.include_drums,
                                           s.tie_break.value, s.time_axis.value, float(s.alpha),
                                           s.max_dt_beats)
    pr = out["pairs"]
    assert pr["piece"].dtype == pr["pair"].dtype == np.int32
    assert pr["w"].dtype == pr["c"].dtype == np.float64
    np.testing.assert_array_equal(pr["piece"], p)
    np.testing.assert_array_equal(pr["pair"], q)
    np.testing.assert_array_equal(pr["c"], c)
    np.testing.assert_allclose(pr["w"], w, rtol=RTOL, atol=1e-300)
    assert out["token_counts"].dtype == np.int64
    np.testing.assert_array_equal(out["token_counts"], counts)
    assert out["info"] == {"pieces": [x["id"] for x in pieces], "n_tokens": T,
                           "alpha": float(s.alpha), "token_mode": s.token_mode.value}
    assert summary == {"pieces": len(pieces), "events": int(counts.sum()),
                       "tokens_used": int((counts.sum(0) > 0).sum()), "nonzero_pairs": len(q)}


@pytest.mark.parametrize("tie_break", ["pitch", "file"])
def test_event_order_gives_the_full_key_sequence(tie_break):
    """The cheaper ordering keeps the (piece, onset, token) sequence of the 7-key lexsort
    ('pitch') and is the very same permutation as lexsort((onset, piece)) ('file')."""
    from musicexp.features.sgt.events import event_order, tokenize

    notes, pieces = fake_notes(np.random.default_rng(11), 20)
    piece = np.repeat(np.arange(len(pieces)), np.diff(notes["offsets"]))
    tpq = [p["tpq"] for p in pieces]
    bad_tpq = [t + 1 for t in tpq]  # onsets are not ticks / tpq: the general path
    for include_drums, ticks in [(False, None), (True, None), (False, tpq), (True, tpq), (False, bad_tpq)]:
        tok, keep, _ = tokenize(notes, "prog_pitch", include_drums)
        got = event_order(notes, piece, keep, tie_break, ticks)
        idx = np.flatnonzero(keep)
        if tie_break == "file":
            np.testing.assert_array_equal(got, idx[np.lexsort((notes["onset"][idx], piece[idx]))])
            continue
        keys = tuple(notes[k][idx] for k in ("velocity", "duration", "is_drum", "program", "pitch", "onset"))
        ref = idx[np.lexsort(keys + (piece[idx],))]
        assert sorted(got) == sorted(ref)
        for a in (piece, notes["onset"], tok, notes["pitch"], notes["program"]):
            np.testing.assert_array_equal(a[got], a[ref])
