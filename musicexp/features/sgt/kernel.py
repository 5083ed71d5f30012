"""Fast exact core of the time-aware Sequence Graph Transform (numpy, plus a compiled kernel).

(About 500 lines on purpose: one algorithm with its input validation and the exactness
arguments each step relies on; split, the invariants would sit apart from the code keeping them.)

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
whole dataset): the compiled kernel in one call, or this numpy core piece by piece.

Accuracy (vs. a brute-force double loop, incl. onsets ~1e5 beats, many ties, big gaps,
alpha 1e-6..10, windows 0..none, up to 200,000 events): relative error <= ~3e-14 per entry;
``C`` is bit-exact. ``W`` is clipped to ``[0, C]`` (exact bounds), which also makes entries with
no pair exactly 0.

Compiled kernel: when the optional Cython extension ``musicexp.features.sgt._kernel`` is built
(setup.py, at ``pip install``), ``pair_sums_batch`` and ``pair_sums`` run it instead (after the
same validation): one sliding-window pass per piece, O(n * tokens in the window); same results
(counts bit-equal, weights ~1e-14 relative). The numpy code above stays as the fallback (no
compiler, ``_USE_COMPILED = False``) and as a second, independent implementation the tests
compare the compiled one against.

Why two implementations and not three: an earlier batched numpy kernel (all pieces vectorised
together, ~500 lines) made the `sgt` step on the 590-piece dataset take 0.06 s; with this
per-piece numpy code it takes 0.18 s, with the compiled kernel 0.04 s (measured 2026-12-02,
docs/benchmarks.md). Every supported install builds the compiled kernel; as a fallback 0.18 s
is cheap, and a third implementation of one formula was more code to trust than the time it
saved, so it was removed.
"""

from __future__ import annotations

import numpy as np

from musicexp.features.sgt.vocab import count_arg

try:  # optional compiled kernel (setup.py); the numpy code below is the fallback
    from musicexp.features.sgt import _kernel as compiled
except ImportError:
    compiled = None

__all__ = ["pair_sums", "pair_sums_batch", "compiled"]

# Use the compiled kernel when it is built; tests set it to False to run the numpy kernel.
_USE_COMPILED = compiled is not None

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
    return count_arg(n_tokens, "n_tokens")


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
    return compiled.batch(
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
    if o.shape[0] < 2 or n == 0:
        e = np.zeros(0, np.intp)
        return e, np.zeros(0, np.int64), np.zeros(0), np.zeros(0)
    if _USE_COMPILED:
        return _compiled(t, tok, o, Tn, a, d)

    # the numpy kernel: pair_sums' core, piece by piece on the piece's own tokens
    out_p, out_q, out_w, out_c = [], [], [], []
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        for k in np.flatnonzero(np.diff(o) >= 2).tolist():
            e0, e1 = int(o[k]), int(o[k + 1])
            tp = tok[e0:e1]
            present = np.flatnonzero(np.bincount(tp, minlength=Tn))
            remap = np.zeros(Tn, np.intp)
            remap[present] = np.arange(present.size)
            W, C = _pair_sums_local(t[e0:e1], remap[tp], present.size, a, d)
            nzi = np.flatnonzero(C)
            u, v = np.divmod(nzi, present.size)
            out_p.append(np.full(nzi.size, k, np.intp))
            out_q.append(present[u].astype(np.int64) * Tn + present[v])
            out_w.append(W.ravel()[nzi])
            out_c.append(C.ravel()[nzi])
    if not out_p:
        e = np.zeros(0, np.intp)
        return e, np.zeros(0, np.int64), np.zeros(0), np.zeros(0)
    return (np.concatenate(out_p), np.concatenate(out_q), np.concatenate(out_w),
            np.concatenate(out_c))
