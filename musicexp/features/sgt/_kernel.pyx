# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, nonecheck=False
"""Compiled kernel of musicexp.features.sgt.kernel.pair_sums_batch: one sliding-window pass per piece.

Private module: musicexp.features.sgt.kernel validates the inputs and dispatches here when the extension is built
(see that module's docstring for the definition of W and C). Build: setup.py (Cython,
optional extension, never -ffast-math: Neumaier sums and the literal window predicate rely on
IEEE arithmetic).

Per piece: its present tokens (ascending) are remapped to 0..V-1; W and C are dense V x V
buffers stored transposed (row = token of the later event j). Window state per local token u:
cnt[u] (events of u in the window) and acc[u] = sum of e_i = exp(alpha (t_i - ref)) over them,
kept as a Neumaier (compensated) sum; tokens with cnt > 0 are in an "active" list, so event j
costs O(distinct tokens in its window) (pieces with <= _DENSE_V tokens loop over all V instead:
vectorised, same sums bit for bit since absent tokens hold exact zeros). For each event j:

1. windowed: pop events s from the front while fl(t_j - t_s) > max_dt (the literal
   predicate); cnt -= 1, acc -= e_s (the oldest, smallest terms); cnt == 0 resets acc to 0.
2. if x = alpha (t_j - ref) > _REBASE: rebase ref = t_j (multiply acc and the stored e of the
   window by exp(-x), in two normal factors if needed; values < _TINY go to 0: no subnormal
   arithmetic, no overflow since every e <= exp(_REBASE)).
3. f = exp(-x) (one exp per distinct onset); W[u, v] += acc[u] f, C[u, v] += cnt[u].
4. add j: e_j = 1 / f.

Each product acc * f carries a relative error of ~ eps * (|x_i| + |x_j| + few) <= ~3e-14;
subtractions only remove the oldest (smallest) terms of a compensated sum; counts are exact
integers. alpha == 0: W = C. W is clipped to [0, C] (exact bounds).
"""

from libc.math cimport exp, fabs
from libc.stdint cimport int64_t
from libc.stdlib cimport free, malloc, qsort, realloc
from libc.string cimport memcpy, memset

import numpy as np

cdef extern from *:
    """
    #if defined(__FAST_MATH__)
    #error "musicexp.features.sgt._kernel must not be built with -ffast-math (Neumaier sums, window predicate)"
    #endif
    """

# max alpha * (t_j - ref) before a rebase: bounds the rounding of the exponents (error ~ eps *
# _REBASE per term) and keeps every e <= e^64; a rebase costs O(active + window), rare.
cdef double _REBASE = 64.0
# values below this after a rebase are set to 0 (no subnormal arithmetic; dropped terms are
# < 1e-300 in absolute terms)
cdef double _TINY = 1e-300
# pieces with at most this many distinct tokens use the dense pair loop (see _run; measured:
# faster up to ~24 tokens, the active list beyond)
cdef Py_ssize_t _DENSE_V = 24
# exponents above this in one rebase: everything scaled goes below _TINY (e <= e^64 * n)
cdef double _ZAP = 1400.0


cdef int _cmp_i64(const void* a, const void* b) noexcept nogil:
    cdef int64_t x = (<const int64_t*> a)[0]
    cdef int64_t y = (<const int64_t*> b)[0]
    return (x > y) - (x < y)


cdef inline void _nadd(double* hi, double* lo, double x) noexcept nogil:
    """Neumaier: (hi + lo) += x with the rounding error of the sum kept in lo."""
    cdef double h = hi[0]
    cdef double s = h + x
    if fabs(h) >= fabs(x):
        lo[0] += (h - s) + x
    else:
        lo[0] += (x - s) + h
    hi[0] = s


cdef struct Out:
    Py_ssize_t n
    Py_ssize_t cap
    int64_t* p
    int64_t* q
    double* w
    double* c


cdef void* _grow(void* buf, Py_ssize_t nbytes, int* err) noexcept nogil:
    """realloc keeping buf on failure (err set)."""
    cdef void* x = realloc(buf, nbytes if nbytes > 0 else 1)
    if x == NULL:
        err[0] = 1
        return buf
    return x


cdef int _out_reserve(Out* o, Py_ssize_t need) noexcept nogil:
    """Room for `need` more entries (capacity doubled). 0 on success, -1 out of memory."""
    cdef Py_ssize_t cap
    cdef int err = 0
    if o.n + need <= o.cap:
        return 0
    cap = max(2 * o.cap, o.n + need, 1024)
    o.p = <int64_t*> _grow(o.p, cap * sizeof(int64_t), &err)
    o.q = <int64_t*> _grow(o.q, cap * sizeof(int64_t), &err)
    o.w = <double*> _grow(o.w, cap * sizeof(double), &err)
    o.c = <double*> _grow(o.c, cap * sizeof(double), &err)
    if err:
        return -1
    o.cap = cap
    return 0


cdef struct Work:
    int64_t* remap    # n_tokens: global -> local token of the current piece (-1: absent)
    int64_t* present  # local -> global token (ascending)
    Py_ssize_t* loc   # local token per event of the piece
    double* ew        # e_i of the events of the piece (windowed)
    double* hi        # acc[u] = hi[u] + lo[u] (Neumaier sum)
    double* lo
    double* accv      # hi + lo, read by the pair loop
    int64_t* cnt      # events of u in the window
    Py_ssize_t* act   # active tokens (cnt > 0)
    Py_ssize_t* pos   # position of u in act
    double* Wt        # V x V, transposed: Wt[v * V + u] = W[u, v]
    int64_t* Ct
    Py_ssize_t vcap
    Py_ssize_t wcap


cdef void _work_free(Work* b) noexcept nogil:
    free(b.remap)
    free(b.present)
    free(b.loc)
    free(b.ew)
    free(b.hi)
    free(b.lo)
    free(b.accv)
    free(b.cnt)
    free(b.act)
    free(b.pos)
    free(b.Wt)
    free(b.Ct)


cdef int _run(const double* t, const int64_t* tok, const int64_t* off, Py_ssize_t P,
              Py_ssize_t n_tokens, double alpha, double max_dt, bint windowed, Out* o,
              Work* b) noexcept nogil:
    """The whole batch (buffers in b: allocated here, freed by the caller).
    0 ok, -1 out of memory, -2 token out of range."""
    cdef bint weighted = alpha > 0.0
    cdef int err = 0
    cdef Py_ssize_t p, a, m, V, u, v, k, jj, s, z, idx, na, need, z0
    cdef int64_t kt, cv, base
    cdef double tj, x, xl, f, ej, s1, s2, h, wv
    cdef bint dense
    cdef double* row
    cdef int64_t* crow
    cdef int64_t* remap
    cdef int64_t* present
    cdef Py_ssize_t* loc
    cdef double* ew
    cdef double* hi
    cdef double* lo
    cdef double* accv
    cdef int64_t* cnt
    cdef Py_ssize_t* act
    cdef Py_ssize_t* pos
    cdef double* Wt
    cdef int64_t* Ct

    for k in range(n_tokens):
        b.remap[k] = -1
    remap = b.remap
    loc = b.loc
    ew = b.ew

    for p in range(P):
        a = off[p]
        m = off[p + 1] - a
        if m < 2:
            continue

        # ---- present tokens, ascending, remapped to 0..V-1
        need = m if m < n_tokens else n_tokens
        if b.vcap < need:
            b.vcap = need
            b.present = <int64_t*> _grow(b.present, need * sizeof(int64_t), &err)
            b.hi = <double*> _grow(b.hi, need * sizeof(double), &err)
            b.lo = <double*> _grow(b.lo, need * sizeof(double), &err)
            b.accv = <double*> _grow(b.accv, need * sizeof(double), &err)
            b.cnt = <int64_t*> _grow(b.cnt, need * sizeof(int64_t), &err)
            b.act = <Py_ssize_t*> _grow(b.act, need * sizeof(Py_ssize_t), &err)
            b.pos = <Py_ssize_t*> _grow(b.pos, need * sizeof(Py_ssize_t), &err)
            if err:
                return -1
        present = b.present
        hi = b.hi
        lo = b.lo
        accv = b.accv
        cnt = b.cnt
        act = b.act
        pos = b.pos
        V = 0
        for jj in range(m):
            kt = tok[a + jj]
            if kt < 0 or kt >= n_tokens:
                return -2
            if remap[kt] < 0:
                remap[kt] = 0
                present[V] = kt
                V += 1
        qsort(present, V, sizeof(int64_t), _cmp_i64)
        for u in range(V):
            remap[present[u]] = u
        for jj in range(m):
            loc[jj] = remap[tok[a + jj]]
        for u in range(V):
            remap[present[u]] = -1

        if V * V > b.wcap:
            b.wcap = V * V
            b.Wt = <double*> _grow(b.Wt, b.wcap * sizeof(double), &err)
            b.Ct = <int64_t*> _grow(b.Ct, b.wcap * sizeof(int64_t), &err)
            if err:
                return -1
        Wt = b.Wt
        Ct = b.Ct
        memset(Ct, 0, V * V * sizeof(int64_t))
        if weighted:
            memset(Wt, 0, V * V * sizeof(double))
        for u in range(V):
            cnt[u] = 0
            hi[u] = 0.0
            lo[u] = 0.0
            accv[u] = 0.0

        # ---- one pass over the events. Few tokens (V <= _DENSE_V): the pair loop runs over all
        # V tokens (fixed length, vectorised; absent ones add exact zeros); else over the
        # active list only. Both give bit-identical sums.
        dense = V <= _DENSE_V
        na = 0
        s = 0
        z = 0
        x = 0.0
        xl = -1.0  # exponent of the cached f, ej (ties: no new exp)
        f = 1.0
        ej = 1.0
        h = t[a]  # reference time of the exponents
        for jj in range(m):
            tj = t[a + jj]
            v = loc[jj]
            if windowed:  # (1) events leaving the window: literal predicate
                while s < jj and (tj - t[a + s]) > max_dt:
                    u = loc[s]
                    cnt[u] -= 1
                    if cnt[u] == 0:
                        hi[u] = 0.0
                        lo[u] = 0.0
                        accv[u] = 0.0
                        if not dense:
                            na -= 1
                            k = act[na]  # the last active token takes u's place
                            act[pos[u]] = k
                            pos[k] = pos[u]
                    elif weighted:
                        _nadd(&hi[u], &lo[u], -ew[s])
                        accv[u] = hi[u] + lo[u]
                    s += 1
            row = Wt + v * V
            crow = Ct + v * V
            if weighted:
                x = alpha * (tj - h)
                if x > _REBASE:  # (2) rebase to ref = t_j
                    if x > _ZAP:
                        s1 = 0.0
                        s2 = 0.0
                    elif x > 700.0:  # exp(-x) would be subnormal: two normal factors
                        s1 = exp(-0.5 * x)
                        s2 = s1
                    else:
                        s1 = exp(-x)
                        s2 = 1.0
                    for k in range(V if dense else na):
                        u = k if dense else act[k]
                        hi[u] = (hi[u] * s1) * s2
                        lo[u] = (lo[u] * s1) * s2
                        if hi[u] < _TINY:
                            hi[u] = 0.0
                            lo[u] = 0.0
                        accv[u] = hi[u] + lo[u]
                    if windowed:
                        if z < s:
                            z = s
                        z0 = z
                        for idx in range(z0, jj):
                            ew[idx] = (ew[idx] * s1) * s2
                            if ew[idx] < _TINY:
                                ew[idx] = 0.0
                                if idx == z:  # [s, z): all 0, skipped by later rebases
                                    z = idx + 1
                    h = tj
                    x = 0.0
                if x != xl:
                    f = exp(-x)
                    ej = 1.0 / f  # f >= e^-64: exact to ~1 ulp, one exp per onset
                    xl = x
                if dense:  # (3) pairs (i in window, j)
                    for u in range(V):
                        row[u] += accv[u] * f
                    for u in range(V):
                        crow[u] += cnt[u]
                else:
                    for k in range(na):
                        u = act[k]
                        row[u] += accv[u] * f
                        crow[u] += cnt[u]
                if windowed:  # (4) add j
                    ew[jj] = ej
                _nadd(&hi[v], &lo[v], ej)
                accv[v] = hi[v] + lo[v]
            elif dense:
                for u in range(V):
                    crow[u] += cnt[u]
            else:
                for k in range(na):
                    u = act[k]
                    crow[u] += cnt[u]
            if not dense and cnt[v] == 0:
                pos[v] = na
                act[na] = v
                na += 1
            cnt[v] += 1

        # ---- entries with C > 0, row-major (u asc, v asc) = pair ascending
        need = V * V
        if m * (m - 1) // 2 < need:
            need = m * (m - 1) // 2
        if _out_reserve(o, need) < 0:
            return -1
        for u in range(V):
            base = present[u] * n_tokens
            for v in range(V):
                cv = Ct[v * V + u]
                if cv > 0:
                    o.p[o.n] = p
                    o.q[o.n] = base + present[v]
                    o.c[o.n] = <double> cv
                    if weighted:
                        wv = Wt[v * V + u]
                        if wv < 0.0:
                            wv = 0.0
                        elif wv > <double> cv:
                            wv = <double> cv
                        o.w[o.n] = wv
                    else:
                        o.w[o.n] = <double> cv
                    o.n += 1
    return 0


def batch(const double[::1] t, const int64_t[::1] tok, const int64_t[::1] offsets,
          Py_ssize_t n_tokens, double alpha, double max_dt, bint windowed):
    """Sparse pair sums of all pieces: (piece intp, pair int64, w float64, c float64), sorted
    by piece then pair, entries with C > 0 only. Inputs as validated by
    kernel.pair_sums_batch (t sorted inside each piece; max_dt ignored unless windowed).
    The loop runs without the GIL."""
    cdef Py_ssize_t n = t.shape[0]
    cdef Py_ssize_t P = offsets.shape[0] - 1
    cdef Py_ssize_t p, maxlen = 0, ln
    cdef int rc
    cdef Out o
    cdef Work b
    cdef const double* tp = NULL
    cdef const int64_t* kp = NULL
    if tok.shape[0] != n:
        raise ValueError("tokens and onsets differ in length")
    if P < 0 or offsets[0] != 0 or offsets[P] != n:
        raise ValueError("offsets must start at 0 and end at len(onsets)")
    for p in range(P):
        ln = offsets[p + 1] - offsets[p]
        if ln < 0:
            raise ValueError("offsets must be non-decreasing")
        if ln > maxlen:
            maxlen = ln
    if n_tokens < 0:
        raise ValueError("n_tokens must be >= 0")
    if not alpha >= 0.0:
        raise ValueError("alpha must be >= 0")
    if windowed and not max_dt >= 0.0:
        raise ValueError("max_dt must be >= 0")
    if n:
        tp = &t[0]
        kp = &tok[0]
    memset(&o, 0, sizeof(Out))
    memset(&b, 0, sizeof(Work))
    try:
        b.remap = <int64_t*> malloc((n_tokens if n_tokens > 0 else 1) * sizeof(int64_t))
        b.loc = <Py_ssize_t*> malloc((maxlen if maxlen > 0 else 1) * sizeof(Py_ssize_t))
        b.ew = <double*> malloc((maxlen if maxlen > 0 else 1) * sizeof(double))
        if b.remap == NULL or b.loc == NULL or b.ew == NULL:
            raise MemoryError()
        with nogil:
            rc = _run(tp, kp, &offsets[0], P, n_tokens, alpha, max_dt, windowed, &o, &b)
        if rc == -1:
            raise MemoryError()
        if rc == -2:
            raise ValueError(f"tokens must lie in [0, {n_tokens})")
        pp = np.empty(o.n, np.int64)
        qq = np.empty(o.n, np.int64)
        ww = np.empty(o.n, np.float64)
        cc = np.empty(o.n, np.float64)
        if o.n:
            _copy_out(&o, pp, qq, ww, cc)
        return pp.astype(np.intp, copy=False), qq, ww, cc
    finally:
        _work_free(&b)
        free(o.p)
        free(o.q)
        free(o.w)
        free(o.c)


cdef void _copy_out(Out* o, int64_t[::1] pp, int64_t[::1] qq, double[::1] ww,
                    double[::1] cc) noexcept:
    memcpy(&pp[0], o.p, o.n * sizeof(int64_t))
    memcpy(&qq[0], o.q, o.n * sizeof(int64_t))
    memcpy(&ww[0], o.w, o.n * sizeof(double))
    memcpy(&cc[0], o.c, o.n * sizeof(double))
