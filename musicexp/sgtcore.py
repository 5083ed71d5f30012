"""Fast exact core of the time-aware Sequence Graph Transform (numpy, plus a compiled kernel).

For sorted events (onset ``t_i``, token ``k_i``) and a decay ``alpha`` we need, over all ordered
pairs ``i < j`` with ``0 <= t_j - t_i <= max_dt``::

    W[k_i, k_j] += exp(-alpha * (t_j - t_i))        C[k_i, k_j] += 1

Algorithm (exact; ~O(n * h + n * V^2 / h) time, no Python loop over events or pairs):

* the window of event ``j`` is ``[s_j, j)`` with ``s_j`` from ``np.searchsorted`` plus an exact
  fix-up, so the predicate is literally ``fl(t_j - t_i) <= max_dt`` (ties, ``max_dt = 0``).
* rows are cut into chunks of ``h`` consecutive rows (``h`` ~ V/4..V/5, 4..64). Pairs whose
  ``i`` lies in ``j``'s own chunk or in the partial chunk at the window start (< 2h per event)
  are enumerated exactly with the brute-force formula (``np.repeat`` range expansion,
  ``np.bincount``).
* the whole chunks in between use the separability of the kernel: the decayed chunk prefix
  ``F[c] = sum_{i < c*h} exp(-alpha (T_c - t_i)) onehot(k_i)`` (``T_c`` = chunk start time)
  gives, summed over the whole chunks ``fc_j .. c_j - 1`` of ``j``'s window,
  ``exp(-alpha (t_j - T_cj)) F[c_j] - exp(-alpha (t_j - T_fc)) F[fc_j]``; so all of them
  together are ``F^T @ Q`` with ``Q`` holding each event's two weights at rows ``c_j`` and
  ``fc_j`` (BLAS, single-threaded tiles; cost ~ n/h * V^2). ``F`` is built by a decayed scan
  (``_decayed_prefix``) vectorised per super-block of span ``alpha * span <= 600`` with
  reference time inside the super-block, so no exponent leaves [-600, 600]: no overflow for
  onsets in the thousands of beats, no subnormals; elsewhere all exponents are <= 0 (values that
  underflow are < 1e-300 in absolute terms). Nothing is rescaled upwards and the only
  subtraction is ``F[c_j] - F[fc_j]`` (windowed case only).
* counts ``C`` use the same structure with weights 1: integer arithmetic in float64, exact.
  ``alpha == 0`` computes only ``C`` (``W == C``).
* tokens are remapped to those present in the piece (V = present tokens, not ``n_tokens``);
  events are processed in blocks of rows so every temporary is small (a 200,000-event piece
  with 192 tokens peaks at ~40 MB).

``pair_sums_batch`` computes the same for many pieces at once (sparse output, one call for a
whole dataset; see the comment block above it): the same decomposition vectorised over pieces.

Accuracy (vs. a brute-force double loop, incl. onsets ~1e5 beats, many ties, big gaps,
alpha 1e-6..10, windows 0..none, up to 200,000 events): relative error <= ~3e-14 per entry;
``C`` is bit-exact. ``W`` is clipped to ``[0, C]`` (exact bounds), which also makes entries with
no pair exactly 0.

Compiled kernel: when the optional Cython extension ``musicexp._sgtkernel`` is built (setup.py,
at ``pip install``), ``pair_sums_batch`` and ``pair_sums`` run it instead (after the same
validation): one sliding-window pass per piece, O(n * tokens in the window), ~4x faster than
the numpy code on real data; same results (counts bit-equal, weights ~1e-14 relative). The numpy
code above stays as the fallback (no compiler, ``_USE_COMPILED = False``) and as a second,
independent implementation the tests compare the compiled one against.
"""

from __future__ import annotations

import operator

import numpy as np

try:  # optional compiled kernel (setup.py); the numpy code below is the fallback
    from musicexp import _sgtkernel
except ImportError:
    _sgtkernel = None

__all__ = ["NORMALIZE_MODES", "pair_sums", "pair_sums_batch", "select_vocab", "normalize"]

NORMALIZE_MODES = ("max", "sgt", "none")

# Use the compiled kernel (musicexp._sgtkernel) when it is built; tests set it to False to run
# the numpy kernel.
_USE_COMPILED = _sgtkernel is not None

# Rows per block of the single pass (keeps every temporary small; page faults on large fresh
# temporaries cost more than the arithmetic here).
_BLOCK_ROWS = 4096
# Max exact local pairs materialised per block (a block has < 2*h pairs per row).
_PAIR_BUDGET = 1 << 16
# Max m*n*k of one BLAS call (OpenBLAS stays single-threaded below 2 * 262144).
_GEMM_MNK = 2 * 262144 - 1
# Rows per chunk (None = automatic, see _chunk_rows); tests set it to exercise edge cases.
_CHUNK_ROWS = None
# Max alpha * (time span) inside one super-block of the chunk-prefix scan: exponents stay in
# [-600, 600], so exp() neither overflows (e^600 * n << 1.8e308) nor goes subnormal.
_MAX_SPAN = 600.0


# --------------------------------------------------------------------------- validation


def _as_n_tokens(n_tokens) -> int:
    try:
        k = operator.index(n_tokens)
    except TypeError:
        raise ValueError(f"n_tokens must be an integer, got {n_tokens!r}") from None
    if k < 0:
        raise ValueError(f"n_tokens must be >= 0, got {k}")
    return k


def _numeric_onsets(onsets) -> np.ndarray:
    """onsets as a contiguous finite float64 1-D array (order not checked)."""
    t = np.asarray(onsets)
    if t.ndim != 1:
        raise ValueError(f"onsets must be 1-D, got shape {t.shape}")
    if t.size and not (np.issubdtype(t.dtype, np.floating) or np.issubdtype(t.dtype, np.integer)):
        raise ValueError(f"onsets must be numeric, got dtype {t.dtype}")
    t = np.ascontiguousarray(t, dtype=np.float64)
    if t.size and not np.all(np.isfinite(t)):
        raise ValueError("onsets must be finite (no NaN/inf)")
    return t


def _as_onsets(onsets) -> np.ndarray:
    t = _numeric_onsets(onsets)
    if t.size:
        if t.size > 1 and np.any(t[1:] < t[:-1]):
            bad = int(np.flatnonzero(t[1:] < t[:-1])[0])
            raise ValueError(
                f"onsets must be sorted ascending (onsets[{bad + 1}]={float(t[bad + 1])!r} < "
                f"onsets[{bad}]={float(t[bad])!r})"
            )
    return t


def _as_tokens(tokens, n: int, n_tokens: int) -> np.ndarray:
    k = np.asarray(tokens)
    if k.ndim != 1:
        raise ValueError(f"tokens must be 1-D, got shape {k.shape}")
    if k.shape[0] != n:
        raise ValueError(f"tokens has length {k.shape[0]} but onsets has length {n}")
    if k.size == 0:
        return k.astype(np.intp)
    if not np.issubdtype(k.dtype, np.integer):
        raise ValueError(f"tokens must have an integer dtype, got {k.dtype}")
    lo, hi = int(k.min()), int(k.max())
    if lo < 0 or hi >= n_tokens:
        raise ValueError(f"tokens must lie in [0, {n_tokens}), got values in [{lo}, {hi}]")
    return k.astype(np.intp, copy=False)


def _as_alpha(alpha) -> float:
    try:
        a = float(alpha)
    except (TypeError, ValueError):
        raise ValueError(f"alpha must be a real number >= 0, got {alpha!r}") from None
    if not np.isfinite(a) or a < 0:
        raise ValueError(f"alpha must be finite and >= 0, got {alpha!r}")
    return a


def _as_max_dt(max_dt) -> float | None:
    if max_dt is None:
        return None
    try:
        d = float(max_dt)
    except (TypeError, ValueError):
        raise ValueError(f"max_dt must be None or a number >= 0, got {max_dt!r}") from None
    if np.isnan(d) or d < 0:
        raise ValueError(f"max_dt must be None or >= 0, got {max_dt!r}")
    return None if np.isinf(d) else d


# --------------------------------------------------------------------------- helpers


def _window_starts(t: np.ndarray, tj: np.ndarray, max_dt: float) -> np.ndarray:
    """For events with onsets ``tj`` (a slice of the sorted ``t``): the smallest ``i`` with
    ``fl(tj - t[i]) <= max_dt`` (so ``s_j <= j``; non-decreasing in ``j``).

    ``np.searchsorted(t, tj - max_dt)`` is right up to the rounding of ``tj - max_dt``; since
    ``fl(t_j - x)`` is monotone in ``x`` the exact answer is found by stepping over whole groups
    of equal onsets (vectorised; almost always zero steps).
    """
    k = np.searchsorted(t, tj - max_dt, side="left")
    while True:  # previous onset group still inside the window: move to its first row
        c = np.flatnonzero(k > 0)
        c = c[(tj[c] - t[k[c] - 1]) <= max_dt]
        if c.size == 0:
            break
        k[c] = np.searchsorted(t, t[k[c] - 1], side="left")
    while True:  # current group outside the window: move to the next group (never past j)
        c = np.flatnonzero((tj - t[k]) > max_dt)
        if c.size == 0:
            break
        k[c] = np.searchsorted(t, t[k[c]], side="right")
    return k


def _chunk_rows(kk: int, windowed: bool) -> int:
    """Rows per chunk h: balances the exact local pairs (~n*h) against the chunk-level work
    (~n*kk/h prefix states, ~n*kk^2/h GEMM flops). Any h >= 1 gives the same result."""
    if _CHUNK_ROWS is not None:
        return max(1, int(_CHUNK_ROWS))
    # measured optimum (power of two): ~kk/5 with a window (>= 8), ~kk/4 without (>= 4)
    h = kk / 5.0 if windowed else kk / 4.0
    lo = 8 if windowed else 4
    return int(min(64, max(lo, 2 ** round(np.log2(max(h, 1.0))))))


def _local_pairs(t, loc, kk, alpha, tJ, lJ, l1, lo1, l2, lo2, Wf, Cf):
    """Exact pairs (i, j) with i in [lo1, lo1 + l1) or [lo2, lo2 + l2), for the events j of the
    block (onsets tJ, tokens lJ); weights by the brute-force formula exp(-alpha (t_j - t_i))."""
    if l2 is not None:
        lens = np.concatenate([l1, l2])
        los = np.concatenate([lo1, lo2])
        tjs = np.concatenate([tJ, tJ])
        bjs = np.concatenate([lJ, lJ])
    else:
        lens, los, tjs, bjs = l1, lo1, tJ, lJ
    ends = np.cumsum(lens)
    m = int(ends[-1]) if ends.size else 0
    if m == 0:
        return
    ends -= lens  # range starts in the expanded arrays
    ends -= los
    ir = np.arange(m)
    ir -= np.repeat(ends, lens)  # source rows i
    key = loc[ir]
    key *= kk
    key += np.repeat(bjs, lens)
    nk = kk * kk
    Cf += np.bincount(key, minlength=nk)
    if Wf is not None:
        dt = np.repeat(tjs, lens)
        dt -= t[ir]
        dt *= -alpha
        np.exp(dt, out=dt)
        Wf += np.bincount(key, weights=dt, minlength=nk)


def _decayed_prefix(T, Z, out, alpha):
    """out[0] is given; out[c+1] = exp(-alpha (T[c+1] - T[c])) out[c] + Z[c] for c < len(Z).

    Vectorised by super-blocks whose span obeys alpha * span <= _MAX_SPAN: with R the
    super-block's first chunk time, out[c] = e^{-alpha (T_c - R)} (out[c0] + cumsum of
    e^{alpha (T_{c'+1} - R)} Z[c']). Stored values are decayed sums (<= n), exponents stay in
    [-600, 600] and nothing is subtracted; a gap longer than the span is one plain step.
    """
    nc = Z.shape[0] + 1
    span = _MAX_SPAN / alpha
    cur = 0
    while cur < nc - 1:
        R = T[cur]
        e = min(int(np.searchsorted(T, R + span, side="right")) - 1, nc - 1)
        while e > cur and alpha * (T[e] - R) > _MAX_SPAN:  # rounding guard
            e -= 1
        if e <= cur:
            out[cur + 1] = np.exp(-alpha * (T[cur + 1] - T[cur])) * out[cur] + Z[cur]
            cur += 1
            continue
        x = alpha * (T[cur + 1 : e + 1] - R)
        Y = out[cur + 1 : e + 1]
        np.multiply(Z[cur:e], np.exp(x)[:, None], out=Y)
        np.cumsum(Y, axis=0, out=Y)
        Y += out[cur]
        Y *= np.exp(-x)[:, None]
        cur = e


def _gemm_tn(F: np.ndarray, Q: np.ndarray) -> np.ndarray:
    """F.T @ Q = sum_c F[c] (x) Q[c], in row tiles small enough (m*n*k < 2**19) that OpenBLAS
    keeps each call single-threaded: for products this small, waking BLAS threads costs far
    more than the arithmetic and is erratic on a busy machine (measured 0.5 ms -> 90 ms)."""
    k = F.shape[1]
    rt = max(1, _GEMM_MNK // max(1, k * Q.shape[1]))
    out = F[:rt].T @ Q[:rt]
    for r in range(rt, F.shape[0], rt):
        out += F[r : r + rt].T @ Q[r : r + rt]
    return out


def _pair_sums_local(t, loc, kk, alpha, max_dt):
    """Core on local tokens 0..kk-1 (t sorted, n >= 2). Returns (W, C), each (kk, kk).

    Rows are grouped in chunks of h consecutive rows (chunk c = rows [c*h, (c+1)*h), start
    time T_c). Event j's window [s_j, j) splits into the part inside its own chunk c_j, a
    partial chunk at the window start (both < h rows: enumerated exactly with the brute-force
    formula) and the whole chunks fc_j .. c_j - 1 in between. For the latter, the decayed chunk
    prefix F[c] = sum_{i < c*h} e^{-alpha (T_c - t_i)} onehot(k_i) gives
        sum_{i in whole chunks} e^{-alpha (t_j - t_i)} onehot(k_i)
            = e^{-alpha (t_j - T_cj)} F[c_j] - e^{-alpha (t_j - T_fc)} F[fc_j],
    so these pairs add up to F^T @ Q, where Q (chunks x kk) holds +weight at row c_j and
    -weight at row fc_j of each event (column k_j): one GEMM at the end. Every exponent there is
    <= 0 except inside _decayed_prefix (bounded by _MAX_SPAN). Counts use the same structure
    with weights 1 and are exact (integers < 2**53). Everything is processed in blocks of rows
    so temporaries stay small (memory ~ 4 * nch * kk floats for F, Q plus O(block * h)).
    """
    n = t.shape[0]
    weighted = alpha > 0.0
    windowed = max_dt is not None
    h = _chunk_rows(kk, windowed)
    nch = -(-n // h)
    T = t[::h]
    nk = kk * kk
    B = h * max(1, min(int(_BLOCK_ROWS), int(_PAIR_BUDGET) // (2 * h)) // h)

    Cf = np.zeros(nk)
    Wf = np.zeros(nk) if weighted else None
    # one allocation for all chunk-level arrays (one large block is cheaper to fault in and
    # lets the allocator reuse it across calls instead of many medium ones)
    ws = np.zeros((4 if weighted else 2, nch, kk))
    FC, QC = ws[0], ws[1]  # count prefix per chunk, count weights per chunk row
    FW = QW = None
    if weighted:
        FW, QW = ws[2], ws[3]  # decayed prefix per chunk, decay weights per chunk row

    for j0 in range(0, n, B):
        j1 = min(j0 + B, n)
        c0 = j0 // h
        c1 = -(-j1 // h)
        tJ = t[j0:j1]
        lJ = loc[j0:j1]
        cj = np.arange(j0, j1) // h

        # prefix states F[c0+1 .. ce] from the (full) chunks c0 .. ce-1 of this block
        ce = min(c1, nch - 1)
        if ce > c0:
            m = (ce - c0) * h
            zk = cj[:m] - c0
            zk *= kk
            zk += lJ[:m]
            zc = np.bincount(zk, minlength=(ce - c0) * kk).reshape(ce - c0, kk)
            np.cumsum(zc, axis=0, out=FC[c0 + 1 : ce + 1])
            FC[c0 + 1 : ce + 1] += FC[c0]
            if weighted:
                zw = T[cj[:m] + 1] - tJ[:m]
                zw *= -alpha
                np.exp(zw, out=zw)
                zw = np.bincount(zk, weights=zw, minlength=(ce - c0) * kk).reshape(ce - c0, kk)
                _decayed_prefix(T[c0 : ce + 1], zw, FW[c0 : ce + 1], alpha)

        # exact local pairs: own chunk [max(s, c*h), j) and partial chunk [s, min(fc*h, c*h))
        jj = np.arange(j0, j1)
        cstart = cj * h
        if windowed:
            s = _window_starts(t, tJ, max_dt)
            fc = -(-s // h)
            lo1 = np.maximum(s, cstart)
            l2 = np.minimum(fc * h, cstart)
            l2 -= s
            np.maximum(l2, 0, out=l2)
            _local_pairs(t, loc, kk, alpha, tJ, lJ, jj - lo1, lo1, l2, s, Wf, Cf)
            mid = np.flatnonzero(fc < cj)
        else:
            _local_pairs(t, loc, kk, alpha, tJ, lJ, jj - cstart, cstart, None, None, Wf, Cf)
            mid = np.flatnonzero(cj > 0)
        if mid.size == 0:
            continue

        # whole chunks in between: + F[c_j] (rows c_j of Q) and - F[fc_j] (rows fc_j of Q)
        cm = cj[mid]
        bm = lJ[mid]
        g0 = int(cm[0])
        gr = int(cm[-1]) + 1 - g0
        gk = cm - g0
        gk *= kk
        gk += bm
        QC[g0 : g0 + gr] += np.bincount(gk, minlength=gr * kk).reshape(gr, kk)
        if weighted:
            w = tJ[mid] - T[cm]
            w *= -alpha
            np.exp(w, out=w)
            QW[g0 : g0 + gr] += np.bincount(gk, weights=w, minlength=gr * kk).reshape(gr, kk)
        if windowed:
            fm = fc[mid]
            f0 = int(fm[0])
            fr = int(fm[-1]) + 1 - f0
            hk = fm - f0
            hk *= kk
            hk += bm
            QC[f0 : f0 + fr] -= np.bincount(hk, minlength=fr * kk).reshape(fr, kk)
            if weighted:
                w = tJ[mid] - T[fm]
                w *= -alpha
                np.exp(w, out=w)
                QW[f0 : f0 + fr] -= np.bincount(hk, weights=w, minlength=fr * kk).reshape(fr, kk)

    CM = _gemm_tn(FC, QC)
    WM = _gemm_tn(FW, QW) if weighted else None
    C = Cf.reshape(kk, kk)
    C += CM  # integer-valued sums of integers (< 2**53): exact
    if not weighted:
        return C.copy(), C
    W = Wf.reshape(kk, kk)
    W += WM
    # exact constraints: 0 <= W <= C (each weight is in [0, 1]) and W == 0 where no pair
    # exists; removes the rounding residue of the F[c_j] - F[fc_j] difference.
    np.clip(W, 0.0, C, out=W)
    return W, C


# --------------------------------------------------------------------------- public API


def pair_sums(
    onsets: np.ndarray,
    tokens: np.ndarray,
    n_tokens: int,
    alpha: float,
    max_dt: float | None,
) -> tuple[np.ndarray, np.ndarray]:
    """For events already sorted (onsets float64 ascending, ties already in their final order),
    over all ordered pairs i < j (array order) with 0 <= onsets[j]-onsets[i] <= max_dt
    (max_dt None = no window): W[tok_i, tok_j] += exp(-alpha*(onsets[j]-onsets[i])),
    C[tok_i, tok_j] += 1. Returns (W, C), both (n_tokens, n_tokens) float64.

    alpha == 0 gives W == C; max_dt == 0 pairs only simultaneous events; max_dt == inf is
    the same as None. Raises ValueError on unsorted / non-finite onsets, tokens out of
    [0, n_tokens), alpha < 0 (or non-finite), max_dt < 0, or mismatched lengths.
    """
    K = _as_n_tokens(n_tokens)
    t = _as_onsets(onsets)
    n = t.shape[0]
    tok = _as_tokens(tokens, n, K)
    a = _as_alpha(alpha)
    d = _as_max_dt(max_dt)

    W = np.zeros((K, K))
    C = np.zeros((K, K))
    if n < 2:
        return W, C
    if _USE_COMPILED:
        _, q, w, c = _compiled(t, tok, np.array([0, n]), K, a, d)
        W.ravel()[q] = w
        C.ravel()[q] = c
        return W, C

    counts = np.bincount(tok, minlength=K)
    present = np.flatnonzero(counts)
    kk = present.shape[0]
    remap = np.zeros(K, dtype=np.intp)
    remap[present] = np.arange(kk)
    loc = remap[tok]

    with np.errstate(over="ignore", under="ignore"):  # only absurd alpha*dt overflow -> exp = 0
        Wl, Cl = _pair_sums_local(t, loc, kk, a, d)
    ix = np.ix_(present, present)
    W[ix] = Wl
    C[ix] = Cl
    return W, C


# --------------------------------------------------------------------------- batched kernel
#
# pair_sums_batch: the same quantities for many pieces at once (pairs never cross pieces),
# sparse out. Pieces go in groups of whole consecutive pieces (~16k events: every temporary
# stays small; on this machine large short-lived temporaries are paid again in page faults
# each time). Inside a group, pair_sums' chunk decomposition, vectorised over all pieces:
#
# * tokens are remapped per piece to its K_p present ones (K = max K_p in the group); pair bins
#   are compact: (piece-in-group * K + u) * K + v, accumulated with np.add.at.
# * events go in chunks of h consecutive events of one piece (h a power of two), with one dummy
#   chunk (onsets -inf) in front of every piece; arrays are slot-major (h, chunks), so every
#   lag inside a chunk is one contiguous slice; padding slots have onset +inf.
# * event j's window [s_j, j) = rows of its own chunk before j (exact: lags 1..h-1 with the
#   literal predicate fl(t_j - t_i) <= max_dt) + chunk fc_j - 1, which holds s_j (exact: its h
#   rows with the predicate; the dummy chunk has none inside) + whole chunks fc_j .. c_j - 1,
#   where fc_j = first chunk of the piece whose start row is inside the window.
# * fc_j: per chunk, a searchsorted on chunk starts (float keys offset per piece: only a guess)
#   checked and fixed with the literal predicate; per event a few forward steps from its
#   chunk's value (t_j >= chunk start), then a search again for the rare long runs.
# * whole chunks, as in pair_sums: decayed chunk prefixes F_W[c] (restarted at each dummy) and
#   plain running counts F_C[c] (no restart needed: only differences inside a piece are used),
#   then per piece one small GEMM F^T Q, Q holding +e^{-alpha(t_j - T_cj)} (counts +1) at row
#   c_j and -e^{-alpha(t_j - T_fcj)} (counts -1) at row fc_j. The prefix is a blocked scan:
#   position-major blocks of _BATCH_SCAN_BLOCK chunks (each step one contiguous slab of all
#   blocks), the carries into the blocks by the same scan one level up.
#   Only factors in [0, 1] and sums of non-negative terms: no overflow; the one subtraction is
#   pair_sums' F[c_j] - F[fc_j]; W is clipped to [0, C] as there. Counts are exact integers.
#
# Cost ~ n * (h + K/h) vectorised element operations, ~300 numpy calls per group and one small
# GEMM per piece: no Python loop over events or pairs. Measured on a real dataset (415k notes,
# 590 pieces, K = 12, window 8 beats, ~40 pairs per note): ~50 ms, vs ~0.3 s for pair_sums
# piece by piece. Long pieces and pieces with many distinct tokens are faster (and bounded in
# memory) in pair_sums: those go there one by one (_BATCH_BIG_*).

# Rows per chunk of the batched kernel (None: automatic; must be a power of two)
_BATCH_CHUNK_ROWS = None
# Chunks per block of the chunk-prefix scan (power of two)
_BATCH_SCAN_BLOCK = 16
# Events per group of whole pieces, and max pieces * K^2 per group (pair accumulators)
_BATCH_GROUP_EVENTS = 1 << 14
_BATCH_GROUP_CELLS = 1 << 18
# Pieces handed to pair_sums one by one instead (measured: faster there, and pair_sums bounds
# its own memory): long pieces, pieces with many distinct tokens, or both together.
_BATCH_BIG_PIECE = 1 << 14  # events
_BATCH_BIG_TOKENS = 64  # distinct tokens in the piece
_BATCH_BIG_WORK = 160_000  # events * distinct tokens


def _batch_chunk_rows(kk: int) -> int:
    """Rows per chunk: balances exact in-chunk pairs (~n*h) against the chunk-level work
    (~n*K/h dense values and ~n*K^2/h GEMM flops). Measured: 4 for K <= ~20, 8 up to ~45."""
    if _BATCH_CHUNK_ROWS is not None:
        h = max(1, int(_BATCH_CHUNK_ROWS))
        if h & (h - 1):
            raise ValueError("_BATCH_CHUNK_ROWS must be a power of two")
        return h
    return int(min(16, max(4, 2 ** round(np.log2(max(kk, 1) / 6.0)))))


def _carry_rows(Z: np.ndarray, G: np.ndarray) -> np.ndarray:
    """Rows Z (n, K), G (n,) in [0, 1]: X[0] = 0, X[r+1] = G[r] X[r] + Z[r] (the carries into
    the blocks of _decayed_chunk_prefix): sequential when short, else the same blocked scan."""
    n, K = Z.shape
    b = max(2, _BATCH_SCAN_BLOCK)
    if n <= 2 * b:
        X = np.empty_like(Z)
        X[0] = 0.0
        for r in range(n - 1):
            np.multiply(G[r], X[r], out=X[r + 1])
            X[r + 1] += Z[r]
        return X
    nb = -(-n // b)
    Zp = np.zeros((nb * b, K))
    Zp[:n] = Z
    Gp = np.zeros(nb * b)
    Gp[:n] = G
    X = np.empty((nb, b, K))
    _decayed_chunk_prefix(np.ascontiguousarray(Zp.reshape(nb, b, K).swapaxes(0, 1)),
                          np.ascontiguousarray(Gp.reshape(nb, b).T), X)
    return X.reshape(nb * b, K)[:n]


def _decayed_chunk_prefix(Z: np.ndarray, d: np.ndarray, out: np.ndarray) -> None:
    """F[0] = 0, F[c+1] = d[c] F[c] + Z[c] over chunks c (d in [0, 1]; d = 0 restarts).

    Z (b, nb, K) and d (b, nb) are position-major: chunk c = B*b + r is [r, B], so each step
    below works on one contiguous slab of all nb blocks at once. Pass 1 gets every block's total
    and decay, the carries into the blocks come from _carry_rows, pass 2 reruns each block from
    its carry. F goes chunk-major into out (nb, b, K) (a strided view is fine). Only products
    of factors in [0, 1] and sums of non-negative terms: no overflow, no cancellation."""
    b, nb, K = Z.shape
    D = np.repeat(d.reshape(-1), K).reshape(b, nb, K)
    F = np.empty_like(Z)
    if nb > 1:
        acc = np.zeros((nb, K))
        G = np.ones(nb)
        for r in range(b - 1):
            acc *= D[r]
            acc += Z[r]
            G *= d[r]
        acc *= D[b - 1]
        acc += Z[b - 1]
        G *= d[b - 1]
        F[0] = _carry_rows(acc, G)
    else:
        F[0] = 0.0
    for r in range(1, b):
        np.multiply(D[r - 1], F[r - 1], out=F[r])
        F[r] += Z[r - 1]
    out[...] = F.swapaxes(0, 1)


def _count_chunk_prefix(Z: np.ndarray, out: np.ndarray) -> None:
    """Exclusive running sum over all chunks (no restart: the pair counts only use differences
    of it inside one piece), same layouts as _decayed_chunk_prefix. Integer-valued: exact."""
    b, nb, K = Z.shape
    F = np.empty_like(Z)
    if nb > 1:
        acc = Z.sum(axis=0)  # block totals
        F[0, 0] = 0.0
        np.cumsum(acc[:-1], axis=0, out=F[0, 1:])
    else:
        F[0] = 0.0
    for r in range(1, b):
        np.add(F[r - 1], Z[r - 1], out=F[r])
    out[...] = F.swapaxes(0, 1)


def _tie_runs(Tc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First and last index of each run of equal chunk start times."""
    nch = Tc.shape[0]
    newg = np.ones(nch, bool)
    np.not_equal(Tc[1:], Tc[:-1], out=newg[1:])
    ar = np.arange(nch)
    gfirst = np.maximum.accumulate(np.where(newg, ar, 0))
    endg = np.ones(nch, bool)
    endg[:-1] = newg[1:]
    glast = np.minimum.accumulate(np.where(endg, ar, nch)[::-1])[::-1]
    return gfirst, glast


def _fix_first(k, x, hi, Tc, gfirst, glast, d) -> None:
    """In place: k := the smallest chunk index k' <= hi of the piece with fl(x - Tc[k']) <= d
    (hi if none), from a guess k <= hi in the same piece. Steps over runs of equal chunk starts;
    the dummy chunk in front of each piece (start -inf) stops the backward steps (x = NaN: no
    step at all)."""
    a = np.arange(k.shape[0])
    while a.size:  # previous chunk start inside the window: step back
        a = a[(x.take(a) - Tc.take(k.take(a) - 1)) <= d]
        if a.size:
            k[a] = gfirst.take(k.take(a) - 1)
    a = np.arange(k.shape[0])
    while a.size:  # chunk start outside the window: step forward (never past hi)
        ka = k.take(a)
        m = ka < hi.take(a)
        m &= (x.take(a) - Tc.take(ka)) > d
        a = a[m]
        if a.size:
            k[a] = np.minimum(glast.take(k.take(a)) + 1, hi.take(a))


def _batch_group(t, tok, offs, T, alpha, d):
    """Pair sums of one group of whole pieces (t sorted inside each piece, offs local with
    offs[0] == 0). Returns (piece-in-group, pair, w, c), sorted by piece then pair."""
    n = t.shape[0]
    P = offs.shape[0] - 1
    lens = offs[1:] - offs[:-1]
    pt = np.repeat(np.arange(0, P * T, T), lens)
    pt += tok
    present = np.bincount(pt, minlength=P * T).reshape(P, T) > 0
    rank = np.cumsum(present, axis=1)
    kk = rank[:, -1].copy()
    K = int(kk.max()) if P else 0
    empty = np.zeros(0, np.intp)
    if K == 0 or n < 2:
        return empty, empty.copy(), np.zeros(0), np.zeros(0)
    rank -= 1
    loc = rank.ravel().take(pt)  # piece-local token (rank among the piece's tokens)
    weighted = alpha > 0.0
    windowed = d is not None
    h = _batch_chunk_rows(K)
    sh = h.bit_length() - 1

    # ---- layout: a dummy chunk in front of each piece, then ceil(n_p / h) chunks of h slots
    ncp = lens + (h - 1)
    ncp >>= sh
    ncp += 1
    cb = np.empty(P + 1, np.intp)
    cb[0] = 0
    np.cumsum(ncp, out=cb[1:])
    nch = int(cb[-1])
    dum = cb[:-1]
    lp = np.arange(n)
    lp -= np.repeat(offs[:-1], lens)  # index inside the piece
    c = np.repeat(dum + 1, lens)
    c += lp >> sh  # chunk of each event
    sm = lp & (h - 1)
    sm *= nch
    sm += c  # slot-major position
    T2 = np.full(h * nch, np.inf)
    T2[sm] = t
    T2 = T2.reshape(h, nch)
    T2[:, dum] = -np.inf
    L2 = np.zeros(h * nch, np.intp)
    L2[sm] = loc
    L2 = L2.reshape(h, nch)
    A2 = L2 + np.repeat(np.arange(0, P * K, K), ncp)
    A2 *= K  # left half of the pair bin of each slot
    Tc = T2[0]  # chunk start times (dummy: -inf)
    nbin = P * K * K
    Cacc = np.zeros(nbin + 1)  # last bin: discarded (masked pairs)
    Wacc = np.zeros(nbin + 1) if weighted else None
    na = -alpha

    # ---- own chunk: pairs (slot r, slot r + lag) of the same chunk
    for lag in range(1, h):
        dt = T2[lag:] - T2[: h - lag]
        ok = dt <= d if windowed else dt < np.inf  # NaN / inf (dummy, padding): never
        key = np.where(ok, A2[: h - lag] + L2[lag:], nbin).ravel()
        np.add.at(Cacc, key, 1.0)
        if weighted:
            dt *= na
            np.exp(dt, out=dt)
            np.add.at(Wacc, key, dt.ravel())

    if windowed:
        # ---- fc: first chunk of the piece whose start is inside the window
        # chunk level first guess: searchsorted on start times offset per piece (approximate
        # keys; the fix-up below uses only the literal predicate)
        first = np.minimum(dum + 1, nch - 1)
        t0 = np.repeat(Tc.take(first), ncp)
        span = np.zeros(P)
        nz = lens > 0
        span[nz] = t[offs[1:][nz] - 1] - t[offs[:-1][nz]]
        off = np.zeros(P)
        np.cumsum(span[:-1] + 2.0, out=off[1:])
        offc = np.repeat(off, ncp)
        gk = Tc - t0
        gk[dum] = -1.0
        gk += offc
        gx = Tc - d
        gx -= t0
        np.maximum(gx, -0.5, out=gx)
        gx += offc
        ar = np.arange(nch)
        cfirst = np.repeat(dum + 1, ncp)  # first real chunk of each chunk's piece
        f = np.searchsorted(gk, gx)
        np.clip(f, cfirst, ar, out=f)  # a guess inside the piece, whatever the rounding
        f[dum] = dum
        xq = Tc.copy()
        xq[dum] = np.nan  # dummy chunks: no step
        runs = None
        bad = (xq - Tc.take(f)) > d  # own start outside: step forward (never past c)
        bad &= f < ar
        bad |= (xq - Tc.take(f - 1)) <= d  # previous start inside: step back
        if bad.any():  # rounding of the keys: exact fix-up by the predicate
            runs = _tie_runs(Tc)
            k = np.flatnonzero(bad)
            fk = f.take(k)
            _fix_first(fk, xq.take(k), k, Tc, runs[0], runs[1], d)
            f[k] = fk
        # event level: t_j >= T_cj, so fc_j >= f[c_j]; step forward (usually 0-1 steps)
        fc = f.take(c)
        xf = Tc.take(fc)
        np.subtract(t, xf, out=xf)  # t_j - T_fc (reused for the weights below)
        m = xf > d
        m &= fc < c
        act = np.flatnonzero(m)
        for _ in range(8):
            if act.size == 0:
                break
            fa = fc.take(act)
            fa += 1
            fc[act] = fa
            xa = t.take(act)
            xa -= Tc.take(fa)
            xf[act] = xa
            m = xa > d
            m &= fa < c.take(act)
            act = act.compress(m)
        if act.size:  # long forward runs (dense past, sparse present): search again
            if runs is None:
                runs = _tie_runs(Tc)
            ca = c.take(act)
            ta = t.take(act)
            gxa = ta - d
            gxa -= t0.take(ca)
            np.maximum(gxa, -0.5, out=gxa)
            gxa += offc.take(ca)
            k = np.clip(np.searchsorted(gk, gxa), cfirst.take(ca), ca)
            _fix_first(k, ta, ca, Tc, runs[0], runs[1], d)
            fc[act] = k
            xf[act] = ta - Tc.take(k)

        # ---- chunk fc - 1 (holds the window start; the dummy chunk for fc = first chunk)
        R = fc - 1
        TR = T2.take(R, axis=1)  # (h, n) onsets t_i of that chunk's rows
        TR -= t  # = -fl(t_j - t_i) exactly
        TRf = TR.ravel()
        sel = np.flatnonzero(TRf >= -d)
        KA = A2.take(R, axis=1)
        KA += loc
        key = KA.ravel().take(sel)
        np.add.at(Cacc, key, 1.0)
        if weighted:
            w = TRf.take(sel)
            w *= alpha
            np.exp(w, out=w)
            np.add.at(Wacc, key, w)
    else:
        fc = np.repeat(dum + 1, lens)
    midm = fc < c  # events with whole chunks in their window

    # ---- whole chunks: chunk prefixes F and one GEMM per piece
    ncomp = 2 if weighted else 1
    S = ncomp * K
    joint = S <= 32  # one GEMM for W and C together (small K), else one each
    M = np.zeros((P, S, S) if joint else (P, ncomp, K, K))
    if midm.any():
        b = _BATCH_SCAN_BLOCK
        nb = -(-nch // b)
        pm = np.arange(nch)
        pm &= b - 1
        pm *= nb
        pm += np.arange(nch) >> (b.bit_length() - 1)  # position-major row of each chunk
        zk = pm.take(c)
        zk *= K
        zk += loc
        Fb = np.empty((nb, b, ncomp, K))  # chunk-major [F_W | F_C]
        ZC = np.zeros((b, nb, K))
        np.add.at(ZC.reshape(-1), zk, 1.0)
        _count_chunk_prefix(ZC, Fb[:, :, ncomp - 1])
        if weighted:
            Tn = np.empty(nch)  # start of the next chunk of the piece (+inf: none)
            Tn[:-1] = Tc[1:]
            Tn[-1] = np.inf
            Tn[dum[1:] - 1] = np.inf
            zw = Tn.take(c)
            zw -= t
            zw *= na
            np.exp(zw, out=zw)  # each event decayed to the next chunk start
            ZW = np.zeros((b, nb, K))
            np.add.at(ZW.reshape(-1), zk, zw)
            dw = Tn - Tc  # inf at piece ends and at dummies: the prefix restarts
            dw *= na
            np.exp(dw, out=dw)
            dpm = np.zeros(b * nb)
            dpm[pm] = dw
            _decayed_chunk_prefix(ZW, dpm.reshape(b, nb), Fb[:, :, 0])
        F = Fb.reshape(nb * b, S)

        Q = np.zeros((nch, S))  # + at c_j, - at fc_j (events without whole chunks: fc_j = c_j)
        Qf = Q.reshape(-1)
        qk = c * S
        qk += loc
        qk2 = fc * S
        qk2 += loc
        if weighted:
            e1 = Tc.take(c)
            np.subtract(t, e1, out=e1)
            e1 *= na
            np.exp(e1, out=e1)
            e1 *= midm  # exactly 0 without whole chunks
            np.add.at(Qf, qk, e1)
            if windowed:  # (no window: F_W = 0 at a piece's first chunk, no minus term)
                xf *= na
                np.exp(xf, out=xf)
                xf *= midm
                np.negative(xf, out=xf)
                np.add.at(Qf, qk2, xf)
            qk += K
            qk2 += K
        np.add.at(Qf, qk, 1.0)  # counts (F_C does not restart: - at fc_j even without window;
        np.add.at(Qf, qk2, -1.0)  # fc_j = c_j cancels exactly)
        for p in np.flatnonzero(ncp > 2).tolist():
            a, e = cb[p] + 1, cb[p + 1]
            if joint and (e - a) * S * S < _GEMM_MNK:
                np.dot(F[a:e].T, Q[a:e], out=M[p])
            elif joint:
                M[p] = _gemm_tn(F[a:e], Q[a:e])
            else:
                for q in range(ncomp):
                    M[p, q] = _gemm_tn(F[a:e, q * K : (q + 1) * K], Q[a:e, q * K : (q + 1) * K])

    # ---- combine, sparse output over the global tokens
    C = Cacc[:nbin].reshape(P, K, K)
    if weighted:
        C += M[:, K:, K:] if joint else M[:, 1]
        W = Wacc[:nbin].reshape(P, K, K)
        W += M[:, :K, :K] if joint else M[:, 0]
        np.clip(W, 0.0, C, out=W)  # exact bounds (see pair_sums)
    else:
        C += M if joint else M[:, 0]
        W = C
    idx = np.flatnonzero(C)
    pp = idx // (K * K)
    r = idx - pp * (K * K)
    u = r // K
    v = r - u * K
    gtok = np.nonzero(present)[1]  # present tokens, piece by piece, ascending
    kb = np.zeros(P + 1, np.intp)
    np.cumsum(kk, out=kb[1:])
    base = kb.take(pp)
    pair = gtok.take(base + u) * T
    pair += gtok.take(base + v)
    return pp, pair, W.ravel().take(idx), C.ravel().take(idx)


def _as_offsets(offsets, n: int) -> np.ndarray:
    o = np.asarray(offsets)
    if o.ndim != 1 or o.shape[0] < 1:
        raise ValueError(f"offsets must be 1-D with at least one entry, got shape {o.shape}")
    if o.size and not np.issubdtype(o.dtype, np.integer):
        raise ValueError(f"offsets must have an integer dtype, got {o.dtype}")
    o = o.astype(np.intp)
    if o[0] != 0 or o[-1] != n:
        raise ValueError(f"offsets must start at 0 and end at len(onsets)={n}, got {o[0]} .. {o[-1]}")
    if np.any(o[1:] < o[:-1]):
        raise ValueError("offsets must be non-decreasing")
    return o


def _compiled(t, tok, offsets, n_tokens, alpha, max_dt):
    """The compiled kernel on validated inputs: sparse (piece, pair, w, c) as pair_sums_batch."""
    return _sgtkernel.batch(
        np.ascontiguousarray(t, dtype=np.float64),
        np.ascontiguousarray(tok, dtype=np.int64),
        np.ascontiguousarray(offsets, dtype=np.int64),
        n_tokens, alpha, np.inf if max_dt is None else max_dt, max_dt is not None,
    )


def pair_sums_batch(
    onsets: np.ndarray,
    tokens: np.ndarray,
    offsets: np.ndarray,
    n_tokens: int,
    alpha: float,
    max_dt: float | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """pair_sums for many pieces at once. Piece k is events offsets[k]:offsets[k+1] (onsets
    float64 ascending inside each piece, ties already in their final order); pairs never cross
    pieces. Returns sparse (piece, pair, w, c): piece (intp), pair = u * n_tokens + v (int64),
    w = W[u, v] and c = C[u, v] (float64) of that piece, for every (u, v) with C > 0, sorted by
    piece then pair: exactly the nonzero entries of pair_sums on each piece (counts bit-equal,
    weights equal up to rounding, ~1e-14 relative).

    Same conventions and errors as pair_sums, plus offsets (1-D integer, non-decreasing, from 0
    to len(onsets)); empty pieces and pieces with one event have no entries.
    """
    Tn = _as_n_tokens(n_tokens)
    t = _numeric_onsets(onsets)
    n = t.shape[0]
    o = _as_offsets(offsets, n)
    tok = _as_tokens(tokens, n, Tn)
    a = _as_alpha(alpha)
    d = _as_max_dt(max_dt)
    if n:
        bad = t[1:] < t[:-1]
        bad[o[1:-1][(o[1:-1] > 0) & (o[1:-1] < n)] - 1] = False  # piece starts may go down
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"onsets must be sorted ascending inside each piece (onsets[{i + 1}]="
                f"{float(t[i + 1])!r} < onsets[{i}]={float(t[i])!r})"
            )
    P = o.shape[0] - 1
    out_p, out_q, out_w, out_c = [], [], [], []
    lens = np.diff(o)
    if P == 0 or n == 0:
        e = np.zeros(0, np.intp)
        return e, np.zeros(0, np.int64), np.zeros(0), np.zeros(0)
    if _USE_COMPILED:
        return _compiled(t, tok, o, Tn, a, d)

    # distinct tokens per piece (upper bound min(n_p, n_tokens) if that table would be large)
    if P * Tn <= 1 << 24:
        pk = np.repeat(np.arange(0, P * Tn, Tn), lens)
        pk += tok
        kk = (np.bincount(pk, minlength=P * Tn).reshape(P, Tn) > 0).sum(axis=1)
    else:
        kk = np.minimum(lens, Tn)
    # pieces for pair_sums (one call each); groups of consecutive other pieces
    big = lens > _BATCH_BIG_PIECE
    big |= kk >= _BATCH_BIG_TOKENS
    big |= lens * kk > _BATCH_BIG_WORK
    kmax = int(kk[~big].max()) if (~big).any() else 1
    pmax = max(1, _BATCH_GROUP_CELLS // max(1, kmax * kmax))
    gid = o[:-1] // _BATCH_GROUP_EVENTS + np.arange(P) // pmax
    brk = np.ones(P, bool)
    brk[1:] = (gid[1:] != gid[:-1]) | big[1:] | big[:-1]
    starts = np.flatnonzero(brk).tolist() + [P]
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        for g0, g1 in zip(starts[:-1], starts[1:]):
            e0, e1 = int(o[g0]), int(o[g1])
            if e1 - e0 < 2:
                continue
            if g1 - g0 == 1 and big[g0]:  # pair_sums' core on the piece's own tokens
                tp = tok[e0:e1]
                present = np.flatnonzero(np.bincount(tp, minlength=Tn))
                remap = np.zeros(Tn, np.intp)
                remap[present] = np.arange(present.size)
                W, C = _pair_sums_local(t[e0:e1], remap[tp], present.size, a, d)
                nzi = np.flatnonzero(C)
                u, v = np.divmod(nzi, present.size)
                out_p.append(np.full(nzi.size, g0, np.intp))
                out_q.append(present[u].astype(np.int64) * Tn + present[v])
                out_w.append(W.ravel()[nzi])
                out_c.append(C.ravel()[nzi])
                continue
            pg, q, w, c = _batch_group(t[e0:e1], tok[e0:e1], o[g0 : g1 + 1] - e0, Tn, a, d)
            pg += g0
            out_p.append(pg)
            out_q.append(q.astype(np.int64, copy=False))
            out_w.append(w)
            out_c.append(c)
    if not out_p:
        e = np.zeros(0, np.intp)
        return e, np.zeros(0, np.int64), np.zeros(0), np.zeros(0)
    return (np.concatenate(out_p), np.concatenate(out_q), np.concatenate(out_w),
            np.concatenate(out_c))


def select_vocab(token_counts: np.ndarray, top_vocab: int) -> np.ndarray:
    """token_counts: (n_tokens,) counts summed over the TRAINING pieces of a fold.
    Return the indices of the `top_vocab` most frequent tokens, ties broken by the smaller
    token index (deterministic), in ascending token order. Tokens with zero count are never
    selected (so the result can be shorter than top_vocab)."""
    c = np.asarray(token_counts)
    if c.ndim != 1:
        raise ValueError(f"token_counts must be 1-D, got shape {c.shape}")
    if c.size and not (np.issubdtype(c.dtype, np.integer) or np.issubdtype(c.dtype, np.floating)):
        raise ValueError(f"token_counts must be numeric, got dtype {c.dtype}")
    c = c.astype(np.float64)
    if np.any(np.isnan(c)) or np.any(c < 0):
        raise ValueError("token_counts must be non-negative and not NaN")
    try:
        top = operator.index(top_vocab)
    except TypeError:
        raise ValueError(f"top_vocab must be an integer, got {top_vocab!r}") from None
    if top < 0:
        raise ValueError(f"top_vocab must be >= 0, got {top}")
    order = np.argsort(-c, kind="stable")  # count descending, smaller index first on ties
    sel = order[:top]
    sel = sel[c[sel] > 0]
    return np.sort(sel).astype(np.intp)


def normalize(W: np.ndarray, C: np.ndarray, mode: str, alpha: float) -> np.ndarray:
    """W, C: (..., V, V) already restricted to the vocabulary (vectorised over leading piece axis).
    mode 'max': S = W / max(W) per piece when max > 0 (older pipeline);
    'sgt': S = (W / C) ** (1/alpha) where C > 0 else 0 (Ranjan et al.; kappa = alpha);
    'none': W. Raise ValueError naming the allowed modes otherwise.

    Always returns a new float64 array. 'sgt' needs alpha > 0 and C of W's shape; C may be
    None for the other modes.
    """
    if mode not in NORMALIZE_MODES:
        raise ValueError(
            f"unknown normalize mode {mode!r}; allowed modes: "
            + ", ".join(repr(m) for m in NORMALIZE_MODES)
        )
    W = np.array(W, dtype=np.float64, copy=True)
    if W.ndim < 2 or W.shape[-1] != W.shape[-2]:
        raise ValueError(f"W must have shape (..., V, V), got {W.shape}")
    if mode == "none":
        return W
    if mode == "max":
        if W.size == 0:
            return W
        mx = W.max(axis=(-2, -1), keepdims=True)
        np.divide(W, mx, out=W, where=mx > 0)
        return W
    # mode == "sgt"
    a = _as_alpha(alpha)
    if a == 0.0:
        raise ValueError("normalize mode 'sgt' needs alpha > 0 (it takes the 1/alpha root)")
    if C is None:
        raise ValueError("normalize mode 'sgt' needs the pair counts C")
    C = np.asarray(C, dtype=np.float64)
    if C.shape != W.shape:
        raise ValueError(f"C has shape {C.shape} but W has shape {W.shape}")
    S = np.zeros_like(W)
    pos = C > 0
    S[pos] = (W[pos] / C[pos]) ** (1.0 / a)
    return S
