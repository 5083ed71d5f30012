"""The MIDI2vec graph of a whole collection (docs/midi2vec.md), as a CSR adjacency.

(Just over 500 lines on purpose: the grouping rules, node kinds and edges of one graph, the
older pipeline's and the original code's variants side by side, so each departure is read
next to the rule it departs from.)

Note grouping is vectorised: one sort of all onsets, then numpy work that is about linear in
the number of notes (see :func:`group_notes`); the older tool's grouping loop was quadratic.
Walks and word2vec are in :mod:`.walks` and :mod:`.word2vec`.

Conventions chosen here (and why)
---------------------------------
* Rounding: every class (duration, velocity, tempo) uses ``np.round``, i.e. round half to even
  (the same as Python's ``round`` on floats): 0.25 s -> ``dur:2``, 125 bpm -> ``tempo:12``.
  The duration class is ``np.round(max_duration_s * (1 / duration_step_s))``: with the default
  step that is the published ``round(10 * x)`` bit for bit (``1 / 0.1 == 10.0`` exactly,
  whereas ``x / 0.1`` can differ from ``10 * x`` in the last bit at exact halves).
* Groups span all tracks of a piece, drums included (drum pitches become ``notes/<p>`` nodes
  like any other pitch; the published method makes no exception for them).
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

import numpy as np

from musicexp.features.midi2vec import METADATA_KINDS

__all__ = ["KINDS", "KIND_CODE", "RHYTHM_KINDS", "build_graph", "group_notes", "onset_groups", "kinds_for",
           "round_class", "first_header_facts"]

KINDS = ("piece", "group", "note", "dur", "vel", "program", "tempo", "timesig", "ioi", "beat")
KIND_CODE = {k: i for i, k in enumerate(KINDS)}
#: optional rhythm node kinds: option value (``steps.graph.rhythm``) -> node kind
RHYTHM_KINDS = {"ioi": "ioi", "beat_position": "beat"}
_BASE_KINDS = KINDS[:8]  # the kinds of the graph without rhythm nodes (node kind codes 0..7)
_DRUMS = 128  # program code used for drum tracks
#: rhythm classes: twelfths of a quarter note (sixteenths and triplets land on classes); IOIs
#: of 4 quarter notes or more share the top class
_RHYTHM_STEPS_PER_BEAT = 12
_IOI_TOP = 4 * _RHYTHM_STEPS_PER_BEAT


def kinds_for(rhythm=()) -> tuple[str, ...]:
    """The node kinds a graph built with these rhythm options can hold, in node-id order."""
    return _BASE_KINDS + tuple(RHYTHM_KINDS[r] for r in RHYTHM_KINDS if r in set(rhythm))


def round_class(x, rounding: str = "half_even") -> np.ndarray:
    """Integer classes of ``x``: ``half_even`` = numpy's round (halves to even, as Python's
    ``round``); ``half_up`` = JavaScript's ``Math.round`` (halves towards +infinity), computed
    exactly as ``floor(x) + (x - floor(x) >= 0.5)`` (``x - floor(x)`` is exact in floating point,
    unlike ``floor(x + 0.5)``, which rounds 0.49999999999999994 up)."""
    x = np.asarray(x, dtype=np.float64)
    if rounding == "half_even":
        return np.round(x).astype(np.int64)
    if rounding != "half_up":
        raise ValueError(f"rounding={rounding!r}: allowed half_even, half_up")
    r = np.floor(x)
    return (r + (x - r >= 0.5)).astype(np.int64)


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


def _first_true(a: np.ndarray, b: np.ndarray, pred, n: int) -> np.ndarray:
    """Per element, the first j in [a, b) with ``pred(j)`` true (``pred`` false then true along
    j), else b; a vectorised bisection (``pred`` gets an index array aligned with a and b, every
    index in 0..n-1)."""
    lo, hi = a.astype(np.int64).copy(), b.astype(np.int64).copy()
    active = lo < hi
    while active.any():
        mid = (lo + hi) >> 1
        cond = pred(np.minimum(np.where(active, mid, a), n - 1))
        hi = np.where(active & cond, mid, hi)
        lo = np.where(active & ~cond, mid + 1, lo)
        active = lo < hi
    return lo


def onset_groups(piece_idx, onset_s, window: float = 0.01) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Note groups as the original MIDI2vec code makes them, for notes of many pieces at once.

    One group per distinct onset ``u`` of a piece (exact float equality): every note of the
    piece with ``abs(onset - u) < window`` (strict). Windows of close onsets overlap, so a note
    can belong to several groups (notes at 0, 0.006 and 0.012 s make three groups: {0, 0.006},
    {0, 0.006, 0.012} and {0.006, 0.012}). On quantised MIDI (distinct onsets >= window apart)
    these are the notes of each onset, as with the anchor rule.

    Returns ``(members, starts, anchor)``: group ``g`` is ``members[starts[g]:starts[g + 1]]``
    (note indices sorted by onset, ties in input order); groups are sorted by (piece, onset);
    ``anchor[g]`` is the first note (input order) at the group's own onset ``u``. The bounds are
    found by bisection on the literal comparisons ``onset - u > -window`` and
    ``onset - u < window`` (monotone in onset, as float subtraction is).
    """
    piece_idx = np.asarray(piece_idx)
    t_all = np.asarray(onset_s, dtype=np.float64)
    if piece_idx.shape != t_all.shape or t_all.ndim != 1:
        raise ValueError("piece_idx and onset_s must be 1-D arrays of the same length")
    order = np.lexsort((t_all, piece_idx))
    n = len(t_all)
    if n == 0:
        return order, np.zeros(0, np.int64), np.zeros(0, np.int64)
    if np.isnan(t_all).any():
        raise ValueError("onset_s contains NaN")
    t, pc = t_all[order], piece_idx[order]
    distinct = np.ones(n, dtype=bool)
    distinct[1:] = (pc[1:] != pc[:-1]) | (t[1:] != t[:-1])
    u_pos = np.flatnonzero(distinct)
    u, up = t[u_pos], pc[u_pos]
    pstart, pend = np.searchsorted(pc, up, "left"), np.searchsorted(pc, up, "right")
    lo = _first_true(pstart, u_pos, lambda j: (t[j] - u) > -window, n)
    hi = _first_true(u_pos + 1, pend, lambda j: (t[j] - u) >= window, n)
    sizes = hi - lo
    members = order[_concat_ranges(lo, sizes)]
    starts = np.cumsum(sizes) - sizes
    return members, starts, order[u_pos]


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


def build_graph(notes: dict, pieces: list[dict], *, max_groups: int | None = 600, group_window_s: float = 0.01,
                duration_step_s: float = 0.1, velocity_bins: int = 10, tempo_step_bpm: float = 10.0,
                omit=(), grouping: str = "anchor", rounding: str = "half_even", drums: str = "shared",
                rhythm=()) -> dict:
    """The MIDI2vec graph of a whole collection, undirected and unweighted.

    `notes` is the `notes` artifact's column dict (needs pitch, velocity, program, is_drum,
    onset_s, duration_s and offsets; without offsets, ``pieces[i]["n_notes"]`` are used);
    `pieces` its piece list (id, tempo_bpm, time_signatures). See the module docstring for the
    rules, rounding and node order.

    Returns a dict of numpy arrays: indptr (int64), indices (int32) - CSR adjacency,
    symmetric, no duplicate edges, no self loops, neighbours sorted; node_kind (int8 codes,
    see KINDS); node_key (str array: 'piece:<id>', 'group:60-64-67|d5', 'notes/60', 'dur:5',
    'vel:6', 'program:0' / 'program:drums', 'tempo:12', 'timesig:4/4'); piece_node (int64,
    node index of each piece, in the order of `pieces`, equal to arange(len(pieces))).
    ``omit``: names of :data:`METADATA_KINDS` whose nodes and edges the graph leaves out.

    Options of the published code (docs/midi2vec.md, "Departures"): ``max_groups=None`` links
    every group; ``grouping="onset"`` makes one group per distinct onset (:func:`onset_groups`)
    instead of the anchor rule; ``rounding="half_up"`` rounds every class as JavaScript's
    ``Math.round`` (the velocity class then as ``round(bins * mean(velocity / 127))``);
    ``drums="program"`` links a drum track's program number instead of ``program:drums``. A
    piece's ``tempo_bpm`` of None gives it no tempo node. ``rhythm``: optional node kinds
    (:data:`RHYTHM_KINDS`, needs the ``onset`` column in beats): ``ioi`` links each group to
    ``ioi:<k>``, the onset interval to the piece's next group in twelfths of a quarter note
    (``k`` capped at 48, the last group has none); ``beat_position`` links it to ``beat:<k>``,
    its onset within the beat in twelfths (0..11, a position rounding to the next beat is 0).
    The defaults compute the graph as before these options existed, bit for bit.
    """
    if grouping not in ("anchor", "onset"):
        raise ValueError(f"grouping={grouping!r}: allowed anchor, onset")
    if rounding not in ("half_even", "half_up"):
        raise ValueError(f"rounding={rounding!r}: allowed half_even, half_up")
    if drums not in ("shared", "program"):
        raise ValueError(f"drums={drums!r}: allowed shared, program")
    bad_r = set(rhythm) - set(RHYTHM_KINDS)
    if bad_r:
        raise ValueError(f"rhythm: {sorted(bad_r)} are not rhythm node kinds {sorted(RHYTHM_KINDS)}")
    bad = set(omit) - set(METADATA_KINDS)
    if bad:
        raise ValueError(f"omit: {sorted(bad)} are not metadata node kinds {sorted(METADATA_KINDS)}")
    if max_groups is not None and max_groups < 0:
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
    if grouping == "anchor":
        order, starts = group_notes(piece, onset_s, group_window_s)
        anchor = order[starts]
    else:
        order, starts, anchor = onset_groups(piece, onset_s, group_window_s)
    n_groups = len(starts)
    gpiece = piece[anchor] if n_groups else np.zeros(0, np.int64)
    first_group = np.searchsorted(gpiece, np.arange(n_pieces))
    if max_groups is None:
        keep = np.ones(n_groups, dtype=bool)
    else:
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
        if rounding == "half_even":
            mean_vel = np.add.reduceat(velocity[korder], kstarts) / ksizes
        else:  # as the original: the mean of velocity / 127, times the bins
            mean_vel = np.add.reduceat(velocity[korder] / 127.0, kstarts) / ksizes
        kp = pitch[korder]
        bit = np.left_shift(np.uint64(1), (kp & 63).astype(np.uint64))
        zero = np.uint64(0)
        lo_bits = np.bitwise_or.reduceat(np.where(kp < 64, bit, zero), kstarts)
        hi_bits = np.bitwise_or.reduceat(np.where(kp >= 64, bit, zero), kstarts)
    else:
        max_dur = mean_vel = np.zeros(0)
        kp = np.zeros(0, np.int64)
        lo_bits = hi_bits = np.zeros(0, np.uint64)
    if rounding == "half_even":
        dclass = np.round(max_dur * (1.0 / duration_step_s)).astype(np.int64)
        vclass = np.round(velocity_bins * mean_vel / 127.0).astype(np.int64)
    else:
        dclass = round_class(max_dur * (1.0 / duration_step_s), rounding)
        vclass = round_class(mean_vel * velocity_bins, rounding)

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
    if "velocity" in omit:
        uv = uv[:0]
    uv_uid, uv_vel = uv // vspan, uv % vspan + vbase
    vel_keys, uv_velnode = intern(uv_vel, lambda v: f"vel:{v}")
    checked = program if drums == "program" else program[~is_drum]
    if len(program) and (program.min() < 0 or checked.max(initial=0) > 127):
        raise ValueError("programs must lie in 0..127")
    used = np.zeros((n_pieces, 129), dtype=bool)  # (piece, program code) pairs, no sort needed
    used[piece, np.where(is_drum & (drums == "shared"), _DRUMS, program)] = True
    pcode = np.flatnonzero(used) if "program" not in omit else np.zeros(0, np.int64)
    pp_piece, pp_code = pcode // 129, pcode % 129
    prog_keys, pp_prog = intern(pp_code, lambda v: "program:drums" if v == _DRUMS else f"program:{v}")
    tempo_piece = np.array([i for i, p in enumerate(pieces) if p.get("tempo_bpm") is not None and "tempo" not in omit],
                           dtype=np.int64)
    bpm = np.array([float(pieces[i]["tempo_bpm"]) for i in tempo_piece.tolist()], dtype=np.float64)
    tclass = (np.round(bpm / tempo_step_bpm).astype(np.int64) if rounding == "half_even"
              else round_class(bpm / tempo_step_bpm, rounding))
    tempo_keys, tp_tempo = intern(tclass, lambda v: f"tempo:{v}")
    ts_pairs = sorted({(i, str(ts)) for i, p in enumerate(pieces) for ts in (p.get("time_signatures") or [])
                       if "time_signature" not in omit})
    ts_piece = np.array([i for i, _ in ts_pairs], dtype=np.int64)
    ts_keys, ts_ts = intern(_str_array(s for _, s in ts_pairs), lambda v: f"timesig:{v}")

    rhythm_pairs = _rhythm_pairs(notes, anchor, gpiece, keep, occ_uid, rhythm, rounding)
    rhythm_nodes = {kind: intern(cls, lambda v, kind=kind: f"{kind}:{v}") for kind, (_, cls) in rhythm_pairs.items()}

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
        **{kind: (keys, None) for kind, (keys, _) in rhythm_nodes.items()},
    }
    gid = {}  # kind -> global id of each local index
    all_keys, all_kinds = [], []
    base = 0
    for kind in kinds_for(rhythm):
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
    for kind, (uid, _) in rhythm_pairs.items():
        src.append(gid["group"][uid])
        dst.append(gid[kind][rhythm_nodes[kind][1]])
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


def _rhythm_pairs(notes, anchor, gpiece, keep, occ_uid, rhythm, rounding) -> dict:
    """node kind -> (unique group id, class) pairs of the rhythm edges (sorted, unique)."""
    if not rhythm:
        return {}
    if "onset" not in notes:
        raise ValueError("rhythm nodes need the notes' onset in beats (column 'onset')")
    beats = np.asarray(notes["onset"], dtype=np.float64)[anchor]  # every group's onset, beats
    step = _RHYTHM_STEPS_PER_BEAT
    out = {}
    for opt, kind in RHYTHM_KINDS.items():
        if opt not in rhythm:
            continue
        if kind == "ioi":  # to the piece's next group (kept or not); the piece's last has none
            has_next = np.zeros(len(beats), dtype=bool)
            has_next[:-1] = gpiece[1:] == gpiece[:-1]
            cls = np.zeros(len(beats), dtype=np.int64)
            cls[:-1] = np.minimum(round_class((beats[1:] - beats[:-1]) * step, rounding), _IOI_TOP)
            sel = (has_next & keep)[keep]  # over kept occurrences
            cls = cls[keep][sel]
            uid = occ_uid[sel]
        else:
            cls = round_class((beats - np.floor(beats))[keep] * step, rounding) % step
            uid = occ_uid
        span = _IOI_TOP + 1
        pairs = _unique_int(uid * span + cls)
        out[kind] = (pairs // span, pairs % span)
    return out


def first_header_facts(path) -> dict:
    """The first time signature (earliest; file order among equal times) and whether a tempo
    event exists, read from a MIDI file's header events (what the original code reads)."""
    import symusic

    score = symusic.Score(str(path), ttype="tick")
    ts = score.time_signatures.numpy()
    first = None
    if len(ts["time"]):
        i = int(np.argmin(np.asarray(ts["time"])))  # argmin: the first of equal times
        first = f"{int(ts['numerator'][i])}/{int(ts['denominator'][i])}"
    tempos = score.tempos.numpy()
    has_tempo = bool((np.asarray(tempos["mspq"]) > 0).any()) if len(tempos["time"]) else False
    return {"first_time_signature": first, "has_tempo": has_tempo}


def _csr_undirected(u: np.ndarray, v: np.ndarray, n_nodes: int) -> tuple[np.ndarray, np.ndarray]:
    keep = u != v
    u, v = u[keep], v[keep]
    key = _unique_int(np.concatenate([u * n_nodes + v, v * n_nodes + u]))
    rows = key // n_nodes
    indptr = np.zeros(n_nodes + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n_nodes), out=indptr[1:])
    return indptr, (key % n_nodes).astype(np.int32)
