"""The compiled SGT kernel (musicexp.features.sgt._kernel, built by setup.py at `pip install`): it must
exist here (CI proves the fast path), equal a brute-force double loop and the numpy kernel
(counts bit-equal, weights to 1e-12 relative), and be safe to call from several threads."""

from __future__ import annotations

import math
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from musicexp.features.sgt import kernel as sgtcore

RTOL = 1e-12
ATOL = 1e-290  # terms below ~1e-300 may be dropped (no subnormal arithmetic)


def test_compiled_kernel_is_built_and_used():
    from musicexp.features.sgt import _kernel as _sgtkernel  # noqa: F401  (ImportError here = the build failed)

    assert sgtcore.compiled is not None and sgtcore._USE_COMPILED


def run(backend, t, tok, offsets, n_tokens, alpha, max_dt, monkeypatch):
    monkeypatch.setattr(sgtcore, "_USE_COMPILED", backend == "compiled")
    return sgtcore.pair_sums_batch(t, tok, offsets, n_tokens, alpha, max_dt)


def brute(t, tok, offsets, n_tokens, alpha, max_dt):
    """The definition: a double loop per piece -> {(piece, pair): (w, c)}."""
    out = {}
    for p in range(len(offsets) - 1):
        a, b = int(offsets[p]), int(offsets[p + 1])
        for j in range(a, b):
            for i in range(a, j):
                dt = float(t[j]) - float(t[i])
                if max_dt is not None and not dt <= max_dt:
                    continue
                key = (p, int(tok[i]) * n_tokens + int(tok[j]))
                w, c = out.get(key, (0.0, 0))
                out[key] = (w + math.exp(-alpha * dt), c + 1)
    return out


def check_format(got, n_pieces, n_tokens):
    p, q, w, c = got
    assert p.dtype == np.intp and q.dtype == np.int64
    assert w.dtype == c.dtype == np.float64
    assert p.shape == q.shape == w.shape == c.shape
    if p.size:
        assert np.all(np.diff(p) >= 0)
        same = np.diff(p) == 0
        assert np.all(np.diff(q)[same] > 0)  # sorted by (piece, pair), no duplicates
        assert p.min() >= 0 and p.max() < n_pieces
        assert q.min() >= 0 and q.max() < n_tokens * n_tokens
    assert np.all(c > 0) and np.all(c == np.round(c))  # only C > 0, integer counts
    assert np.all(np.isfinite(w)) and np.all(w >= 0) and np.all(w <= c)


def assert_equal(got, ref):
    np.testing.assert_array_equal(got[0], ref[0])
    np.testing.assert_array_equal(got[1], ref[1])
    np.testing.assert_array_equal(got[3], ref[3])  # counts: bit-equal
    np.testing.assert_allclose(got[2], ref[2], rtol=RTOL, atol=ATOL)


def onsets(kind, n, rng):
    if kind == "ties":  # chords on a quarter-beat grid (dt = 0 pairs in array order)
        return np.sort(rng.integers(0, max(1, n // 4), n)) * 0.25
    if kind == "gaps":  # large onsets, triplets, chords, gaps up to 1e5 beats
        return 1e5 + np.cumsum(rng.choice([0.0, 0.0, 0.1, 1 / 3, 0.5, 50.0, 75.0, 1e5], n))
    if kind == "dense":
        return 1e5 + np.sort(rng.uniform(0, 40, n))
    if kind == "bigties":
        return np.sort(rng.integers(0, 3, n)).astype(np.float64)
    if kind == "huge":  # onsets ~1e12, tiny steps
        return 1e12 + np.cumsum(rng.choice([0.0, 2.0**-20, 0.25, 1.0, 8.0], n))
    raise AssertionError(kind)


def random_batch(rng, kind, n_pieces, max_len, n_tokens):
    lens = rng.integers(0, max_len, n_pieces)
    lens[rng.random(n_pieces) < 0.3] = rng.integers(0, 2)  # empty and one-event pieces
    t = np.concatenate([onsets(kind, int(L), rng) for L in lens] + [np.zeros(0)])
    tok = rng.integers(0, n_tokens, t.size)
    return t, tok, np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)


ALPHAS = [0.0, 1e-6, 0.8, 10.0]
WINDOWS = [None, 0.0, 1 / 3, 8.0, 1000.0, float("inf")]


@pytest.mark.parametrize("kind", ["ties", "gaps", "dense", "bigties", "huge"])
def test_equals_brute_force(kind, monkeypatch):
    rng = np.random.default_rng(zlib.crc32(kind.encode()))
    n_tokens = 5
    t, tok, offsets = random_batch(rng, kind, 7, 90, n_tokens)  # a few hundred events
    for alpha in ALPHAS:
        for max_dt in WINDOWS:
            got = run("compiled", t, tok, offsets, n_tokens, alpha, max_dt, monkeypatch)
            check_format(got, len(offsets) - 1, n_tokens)
            ref = brute(t, tok, offsets, n_tokens, alpha, None if max_dt == np.inf else max_dt)
            keys = sorted(ref)
            np.testing.assert_array_equal(got[0], [k[0] for k in keys])
            np.testing.assert_array_equal(got[1], [k[1] for k in keys])
            np.testing.assert_array_equal(got[3], [ref[k][1] for k in keys])
            np.testing.assert_allclose(got[2], [ref[k][0] for k in keys], rtol=RTOL, atol=ATOL)
            if alpha == 0.0:
                np.testing.assert_array_equal(got[2], got[3])


@pytest.mark.parametrize("kind", ["ties", "gaps", "dense", "bigties", "huge"])
def test_equals_numpy_kernel_on_random_batches(kind, monkeypatch):
    rng = np.random.default_rng(zlib.crc32(b"np" + kind.encode()))
    for _ in range(3):
        n_tokens = int(rng.integers(1, 40))
        t, tok, offsets = random_batch(rng, kind, int(rng.integers(1, 60)), 300, n_tokens)
        for alpha in ALPHAS:
            for max_dt in WINDOWS:
                got = run("compiled", t, tok, offsets, n_tokens, alpha, max_dt, monkeypatch)
                check_format(got, len(offsets) - 1, n_tokens)
                assert_equal(got, run("numpy", t, tok, offsets, n_tokens, alpha, max_dt, monkeypatch))


def test_many_tokens_and_a_long_piece(monkeypatch):
    rng = np.random.default_rng(5)
    lens = [3000, 0, 50_000, 1, 700]
    t = np.concatenate([np.cumsum(rng.choice([0.0, 0.0, 0.125, 0.25, 1 / 3, 4.0], n)) for n in lens])
    tok = np.concatenate([rng.integers(0, 200, lens[0]), rng.integers(0, 12, lens[2] + 1),
                          rng.integers(0, 30, lens[4])])  # ~200, 12 and 30 tokens
    offsets = np.concatenate([[0], np.cumsum(lens)])
    for alpha, max_dt in [(0.8, 8.0), (0.01, None), (10.0, 0.0), (1e-6, 40.0), (0.0, 8.0)]:
        got = run("compiled", t, tok, offsets, 200, alpha, max_dt, monkeypatch)
        check_format(got, len(lens), 200)
        assert_equal(got, run("numpy", t, tok, offsets, 200, alpha, max_dt, monkeypatch))


def test_pair_sums_uses_the_kernel_and_matches_numpy(monkeypatch):
    rng = np.random.default_rng(2)
    t = 1e5 + np.cumsum(rng.choice([0.0, 0.25, 0.5, 30.0], 2000))
    k = rng.integers(0, 17, 2000)
    for alpha, max_dt in [(0.8, 8.0), (0.0, None), (3.0, 0.0)]:
        monkeypatch.setattr(sgtcore, "_USE_COMPILED", True)
        W, C = sgtcore.pair_sums(t, k, 20, alpha, max_dt)
        monkeypatch.setattr(sgtcore, "_USE_COMPILED", False)
        Wn, Cn = sgtcore.pair_sums(t, k, 20, alpha, max_dt)
        assert W.shape == C.shape == (20, 20) and not np.shares_memory(W, C)
        np.testing.assert_array_equal(C, Cn)
        np.testing.assert_allclose(W, Wn, rtol=RTOL, atol=ATOL)


def test_direct_calls_and_errors():
    from musicexp.features.sgt import _kernel as _sgtkernel

    z = np.zeros(0)
    zi = np.zeros(0, np.int64)
    for offs in ([0], [0, 0, 0]):
        p, q, w, c = _sgtkernel.batch(z, zi, np.array(offs, np.int64), 3, 1.0, 0.0, False)
        assert p.size == q.size == w.size == c.size == 0 and p.dtype == np.intp
    t = np.array([0.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="tokens"):
        _sgtkernel.batch(t, np.array([0, 3, 1], np.int64), np.array([0, 3], np.int64), 3, 1.0, 0.0, False)
    with pytest.raises(ValueError, match="offsets"):
        _sgtkernel.batch(t, np.array([0, 1, 1], np.int64), np.array([0, 2], np.int64), 3, 1.0, 0.0, False)
    with pytest.raises(ValueError, match="offsets"):
        _sgtkernel.batch(t, np.array([0, 1, 1], np.int64), np.array([0, 3, 2, 3], np.int64), 3, 1.0, 0.0, False)
    # validation stays in pair_sums_batch (unsorted onsets, bad tokens) with the kernel on
    with pytest.raises(ValueError, match="sorted"):
        sgtcore.pair_sums_batch([0.0, 2.0, 1.0], [0, 1, 1], [0, 3], 2, 1.0, None)
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        sgtcore.pair_sums_batch([0.0, 1.0, 2.0], [0, 2, 1], [0, 3], 2, 1.0, None)


def test_threads_give_the_same_results_and_the_gil_is_released(monkeypatch):
    from musicexp.features.sgt import _kernel as _sgtkernel

    rng = np.random.default_rng(9)
    jobs = []
    for i in range(8):
        t, tok, offsets = random_batch(rng, ["ties", "gaps", "dense"][i % 3], 40, 2000, 24)
        jobs.append((t, tok.astype(np.int64), offsets, 24, [0.0, 0.8][i % 2], 8.0, i % 4 != 3))
    ref = [_sgtkernel.batch(*j) for j in jobs]
    with ThreadPoolExecutor(4) as ex:
        got = list(ex.map(lambda j: _sgtkernel.batch(*j), jobs * 3))
    for g, r in zip(got, ref * 3):
        for a, b in zip(g, r):
            np.testing.assert_array_equal(a, b)

    # one long call: another thread keeps running meanwhile (the loop runs without the GIL)
    n = 1_000_000
    t = np.cumsum(rng.choice([0.0, 0.125, 0.25], n))
    tok = rng.integers(0, 256, n)  # no window, many tokens: ~0.2 s
    big = (t, tok, np.array([0, n], np.int64), 256, 0.5, 0.0, False)
    t0 = time.perf_counter()
    _sgtkernel.batch(*big)
    dur = time.perf_counter() - t0
    stamps = []
    th = threading.Thread(target=_sgtkernel.batch, args=big)
    th.start()
    while th.is_alive():
        stamps.append(time.perf_counter())
        time.sleep(0.001)
    th.join()
    gaps = np.diff(stamps)
    assert dur > 0.05 and gaps.size > 5 and gaps.max() < 0.5 * dur, (dur, gaps.max())
