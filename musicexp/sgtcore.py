"""Fast exact core of the time-aware Sequence Graph Transform (pure numpy).

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

Accuracy (vs. a brute-force double loop, incl. onsets ~1e5 beats, many ties, big gaps,
alpha 1e-6..10, windows 0..none, up to 200,000 events): relative error <= ~3e-14 per entry;
``C`` is bit-exact. ``W`` is clipped to ``[0, C]`` (exact bounds), which also makes entries with
no pair exactly 0.
"""

from __future__ import annotations

import operator

import numpy as np

__all__ = ["NORMALIZE_MODES", "pair_sums", "select_vocab", "normalize"]

NORMALIZE_MODES = ("max", "sgt", "none")

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


def _as_onsets(onsets) -> np.ndarray:
    t = np.asarray(onsets)
    if t.ndim != 1:
        raise ValueError(f"onsets must be 1-D, got shape {t.shape}")
    if t.size and not (np.issubdtype(t.dtype, np.floating) or np.issubdtype(t.dtype, np.integer)):
        raise ValueError(f"onsets must be numeric, got dtype {t.dtype}")
    t = np.ascontiguousarray(t, dtype=np.float64)
    if t.size:
        if not np.all(np.isfinite(t)):
            raise ValueError("onsets must be finite (no NaN/inf)")
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
    try:
        K = operator.index(n_tokens)
    except TypeError:
        raise ValueError(f"n_tokens must be an integer, got {n_tokens!r}") from None
    if K < 0:
        raise ValueError(f"n_tokens must be >= 0, got {K}")
    t = _as_onsets(onsets)
    n = t.shape[0]
    tok = _as_tokens(tokens, n, K)
    a = _as_alpha(alpha)
    d = _as_max_dt(max_dt)

    W = np.zeros((K, K))
    C = np.zeros((K, K))
    if n < 2:
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
