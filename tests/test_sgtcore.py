"""Tests for the SGT kernel and vocabulary (musicexp.features.sgt.kernel, .vocab): brute-force
equality, the published `sgt` package, vocab, normalisation, validation and memory."""

from __future__ import annotations

import math
import sys
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pytest

try:
    from musicexp.features.sgt import kernel as sgtcore
except ImportError:  # tests run without the package installed: use the repo checkout
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from musicexp.features.sgt import kernel as sgtcore

from musicexp.features.sgt.kernel import pair_sums
from musicexp.features.sgt.vocab import normalize, select_vocab

RTOL = 1e-9
ATOL = 1e-12


def brute_pair_sums(onsets, tokens, n_tokens, alpha, max_dt):
    """Reference: the per-pair double loop, literally the definition."""
    t = [float(x) for x in onsets]
    k = [int(x) for x in tokens]
    W = np.zeros((n_tokens, n_tokens))
    C = np.zeros((n_tokens, n_tokens))
    for i in range(len(t)):
        for j in range(i + 1, len(t)):
            dt = t[j] - t[i]
            if max_dt is not None and dt > max_dt:
                continue
            W[k[i], k[j]] += math.exp(-alpha * dt)
            C[k[i], k[j]] += 1
    return W, C


def rowwise_pair_sums(onsets, tokens, n_tokens, alpha, max_dt):
    """Reference for longer sequences: same formula, vectorised over j for each i."""
    t = np.asarray(onsets, dtype=np.float64)
    k = np.asarray(tokens)
    nk = n_tokens * n_tokens
    W = np.zeros(nk)
    C = np.zeros(nk)
    for i in range(len(t) - 1):
        dt = t[i + 1 :] - t[i]
        m = slice(None) if max_dt is None else dt <= max_dt
        key = k[i] * n_tokens + k[i + 1 :][m]
        W += np.bincount(key, weights=np.exp(-alpha * dt[m]), minlength=nk)
        C += np.bincount(key, minlength=nk)
    return W.reshape(n_tokens, n_tokens), C.reshape(n_tokens, n_tokens)


def make_onsets(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    if kind == "ties":  # many equal onsets (dt = 0 pairs), quarter-beat grid
        return np.sort(rng.integers(0, max(1, n // 4), n)) * 0.25
    if kind == "gaps":  # chords, triplets and big gaps, large onsets
        steps = rng.choice([0.0, 0.0, 0.1, 1 / 3, 0.5, 50.0, 1000.0], n)
        return 1e5 + np.cumsum(steps)
    if kind == "large":  # onsets in the thousands of beats, dense
        return 3000.0 + np.sort(rng.uniform(0, 400, n))
    if kind == "positions":
        return np.arange(n, dtype=np.float64)
    raise AssertionError(kind)


@pytest.fixture
def small_blocks(monkeypatch):
    """Tiny chunks / blocks / super-blocks so that short sequences exercise every code path
    (chunk prefixes, multi-block carry, partial window-start chunks, span splitting) of the
    numpy kernel (forced: the knobs are its own)."""
    monkeypatch.setattr(sgtcore, "_USE_COMPILED", False)

    def apply(chunk_rows, block_rows, max_span):
        monkeypatch.setattr(sgtcore, "_CHUNK_ROWS", chunk_rows)
        monkeypatch.setattr(sgtcore, "_BLOCK_ROWS", block_rows)
        monkeypatch.setattr(sgtcore, "_MAX_SPAN", max_span)

    return apply


KNOBS = [  # (chunk rows, block rows, max alpha*span per super-block)
    (None, 4096, 600.0),  # defaults
    (1, 4096, 600.0),
    (3, 7, 5.0),
    (4, 8, 0.5),
    (5, 40, 50.0),
]


@pytest.mark.parametrize("kind", ["ties", "gaps", "large", "positions"])
@pytest.mark.parametrize("knobs", KNOBS, ids=lambda k: f"h{k[0]}-b{k[1]}-s{k[2]}")
def test_matches_brute_force(kind, knobs, small_blocks):
    small_blocks(*knobs)
    rng = np.random.default_rng(zlib.crc32(repr((kind, knobs)).encode()))
    for trial in range(6):
        n = int(rng.integers(2, 90))
        n_tokens = int(rng.integers(1, 7))
        t = make_onsets(kind, n, rng)
        k = rng.integers(0, n_tokens, n)
        alpha = float(rng.choice([0.0, 0.01, 0.3, 0.8, 3.0, 10.0]))
        for max_dt in [None, 0.0, 0.25, 1 / 3, 2.0, 8.0, 1000.0]:
            W, C = pair_sums(t, k, n_tokens, alpha, max_dt)
            Wb, Cb = brute_pair_sums(t, k, n_tokens, alpha, max_dt)
            assert W.shape == C.shape == (n_tokens, n_tokens)
            assert W.dtype == C.dtype == np.float64
            np.testing.assert_array_equal(C, Cb)
            np.testing.assert_allclose(W, Wb, rtol=RTOL, atol=ATOL)
            assert not W[Cb == 0].any()  # no pair -> exactly 0


@pytest.mark.parametrize(
    "kind,alpha,max_dt",
    [
        ("gaps", 0.01, None),
        ("gaps", 10.0, 8.0),
        ("large", 0.8, 8.0),
        ("large", 0.01, 0.0),
        ("ties", 0.8, 1000.0),
        ("ties", 3.0, 0.25),
        ("positions", 0.01, None),
        ("positions", 1.0, 40.0),
    ],
)
def test_long_sequences_match_reference(kind, alpha, max_dt, backend):
    rng = np.random.default_rng(7)
    n, n_tokens = 1500, 12
    t = make_onsets(kind, n, rng)
    k = rng.integers(0, n_tokens, n)
    W, C = pair_sums(t, k, n_tokens, alpha, max_dt)
    Wb, Cb = rowwise_pair_sums(t, k, n_tokens, alpha, max_dt)
    np.testing.assert_array_equal(C, Cb)
    np.testing.assert_allclose(W, Wb, rtol=RTOL, atol=ATOL)


def test_window_boundary_uses_the_literal_difference(backend):
    # fl(10.175 - 2.175) == 8.0 but 10.175 - 8.0 > 2.175: the pair is inside the window
    W, C = pair_sums(np.array([2.175, 10.175]), np.array([0, 1]), 2, 0.5, 8.0)
    assert C[0, 1] == 1 and W[0, 1] == pytest.approx(math.exp(-0.5 * (10.175 - 2.175)))
    # fl(29.66 - 29.56) > 0.1 although 29.66 - 0.1 <= 29.56: the pair is outside
    W, C = pair_sums(np.array([29.56, 29.66]), np.array([0, 1]), 2, 0.5, 0.1)
    assert C.sum() == 0 and W.sum() == 0


def test_max_dt_zero_pairs_only_simultaneous_events_in_array_order(backend):
    t = np.array([0.0, 0.0, 0.0, 1.0, 1.0, 2.5])
    k = np.array([2, 0, 1, 1, 1, 0])
    W, C = pair_sums(t, k, 3, 0.8, 0.0)
    expected = np.zeros((3, 3))
    for i, j in [(0, 1), (0, 2), (1, 2), (3, 4)]:
        expected[k[i], k[j]] += 1
    np.testing.assert_array_equal(C, expected)
    np.testing.assert_array_equal(W, expected)  # dt = 0 -> weight 1


def test_infinite_window_equals_no_window(backend):
    rng = np.random.default_rng(3)
    t = np.sort(rng.uniform(0, 100, 300))
    k = rng.integers(0, 9, 300)
    a = pair_sums(t, k, 9, 0.5, None)
    b = pair_sums(t, k, 9, 0.5, float("inf"))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


@pytest.mark.parametrize("max_dt", [None, 0.0, 4.0])
def test_alpha_zero_gives_w_equal_c(max_dt, backend):
    rng = np.random.default_rng(11)
    t = 2000.0 + np.sort(rng.integers(0, 200, 700)) * 0.5
    k = rng.integers(0, 20, 700)
    W, C = pair_sums(t, k, 24, 0.0, max_dt)
    np.testing.assert_array_equal(W, C)
    _, Cb = rowwise_pair_sums(t, k, 24, 0.0, max_dt)
    np.testing.assert_array_equal(C, Cb)
    assert not np.shares_memory(W, C)


def test_absent_tokens_are_zero_and_outputs_are_bounded(backend):
    rng = np.random.default_rng(5)
    t = np.sort(rng.uniform(0, 50, 400))
    k = rng.choice([1, 4, 7], 400)
    W, C = pair_sums(t, k, 10, 0.8, 8.0)
    absent = np.setdiff1d(np.arange(10), [1, 4, 7])
    assert not W[absent].any() and not W[:, absent].any() and not C[absent].any()
    assert np.all(W >= 0) and np.all(W <= C)
    assert C.sum() == sum(
        int(np.sum((t[j] - t[:j]) <= 8.0)) for j in range(len(t))
    )  # every windowed pair counted once


def test_trivial_inputs(backend):
    W, C = pair_sums(np.array([]), np.array([], dtype=int), 4, 1.0, None)
    assert W.shape == C.shape == (4, 4) and not W.any() and not C.any()
    W, C = pair_sums(np.array([3.0]), np.array([2]), 4, 1.0, 8.0)
    assert not W.any() and not C.any()
    W, C = pair_sums([0, 1], [0, 0], 1, 1.0, None)  # lists and integer onsets are accepted
    assert C[0, 0] == 1 and W[0, 0] == pytest.approx(math.exp(-1.0))


@pytest.mark.parametrize(
    "change,match",
    [
        (dict(onsets=[0.0, 2.0, 1.0]), "sorted"),
        (dict(onsets=[0.0, np.nan, 1.0]), "finite"),
        (dict(onsets=[0.0, np.inf, np.inf]), "finite"),
        (dict(onsets=np.zeros((3, 1))), "1-D"),
        (dict(tokens=[0, 1, 3]), r"\[0, 3\)"),
        (dict(tokens=[0, -1, 1]), r"\[0, 3\)"),
        (dict(tokens=[0.0, 1.0, 2.0]), "integer"),
        (dict(tokens=[0, 1]), "length"),
        (dict(alpha=-0.1), "alpha"),
        (dict(alpha=float("nan")), "alpha"),
        (dict(alpha="fast"), "alpha"),
        (dict(max_dt=-1.0), "max_dt"),
        (dict(max_dt=float("nan")), "max_dt"),
        (dict(n_tokens=-1), "n_tokens"),
        (dict(n_tokens=2.5), "n_tokens"),
    ],
)
def test_validation_errors(change, match, backend):
    kw = dict(onsets=[0.0, 1.0, 1.0], tokens=[0, 1, 2], n_tokens=3, alpha=0.8, max_dt=8.0)
    kw.update(change)
    with pytest.raises(ValueError, match=match):
        pair_sums(**kw)


# ----------------------------------------------------------------------------- sgt package


@pytest.mark.parametrize(
    "seed,n,n_sym,kappa", [(0, 80, 6, 1.0), (1, 150, 9, 0.3), (2, 120, 5, 5.0)]
)
def test_matches_published_sgt_package(seed, n, n_sym, kappa, backend):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from sgt import SGT

    rng = np.random.default_rng(seed)
    alphabet = list(range(n_sym + 1))  # the last symbol never occurs: its rows/cols are 0
    seq = rng.integers(0, n_sym, n)
    ref = SGT(alphabets=alphabet, kappa=kappa, lengthsensitive=False, flatten=False).fit(seq)
    ref = ref.to_numpy(dtype=np.float64)

    W, C = pair_sums(np.arange(n, dtype=np.float64), seq, len(alphabet), kappa, None)
    vocab = select_vocab(np.bincount(seq, minlength=len(alphabet)), len(alphabet))
    np.testing.assert_array_equal(vocab, np.arange(n_sym))  # absent symbol not selected
    S = normalize(W, C, "sgt", kappa)  # full alphabet (the package keeps absent symbols)
    assert np.max(np.abs(S - ref)) < 1e-9
    ix = np.ix_(vocab, vocab)
    assert np.max(np.abs(normalize(W[ix], C[ix], "sgt", kappa) - ref[ix])) < 1e-9


# ----------------------------------------------------------------------------- select_vocab


def test_select_vocab_ties_and_order():
    counts = np.array([5, 9, 5, 0, 9, 1, 5])
    np.testing.assert_array_equal(select_vocab(counts, 3), [0, 1, 4])  # 9@1, 9@4, then 5@0
    np.testing.assert_array_equal(select_vocab(counts, 4), [0, 1, 2, 4])
    np.testing.assert_array_equal(select_vocab(counts, 1), [1])
    np.testing.assert_array_equal(select_vocab(counts, 0), [])
    assert select_vocab(counts, 3).dtype.kind == "i"


def test_select_vocab_never_selects_zero_counts():
    counts = np.array([0, 3, 0, 2, 0])
    np.testing.assert_array_equal(select_vocab(counts, 4), [1, 3])
    np.testing.assert_array_equal(select_vocab(counts, 100), [1, 3])
    np.testing.assert_array_equal(select_vocab(np.zeros(5), 3), [])
    np.testing.assert_array_equal(select_vocab(np.array([0.5, 2.0, 0.5]), 2), [0, 1])


@pytest.mark.parametrize(
    "counts,top",
    [(np.ones((2, 2)), 1), (np.array([1, -1]), 1), (np.array([1.0, np.nan]), 1), (np.ones(3), -1)],
)
def test_select_vocab_validation(counts, top):
    with pytest.raises(ValueError):
        select_vocab(counts, top)


# ----------------------------------------------------------------------------- normalize


def test_normalize_max_per_piece():
    W = np.array([[[1.0, 4.0], [2.0, 0.0]], [[0.0, 0.0], [0.0, 0.0]], [[3.0, 0.0], [0.0, 6.0]]])
    S = normalize(W, None, "max", 0.8)
    np.testing.assert_allclose(S[0], W[0] / 4.0)
    np.testing.assert_array_equal(S[1], 0.0)  # max == 0: left as is
    np.testing.assert_allclose(S[2], W[2] / 6.0)
    assert S is not W and W[0, 0, 1] == 4.0  # input untouched


def test_normalize_sgt_and_none():
    W = np.array([[[0.5, 0.0], [1.0, 0.2]]])
    C = np.array([[[2.0, 0.0], [1.0, 4.0]]])
    S = normalize(W, C, "sgt", 0.5)
    np.testing.assert_allclose(S, [[[0.0625, 0.0], [1.0, 0.0025]]])
    N = normalize(W, C, "none", 0.5)
    np.testing.assert_array_equal(N, W)
    assert not np.shares_memory(N, W)


def test_normalize_errors():
    W = np.ones((2, 2))
    with pytest.raises(ValueError, match="'max'.*'sgt'.*'none'"):
        normalize(W, W, "l2", 1.0)
    with pytest.raises(ValueError, match="alpha"):
        normalize(W, W, "sgt", 0.0)
    with pytest.raises(ValueError, match="shape"):
        normalize(W, np.ones((3, 3)), "sgt", 1.0)
    with pytest.raises(ValueError, match="shape"):
        normalize(np.ones((2, 3)), None, "max", 1.0)


# ----------------------------------------------------------------------------- memory


@pytest.mark.parametrize("max_dt", [8.0, None])
def test_large_piece_memory_is_bounded(max_dt, backend):
    rng = np.random.default_rng(0)
    n, n_tokens = 200_000, 192
    t = np.cumsum(rng.choice([0.0, 0.0, 0.125, 0.25, 0.5], n))  # exact binary grid
    k = rng.integers(0, n_tokens, n)
    tracemalloc.start()
    try:
        W, C = pair_sums(t, k, n_tokens, 0.8, max_dt)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 200 * 2**20, f"peak {peak / 2**20:.0f} MB"
    if max_dt is None:
        assert C.sum() == n * (n - 1) // 2
    else:
        starts = np.searchsorted(t, t - max_dt, side="left")  # exact on this grid
        assert C.sum() == int(np.sum(np.arange(n) - starts))
    assert np.all(W <= C) and np.isfinite(W).all()
