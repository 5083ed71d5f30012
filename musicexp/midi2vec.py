"""MIDI2vec (Lisena et al., Semantic Web 13(3), 2022) as pure numpy functions.

Three stages, each a plain function (the `graph` and `embed` steps call them):

* :func:`build_graph` - the MIDI2vec graph of a whole collection (REFERENCE.md), as a CSR
  adjacency. Note grouping is vectorised: one sort of all onsets, then numpy work that is
  about linear in the number of notes (see :func:`group_notes`); the older tool's grouping
  loop was quadratic.
* :func:`random_walks` - node2vec walks; p = q = 1 is the uniform walk MIDI2vec used, every
  position of every walk is one numpy step. Other p, q use node2vec's second-order bias by
  vectorised rejection sampling.
* :func:`word2vec` - gensim's skip-gram over the walks; ``workers=1`` is bit-reproducible
  across processes.

Conventions chosen here (and why)
---------------------------------
* Rounding: every class (duration, velocity, tempo) uses ``np.round``, i.e. round half to even
  (the same as Python's ``round`` on floats): 0.25 s -> ``dur:2``, 125 bpm -> ``tempo:12``.
  The duration class is ``np.round(max_duration_s * (1 / duration_step_s))``: with the default
  step that is REFERENCE.md's ``round(10 * x)`` bit for bit (``1 / 0.1 == 10.0`` exactly,
  whereas ``x / 0.1`` can differ from ``10 * x`` in the last bit at exact halves).
* Groups span all tracks of a piece, drums included (drum pitches become ``notes/<p>`` nodes
  like any other pitch; REFERENCE.md makes no exception for them).
* Only the first ``max_groups`` groups of a piece (time order) count: they are linked to the
  piece and are the only occurrences that contribute edges (pitches, duration, velocity). A
  group node's velocity edges are the union over its linked occurrences (velocity is not part
  of a group's identity). A group that only occurs beyond the cut is not a node.
* Node ids: kinds in the order of :data:`KINDS`; piece nodes first, in the order of `pieces`
  (so ``piece_node == arange(len(pieces))``); within every other kind, nodes are sorted by
  their key string (numpy string order, so ``notes/100`` < ``notes/21``). Ids therefore do not
  depend on the order of the pieces, except for the piece nodes themselves. Only values that
  are linked to something are nodes (e.g. no ``notes/<p>`` for a pitch that only occurs beyond
  every piece's cut).
* Program keys: ``program:<p>`` for the program of every non-drum track with notes,
  ``program:drums`` for drum tracks (whatever their program number).
"""

from __future__ import annotations

import os
import tempfile
import zlib

import numpy as np

__all__ = ["KINDS", "KIND_CODE", "build_graph", "group_notes", "random_walks", "word2vec", "stable_hash"]

KINDS = ("piece", "group", "note", "dur", "vel", "program", "tempo", "timesig")
KIND_CODE = {k: i for i, k in enumerate(KINDS)}
_DRUMS = 128  # program code used for drum tracks

# Walks advanced together per chunk (bounds temporary memory; fixed so results never depend on it).
_WALK_CHUNK = 1 << 19


# --------------------------------------------------------------------------- grouping


def _concat_ranges(starts: np.ndarray, lens: np.ndarray) -> np.ndarray:
    """concatenate(arange(s, s + n) for s, n in zip(starts, lens)), without a Python loop."""
    starts, lens = np.asarray(starts, np.int64), np.asarray(lens, np.int64)
    first = np.cumsum(lens) - lens
    return np.arange(int(lens.sum()), dtype=np.int64) + np.repeat(starts - first, lens)


def group_notes(piece_idx, onset_s, window: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
    """Note groups by the anchor rule, for notes of many pieces at once.

    Notes are sorted by (piece, onset_s) (ties keep input order). Within a piece, the first
    note opens a group (its *anchor*); a following note joins the current group if
    ``onset_s - anchor_onset <= window``, otherwise it opens the next group. So notes at 0,
    0.006 and 0.012 s make two groups: {0, 0.006} and {0.012}.

    Returns ``(order, starts)``: ``order`` holds note indices in sorted order; ``starts`` the
    positions in ``order`` where groups begin (ascending, ``starts[0] == 0``); group ``g`` is
    ``order[starts[g]:starts[g + 1]]`` (the last one runs to the end).

    Cost: one lexsort, then O(n). Runs of notes with consecutive gaps ``<= window`` but a
    total span ``> window`` ("chains") are resolved exactly: the next anchor after note ``i``
    is found by a vectorised bisection inside the run, and the anchors are the orbit of the
    run's first note under that map, marked by pointer doubling (O(m log L) for m chained
    notes in runs of length <= L). Every comparison is literally ``t_j - t_a <= window``.
    """
    piece_idx = np.asarray(piece_idx)
    t_all = np.asarray(onset_s, dtype=np.float64)
    if piece_idx.shape != t_all.shape or t_all.ndim != 1:
        raise ValueError("piece_idx and onset_s must be 1-D arrays of the same length")
    n = len(t_all)
    order = np.lexsort((t_all, piece_idx))
    if n == 0:
        return order, np.zeros(0, np.int64)
    if np.isnan(t_all).any():
        raise ValueError("onset_s contains NaN")
    t = t_all[order]
    pc = piece_idx[order]
    is_anchor = np.empty(n, dtype=bool)
    is_anchor[0] = True
    # a new piece or a gap > window always opens a group (the anchor is never later than the
    # previous note, and float subtraction is monotone)
    is_anchor[1:] = (pc[1:] != pc[:-1]) | ((t[1:] - t[:-1]) > window)
    cstarts = np.flatnonzero(is_anchor)
    cends = np.append(cstarts[1:], n)
    chained = np.flatnonzero((t[cends - 1] - t[cstarts]) > window)
    if chained.size:
        _resolve_chains(t, cstarts[chained], cends[chained], window, is_anchor)
    return order, np.flatnonzero(is_anchor)


def _resolve_chains(t, cs, ce, window, is_anchor) -> None:
    """Mark the anchors inside runs [cs, ce) of sorted onsets `t` (in place in `is_anchor`)."""
    lens = ce - cs
    m = int(lens.sum())
    run = np.repeat(np.arange(len(cs)), lens)
    lstart = np.cumsum(lens) - lens  # run starts, local positions
    local = np.arange(m)
    pos = _concat_ranges(cs, lens)  # global sorted positions
    tt = t[pos]
    end = (lstart + lens)[run]  # local exclusive end of each note's run
    # nxt[i] = first j in (i, end) with tt[j] - tt[i] > window, else end  (vectorised bisection)
    lo = local + 1
    hi = end.copy()
    active = lo < hi
    while active.any():
        mid = (lo + hi) >> 1
        cond = (tt[np.minimum(mid, m - 1)] - tt) > window
        hi = np.where(active & cond, mid, hi)
        lo = np.where(active & ~cond, mid + 1, lo)
        active = lo < hi
    nxt = np.append(np.where(lo >= end, m, lo), m)  # m = sentinel (leaves the run), fixed point
    # anchors = orbit of each run's first note under nxt: pointer doubling, then mark top-down
    jumps = [nxt]
    max_len = int(lens.max())
    while (1 << len(jumps)) < max_len:
        j = jumps[-1]
        jumps.append(j[j])
    mark = np.zeros(m + 1, dtype=bool)
    mark[lstart] = True
    for j in reversed(jumps):
        mark[j[mark]] = True
    is_anchor[pos[mark[:m]]] = True


# --------------------------------------------------------------------------- graph


def _piece_index(notes: dict, pieces: list[dict]) -> np.ndarray:
    n = len(np.asarray(notes["onset_s"]))
    offsets = notes.get("offsets")
    if offsets is None:
        offsets = np.concatenate([[0], np.cumsum([int(p["n_notes"]) for p in pieces])])
    offsets = np.asarray(offsets, dtype=np.int64)
    if len(offsets) != len(pieces) + 1 or offsets[0] != 0 or offsets[-1] != n or (np.diff(offsets) < 0).any():
        raise ValueError(
            f"note offsets do not match: {len(offsets)} offsets ending at {offsets[-1] if len(offsets) else None} "
            f"for {len(pieces)} pieces and {n} notes"
        )
    return np.repeat(np.arange(len(pieces), dtype=np.int64), np.diff(offsets))


def _unique_int(a: np.ndarray) -> np.ndarray:
    """Sorted unique values of an int array (sort + diff; faster here than np.unique's hash path)."""
    a = np.sort(a)
    if a.size:
        a = a[np.concatenate([[True], a[1:] != a[:-1]])]
    return a


def _rank_by_key(keys: np.ndarray) -> np.ndarray:
    """rank[i] = position of keys[i] in string order (keys are unique)."""
    o = np.argsort(keys, kind="stable")
    rank = np.empty(len(keys), dtype=np.int64)
    rank[o] = np.arange(len(keys))
    return rank


def _str_array(items) -> np.ndarray:
    items = list(items)
    return np.array(items, dtype=str) if items else np.zeros(0, dtype="<U1")


def build_graph(notes: dict, pieces: list[dict], *, max_groups: int = 600, group_window_s: float = 0.01,
                duration_step_s: float = 0.1, velocity_bins: int = 10, tempo_step_bpm: float = 10.0) -> dict:
    """The MIDI2vec graph (REFERENCE.md) of a whole collection, undirected and unweighted.

    `notes` is the `notes` artifact's column dict (needs pitch, velocity, program, is_drum,
    onset_s, duration_s and offsets; without offsets, ``pieces[i]["n_notes"]`` are used);
    `pieces` its piece list (id, tempo_bpm, time_signatures). See the module docstring for the
    rules, rounding and node order.

    Returns a dict of numpy arrays: indptr (int64), indices (int32) - CSR adjacency,
    symmetric, no duplicate edges, no self loops, neighbours sorted; node_kind (int8 codes,
    see KINDS); node_key (str array: 'piece:<id>', 'group:60-64-67|d5', 'notes/60', 'dur:5',
    'vel:6', 'program:0' / 'program:drums', 'tempo:12', 'timesig:4/4'); piece_node (int64,
    node index of each piece, in the order of `pieces`, equal to arange(len(pieces))).
    """
    if max_groups < 0:
        raise ValueError("max_groups must be >= 0")
    if not pieces:
        raise ValueError("no pieces")
    ids = [str(p["id"]) for p in pieces]
    if len(set(ids)) != len(ids):
        raise ValueError("piece ids must be unique")
    n_pieces = len(pieces)
    piece = _piece_index(notes, pieces)
    onset_s = np.asarray(notes["onset_s"], dtype=np.float64)
    pitch = np.asarray(notes["pitch"]).astype(np.int64)
    if pitch.size and (pitch.min() < 0 or pitch.max() > 127):
        raise ValueError("pitches must lie in 0..127")
    velocity = np.asarray(notes["velocity"], dtype=np.float64)
    duration_s = np.asarray(notes["duration_s"], dtype=np.float64)
    program = np.asarray(notes["program"]).astype(np.int64)
    is_drum = np.asarray(notes["is_drum"]).astype(bool)

    # ---- note groups, their rank in the piece, and the cut
    order, starts = group_notes(piece, onset_s, group_window_s)
    n_groups = len(starts)
    gpiece = piece[order[starts]] if n_groups else np.zeros(0, np.int64)
    first_group = np.searchsorted(gpiece, np.arange(n_pieces))
    keep = (np.arange(n_groups) - first_group[gpiece]) < max_groups
    sizes = np.diff(np.append(starts, len(order)))
    note_keep = np.repeat(keep, sizes)  # in sorted order
    korder = order[note_keep]  # notes of kept groups, sorted
    ksizes = sizes[keep]
    kstarts = np.cumsum(ksizes) - ksizes  # group starts within korder
    kpiece = gpiece[keep]
    n_kept = len(kstarts)

    # ---- features of kept group occurrences
    if n_kept:
        max_dur = np.maximum.reduceat(duration_s[korder], kstarts)
        mean_vel = np.add.reduceat(velocity[korder], kstarts) / ksizes
        kp = pitch[korder]
        bit = np.left_shift(np.uint64(1), (kp & 63).astype(np.uint64))
        zero = np.uint64(0)
        lo_bits = np.bitwise_or.reduceat(np.where(kp < 64, bit, zero), kstarts)
        hi_bits = np.bitwise_or.reduceat(np.where(kp >= 64, bit, zero), kstarts)
    else:
        max_dur = mean_vel = np.zeros(0)
        kp = np.zeros(0, np.int64)
        lo_bits = hi_bits = np.zeros(0, np.uint64)
    dclass = np.round(max_dur * (1.0 / duration_step_s)).astype(np.int64)
    vclass = np.round(velocity_bins * mean_vel / 127.0).astype(np.int64)

    # ---- group identity = (pitch set, duration class); uid per kept occurrence
    if n_kept:
        o = np.lexsort((dclass, hi_bits, lo_bits))
        new = np.ones(n_kept, dtype=bool)
        new[1:] = (np.diff(lo_bits[o]) != 0) | (np.diff(hi_bits[o]) != 0) | (np.diff(dclass[o]) != 0)
        uid_sorted = np.cumsum(new) - 1
        occ_uid = np.empty(n_kept, np.int64)
        occ_uid[o] = uid_sorted
        rep = o[new]  # one occurrence per unique group
    else:
        occ_uid = rep = np.zeros(0, np.int64)
    n_unique = len(rep)
    u_dclass = dclass[rep]
    # (unique group, pitch) pairs, sorted by group then pitch, from one occurrence per group
    if n_kept:
        rep_note = _concat_ranges(kstarts[rep], ksizes[rep])  # positions in korder
        gp = _unique_int(np.repeat(np.arange(n_unique, dtype=np.int64), ksizes[rep]) * 128 + kp[rep_note])
    else:
        gp = np.zeros(0, np.int64)
    gp_uid, gp_pitch = gp // 128, gp % 128
    cuts = np.searchsorted(gp_uid, np.arange(n_unique + 1)).tolist()
    pstr = [str(i) for i in range(128)]
    toks = [pstr[c] for c in gp_pitch.tolist()]
    group_keys = _str_array(
        "group:" + "-".join(toks[a:b]) + "|d" + str(d) for a, b, d in zip(cuts[:-1], cuts[1:], u_dclass.tolist())
    )

    # ---- nodes of every kind: (keys, local->rank) ; local indices per kind
    def intern(values, fmt):
        uniq, inv = np.unique(values, return_inverse=True)
        keys = _str_array(fmt(v) for v in uniq.tolist())
        return keys, inv.reshape(-1)

    note_keys, gp_note = intern(gp_pitch, lambda v: f"notes/{v}")
    dur_keys, u_dur = intern(u_dclass, lambda v: f"dur:{v}")
    vbase = int(vclass.min()) if n_kept else 0
    vspan = int(vclass.max()) - vbase + 1 if n_kept else 1
    uv = _unique_int(occ_uid * vspan + (vclass - vbase))  # unique (group, velocity class) pairs
    uv_uid, uv_vel = uv // vspan, uv % vspan + vbase
    vel_keys, uv_velnode = intern(uv_vel, lambda v: f"vel:{v}")
    if len(program) and (program.min() < 0 or program[~is_drum].max(initial=0) > 127):
        raise ValueError("programs must lie in 0..127")
    used = np.zeros((n_pieces, 129), dtype=bool)  # (piece, program code) pairs, no sort needed
    used[piece, np.where(is_drum, _DRUMS, program)] = True
    pcode = np.flatnonzero(used)
    pp_piece, pp_code = pcode // 129, pcode % 129
    prog_keys, pp_prog = intern(pp_code, lambda v: "program:drums" if v == _DRUMS else f"program:{v}")
    tempo_piece = np.array([i for i, p in enumerate(pieces) if p.get("tempo_bpm") is not None], dtype=np.int64)
    bpm = np.array([float(pieces[i]["tempo_bpm"]) for i in tempo_piece.tolist()], dtype=np.float64)
    tclass = np.round(bpm / tempo_step_bpm).astype(np.int64)
    tempo_keys, tp_tempo = intern(tclass, lambda v: f"tempo:{v}")
    ts_pairs = sorted({(i, str(ts)) for i, p in enumerate(pieces) for ts in (p.get("time_signatures") or [])})
    ts_piece = np.array([i for i, _ in ts_pairs], dtype=np.int64)
    ts_keys, ts_ts = intern(_str_array(s for _, s in ts_pairs), lambda v: f"timesig:{v}")

    piece_keys = _str_array(f"piece:{i}" for i in ids)
    per_kind = {
        "piece": (piece_keys, np.arange(n_pieces, dtype=np.int64)),
        "group": (group_keys, None),
        "note": (note_keys, None),
        "dur": (dur_keys, None),
        "vel": (vel_keys, None),
        "program": (prog_keys, None),
        "tempo": (tempo_keys, None),
        "timesig": (ts_keys, None),
    }
    gid = {}  # kind -> global id of each local index
    all_keys, all_kinds = [], []
    base = 0
    for kind in KINDS:
        keys, rank = per_kind[kind]
        if rank is None:
            rank = _rank_by_key(keys)
        gid[kind] = base + rank
        sorted_keys = np.empty_like(keys)
        sorted_keys[rank] = keys
        all_keys.append(sorted_keys)
        all_kinds.append(np.full(len(keys), KIND_CODE[kind], dtype=np.int8))
        base += len(keys)
    n_nodes = base

    # ---- edges (one direction each), then symmetric CSR
    src = [
        gid["piece"][kpiece], gid["group"][gp_uid], gid["group"], gid["group"][uv_uid],
        gid["piece"][pp_piece], gid["piece"][tempo_piece], gid["piece"][ts_piece],
    ]
    dst = [
        gid["group"][occ_uid], gid["note"][gp_note], gid["dur"][u_dur], gid["vel"][uv_velnode],
        gid["program"][pp_prog], gid["tempo"][tp_tempo], gid["timesig"][ts_ts],
    ]
    u = np.concatenate([np.asarray(a, np.int64) for a in src])
    v = np.concatenate([np.asarray(a, np.int64) for a in dst])
    indptr, indices = _csr_undirected(u, v, n_nodes)
    return {
        "indptr": indptr,
        "indices": indices,
        "node_kind": np.concatenate(all_kinds),
        "node_key": np.concatenate(all_keys) if n_nodes else np.zeros(0, "<U1"),
        "piece_node": gid["piece"].astype(np.int64),
    }


def _csr_undirected(u: np.ndarray, v: np.ndarray, n_nodes: int) -> tuple[np.ndarray, np.ndarray]:
    keep = u != v
    u, v = u[keep], v[keep]
    key = _unique_int(np.concatenate([u * n_nodes + v, v * n_nodes + u]))
    rows = key // n_nodes
    indptr = np.zeros(n_nodes + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n_nodes), out=indptr[1:])
    return indptr, (key % n_nodes).astype(np.int32)


# --------------------------------------------------------------------------- walks


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


# --------------------------------------------------------------------------- word2vec


def stable_hash(s: str) -> int:
    """Process-independent string hash for gensim's per-word initial vectors (crc32)."""
    return zlib.crc32(s.encode("utf-8"))


def _token_width(n_nodes: int) -> int:
    return max(1, len(str(max(n_nodes - 1, 0))))


def _write_corpus(walks: np.ndarray, path: str, width: int, chunk: int = 1 << 16) -> None:
    """One walk per line, tokens = node ids zero-padded to `width` digits (vectorised bytes)."""
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    n_cols = walks.shape[1]
    with open(path, "wb") as fh:
        for a in range(0, len(walks), chunk):
            w = walks[a:a + chunk].astype(np.int64)
            line = np.empty((len(w), n_cols, width + 1), dtype=np.uint8)
            line[:, :, :width] = (w[:, :, None] // powers) % 10 + ord("0")
            line[:, :, width] = ord(" ")
            line[:, -1, width] = ord("\n")
            fh.write(line.tobytes())


class _WalkCorpus:
    """Re-iterable corpus of token lists (gensim's corpus_iterable mode)."""

    def __init__(self, walks: np.ndarray, tokens: list[str]):
        self.walks, self.tokens = walks, tokens

    def __iter__(self):
        tok = self.tokens.__getitem__
        for a in range(0, len(self.walks), 1 << 14):
            for row in self.walks[a:a + (1 << 14)].tolist():
                yield list(map(tok, row))


def word2vec(walks: np.ndarray, n_nodes: int, *, dim: int = 100, window: int = 5, epochs: int = 5,
             negative: int = 5, workers: int = 2, seed: int = 0, alpha: float = 0.025,
             min_alpha: float = 0.0001, sample: float = 1e-3, corpus: str = "file") -> np.ndarray:
    """gensim Word2Vec skip-gram (sg=1, negative sampling, min_count=1) over the walks.

    Returns ``(n_nodes, dim)`` float32 vectors indexed by node id (zeros for a node never
    walked). Other gensim settings are its defaults (alpha 0.025 -> 0.0001, sample 1e-3,
    ns_exponent 0.75), as MIDI2vec/node2vec used them.

    Tokens are node ids zero-padded to a fixed width. The vocabulary is counted with numpy
    (``build_vocab_from_freq``), so the walks are not scanned by Python. ``corpus="file"``
    (default, faster) writes the walks once to a temporary text file and trains with gensim's
    ``corpus_file`` mode (Cython reads it, no GIL); ``corpus="iterable"`` streams token lists.

    Reproducibility: with ``workers=1`` the vectors are bit-identical across processes for the
    same walks, n_nodes and seed (tested with different PYTHONHASHSEED values). gensim < 4
    seeded each word's initial vector with ``hashfxn(word + str(seed))``, whose default
    ``hash`` is randomised per process; gensim 4.x (4.4 here) instead fills the whole matrix
    from ``np.random.default_rng(seed)`` in vocabulary order (which is deterministic here:
    descending count, ties by node id) and no longer calls ``hashfxn`` there. We still pass
    the process-independent :func:`stable_hash` so that no gensim path can depend on
    ``PYTHONHASHSEED``. With ``workers > 1`` gensim is NOT bit-reproducible (threads update
    shared weights in a racy order; in file mode each worker also trains on its own byte range
    of the file).
    """
    from gensim.models import Word2Vec

    walks = np.asarray(walks)
    if walks.ndim != 2:
        raise ValueError("walks must be a 2-D array (n_walks, walk_length)")
    if corpus not in ("file", "iterable"):
        raise ValueError("corpus must be 'file' or 'iterable'")
    out = np.zeros((n_nodes, dim), dtype=np.float32)
    if walks.size == 0:
        return out
    if walks.min() < 0 or walks.max() >= n_nodes:
        raise ValueError("walks hold node ids outside 0..n_nodes-1")
    width = _token_width(n_nodes)
    counts = np.bincount(walks.reshape(-1).astype(np.int64), minlength=n_nodes)
    walked = np.flatnonzero(counts)
    freq = {f"{i:0{width}d}": int(counts[i]) for i in walked.tolist()}
    model = Word2Vec(
        vector_size=dim, window=window, min_count=1, sg=1, hs=0, negative=negative, workers=workers,
        seed=seed, hashfxn=stable_hash, alpha=alpha, min_alpha=min_alpha, sample=sample, epochs=epochs,
    )
    model.build_vocab_from_freq(freq, corpus_count=len(walks))
    if corpus == "file":
        with tempfile.TemporaryDirectory(prefix="musicexp-w2v-") as tmp:
            path = os.path.join(tmp, "walks.txt")
            _write_corpus(walks, path, width)
            model.train(corpus_file=path, total_words=int(walks.size), total_examples=len(walks), epochs=epochs)
    else:
        tokens = [f"{i:0{width}d}" for i in range(n_nodes)]
        model.train(corpus_iterable=_WalkCorpus(walks, tokens), total_examples=len(walks), epochs=epochs)
    idx = np.array([int(k) for k in model.wv.index_to_key], dtype=np.int64)
    out[idx] = model.wv.vectors
    return out
