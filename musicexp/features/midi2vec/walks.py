"""node2vec random walks on a CSR graph, every walk advanced together (numpy).

p = q = 1 is the uniform walk MIDI2vec used (one numpy step per walk position); other p, q use
node2vec's second-order bias, sampled exactly by vectorised rejection.
"""

from __future__ import annotations

import numpy as np

__all__ = ["random_walks"]

# Walks advanced together per chunk (bounds temporary memory; fixed so results never depend on it).
_WALK_CHUNK = 1 << 19


def random_walks(indptr, indices, roots, *, num_walks: int = 40, walk_length: int = 10, p: float = 1.0,
                 q: float = 1.0, seed: int = 0) -> np.ndarray:
    """node2vec random walks on a CSR graph (undirected: every edge stored both ways).

    Returns ``(len(roots) * num_walks, walk_length)`` int32 node ids; row ``r * len(roots) + i``
    is round ``r``'s walk from ``roots[i]`` (column 0 is the root); every consecutive pair is
    an edge. Raises ValueError if a root has no neighbour.

    p = q = 1: the next node is uniform over the current node's neighbours; all walks are
    advanced together, one numpy step per position (in chunks of a fixed number of walks,
    so the result never depends on memory settings). Otherwise node2vec's second-order bias:
    from ``cur`` reached from ``prev``, a neighbour ``x`` has weight 1/p if ``x == prev``, 1 if
    ``x`` is a neighbour of ``prev``, 1/q otherwise; sampled exactly by vectorised rejection
    (uniform proposal, accept with probability weight / max weight; slower when the weights
    are very unequal). The first step from the root is uniform. Same seed -> same walks.
    """
    indptr = np.asarray(indptr, dtype=np.int64)
    indices = np.asarray(indices)
    roots = np.asarray(roots, dtype=np.int64).reshape(-1)
    n_nodes = len(indptr) - 1
    if walk_length < 1 or num_walks < 0:
        raise ValueError("walk_length must be >= 1 and num_walks >= 0")
    if p <= 0 or q <= 0:
        raise ValueError("p and q must be > 0")
    if roots.size and (roots.min() < 0 or roots.max() >= n_nodes):
        raise ValueError("root out of range")
    deg = np.diff(indptr)
    if roots.size and walk_length > 1 and (deg[roots] == 0).any():
        bad = roots[deg[roots] == 0][:5].tolist()
        raise ValueError(f"roots without neighbours cannot walk: {bad}")
    starts = np.tile(roots, num_walks)
    out = np.empty((len(starts), walk_length), dtype=np.int32)
    rng = np.random.default_rng(seed)
    biased = not (p == 1 and q == 1)
    if biased:
        w_ret, w_in, w_out = 1.0 / p, 1.0, 1.0 / q
        w_max = max(w_ret, w_in, w_out)
        edge_key = np.repeat(np.arange(n_nodes, dtype=np.int64), deg) * n_nodes + indices  # sorted

    def uniform(cur):
        d = deg[cur]
        off = (rng.random(len(cur)) * d).astype(np.int64)
        np.minimum(off, d - 1, out=off)
        return indices[indptr[cur] + off]

    def has_edge(a, b):
        qk = a * n_nodes + b
        o = np.argsort(qk)  # sorted needles make searchsorted several times faster
        at = np.searchsorted(edge_key, qk[o])
        hit = np.empty(len(qk), dtype=bool)
        hit[o] = edge_key[np.minimum(at, len(edge_key) - 1)] == qk[o]
        return hit

    def biased_step(prev, cur):
        nxt = np.empty_like(cur)
        pending = np.arange(len(cur))
        w_lo, w_hi = min(w_in, w_out), max(w_in, w_out)
        while pending.size:
            t = prev[pending]
            x = uniform(cur[pending])
            u = rng.random(len(pending)) * w_max  # accept iff u < weight(x)
            ret = x == t
            acc = np.where(ret, u < w_ret, u < w_lo)
            if w_lo < w_hi:  # the edge test only matters for u in [w_lo, w_hi)
                band = np.flatnonzero(~ret & (u >= w_lo) & (u < w_hi))
                if band.size:
                    adj = has_edge(t[band], x[band])
                    acc[band] = adj if w_in > w_out else ~adj
            nxt[pending[acc]] = x[acc]
            pending = pending[~acc]
        return nxt

    buf = np.empty((walk_length, min(_WALK_CHUNK, max(len(starts), 1))), dtype=np.int64)
    for a in range(0, len(starts), _WALK_CHUNK):
        cur = starts[a:a + _WALK_CHUNK]
        k = len(cur)
        buf[0, :k] = cur
        for s in range(1, walk_length):
            if biased and s >= 2:
                buf[s, :k] = biased_step(buf[s - 2, :k], buf[s - 1, :k])
            else:
                buf[s, :k] = uniform(buf[s - 1, :k])
        out[a:a + k] = buf[:, :k].T
    return out
