"""SGT events: which notes, their tokens and their order, and the pair sums of a whole note table.

Per piece and ordered token pair (u, v): W = sum of exp(-alpha * dt) and C = number of event
pairs i < j with 0 <= dt <= max_dt (docs/sgt.md). Stored sparse and *before* any vocabulary
choice or normalisation, so train picks the vocabulary inside each CV fold from training token
counts (no leakage) and a sweep over top_vocab / normalize reuses the artifact. All pieces go
through one call of the pair-sum kernel; there is no Python loop over pieces here.
"""

from __future__ import annotations

import numpy as np

#: log2 classes of a time in beats, in half octaves: class = round(2 * log2(beats)), clipped to
#: [DUR_LO, DUR_HI] (1/16 beat .. 8 beats). Half octaves keep dotted values apart: 0.5, 0.75, 1,
#: 1.5 beats fall in four different classes (plain octaves would merge 1.5 with 2).
DUR_LO, DUR_HI = -8, 6
N_DUR = DUR_HI - DUR_LO + 1  # 15 classes
INTERVAL_CLIP = 12  # melodic intervals clipped to [-12, +12] semitones
N_INTERVAL = 2 * INTERVAL_CLIP + 2  # 25 intervals + the 'first note of its part' token
N_IOI = N_DUR + 1  # 15 classes + the 'last onset of its part' token

#: modes whose token depends on the notes around a note (its part): see part_context
CONTEXT_MODES = ("melodic_interval", "duration", "ioi", "pitch_class_duration", "interval_ioi")

N_BASE = {"pitch_class": 12, "prog_pitch": 16 * 12, "pitch": 128, "interval": 128,
          "melodic_interval": N_INTERVAL, "duration": N_DUR, "ioi": N_IOI,
          "pitch_class_duration": 12 * N_DUR, "interval_ioi": N_INTERVAL * N_IOI}


def time_class(beats: np.ndarray) -> np.ndarray:
    """Half-octave log2 class of times in beats, 0 .. N_DUR-1 (0 also for a time <= 1/16 beat,
    including 0; N_DUR-1 for 8 beats and more)."""
    b = np.asarray(beats, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        k = np.rint(2.0 * np.log2(np.where(b > 0, b, 2.0 ** (DUR_LO / 2))))
    return (np.clip(k, DUR_LO, DUR_HI) - DUR_LO).astype(np.int64)


def part_context(notes: dict) -> tuple[np.ndarray, np.ndarray]:
    """Per note: (melodic interval token 0..N_INTERVAL-1, inter-onset token 0..N_IOI-1).

    A part is one track of one piece. Its notes are grouped by onset (a chord is one onset
    group). The melodic interval of a note is its pitch minus the *highest* pitch of the previous
    onset group of its part (the top line), clipped to +-INTERVAL_CLIP; token interval + 12; the
    notes of the part's first onset get the token N_INTERVAL - 1 ('first'). The inter-onset
    interval of a note is the time from its onset to the next onset of its part (the same for
    every note of a chord), as time_class; the notes of the part's last onset get the token
    N_IOI - 1 ('last'). Vectorised: one lexsort of the whole note table, no loop per piece."""

    n = notes["pitch"].size
    offsets = np.asarray(notes["offsets"])
    piece = np.repeat(np.arange(offsets.size - 1), np.diff(offsets))
    pitch = notes["pitch"].astype(np.int64)
    onset = np.asarray(notes["onset"], dtype=np.float64)
    track = notes["track"].astype(np.int64)
    interval_tok = np.full(n, N_INTERVAL - 1, np.int64)
    ioi_tok = np.full(n, N_IOI - 1, np.int64)
    if n == 0:
        return interval_tok, ioi_tok
    o = np.lexsort((pitch, onset, track, piece))
    pp, tt, on, pi = piece[o], track[o], onset[o], pitch[o]
    new_part = np.ones(n, bool)
    new_part[1:] = (pp[1:] != pp[:-1]) | (tt[1:] != tt[:-1])
    new_group = new_part.copy()
    new_group[1:] |= on[1:] != on[:-1]
    gid = np.cumsum(new_group) - 1  # onset group of each sorted note
    starts = np.flatnonzero(new_group)
    ends = np.append(starts[1:], n) - 1
    g_top = pi[ends]  # highest pitch of each group (sorted by pitch inside it)
    g_on = on[starts]
    g_first = new_part[starts]  # first group of its part
    g_last = np.append(g_first[1:], True)  # last group of its part
    prev_top = np.empty_like(g_top)
    prev_top[1:] = g_top[:-1]
    iv = np.clip(pi - prev_top[gid], -INTERVAL_CLIP, INTERVAL_CLIP) + INTERVAL_CLIP
    interval_tok[o] = np.where(g_first[gid], N_INTERVAL - 1, iv)
    nxt = np.empty_like(g_on)
    nxt[:-1] = g_on[1:]
    nxt[-1] = g_on[-1]
    g_ioi = np.where(g_last, N_IOI - 1, time_class(nxt - g_on))
    ioi_tok[o] = g_ioi[gid]
    return interval_tok, ioi_tok


def tokenize(notes: dict, mode: str, include_drums: bool) -> tuple[np.ndarray, np.ndarray, int]:
    """(token per note, mask of notes that are events, number of tokens). docs/sgt.md, Tokens."""

    pitch, program, drum = notes["pitch"].astype(np.int64), notes["program"].astype(np.int64), notes["is_drum"]
    if mode == "pitch_class":
        tok = pitch % 12
    elif mode == "prog_pitch":
        tok = (program // 8) * 12 + pitch % 12
    elif mode in ("pitch", "interval"):  # 'interval' was the raw MIDI pitch in the older code
        tok = pitch.copy()
    elif mode == "duration":
        tok = time_class(notes["duration"])
    elif mode == "pitch_class_duration":
        tok = (pitch % 12) * N_DUR + time_class(notes["duration"])
    elif mode in ("melodic_interval", "ioi", "interval_ioi"):
        iv, ioi = part_context(notes)
        tok = iv if mode == "melodic_interval" else ioi if mode == "ioi" else iv * N_IOI + ioi
    else:
        raise ValueError(f"steps.sgt.token_mode={mode!r}: allowed {sorted(N_BASE)}")
    n_tokens = N_BASE[mode]
    if include_drums:
        tok = np.where(drum, n_tokens + pitch, tok)
        n_tokens += 128
        keep = np.ones(len(tok), dtype=bool)
    else:
        keep = ~drum
    return tok, keep, n_tokens


def _tick_key(notes: dict, piece: np.ndarray, idx: np.ndarray, tpq) -> np.ndarray | None:
    """Integer onsets (MIDI ticks) of notes idx, if the onsets are exactly ticks / tpq (as the
    notes step writes them; checked bit for bit, else None). Then tick order == onset order and
    equal ticks == equal onsets inside a piece, so an int64 key can replace the float one."""

    if tpq is None:
        return None
    tpq = np.asarray(tpq, dtype=np.float64)
    if tpq.ndim != 1 or piece.size == 0 or tpq.size <= int(piece[-1]) or not np.all(tpq > 0):
        return None
    q = tpq.take(piece if idx is None else piece.take(idx))
    onset = notes["onset"] if idx is None else notes["onset"].take(idx)
    ticks = onset * q
    np.rint(ticks, out=ticks)
    if not (np.all(np.abs(ticks) < 2.0**52) and np.array_equal(ticks / q, onset)):
        return None
    return ticks.astype(np.int64)


def event_order(notes: dict, piece: np.ndarray, keep: np.ndarray, tie_break: str, tpq=None) -> np.ndarray:
    """Indices of kept notes sorted by (piece, onset, tie-break keys); stable (file order last).

    'file' (the older pipeline): (piece, onset), simultaneous notes in file order.
    'pitch': simultaneous notes by (pitch, program, is_drum), then file order. This gives the
    same *sequence of (onset, token)* as the full key list (pitch, program, is_drum, duration,
    velocity) used before: a token is a function of (pitch, program, is_drum) only (`tokenize`),
    so further keys can only reorder notes with the same onset and the same token, and swapping
    two such notes changes no pair sum (nor anything else this step stores). Same result.

    Implementation (a 7-key lexsort took ~0.1 s on 415k notes): for 'pitch', with tpq (ticks
    per quarter per piece, as in the notes step's piece list) and onsets exactly ticks / tpq,
    one stable sort of the packed int64 key (piece, tick, pitch, program, is_drum); timsort
    profits from the note table being sorted track by track. Otherwise one stable sort on the
    complex key
    piece + 1j*onset (numpy orders complex numbers lexicographically: exactly
    lexsort((onset, piece))), then, where simultaneous notes are not yet in order, a stable sort
    of the packed key (start of the tie run, pitch, program, is_drum). Same permutation.
    """

    all_kept = bool(keep.all())
    idx = np.arange(keep.size) if all_kept else np.flatnonzero(keep)
    if idx.size == 0:
        return idx
    ticks = None if tie_break == "file" else _tick_key(notes, piece, None if all_kept else idx, tpq)
    if ticks is not None:
        ticks -= ticks.min()
        tb = int(ticks.max()).bit_length()
        if int(piece[-1]).bit_length() + tb + 15 <= 62:
            key = (piece if all_kept else piece.take(idx)).astype(np.int64)
            key <<= tb + 15
            ticks <<= 15
            key |= ticks
            comp = notes["pitch"].astype(np.int64) << 8
            comp |= notes["program"].astype(np.int64) << 1
            comp |= notes["is_drum"]
            key |= comp if all_kept else comp.take(idx)
            order = np.argsort(key, kind="stable")
            return order if all_kept else idx.take(order)
    z = np.empty(idx.size, np.complex128)
    z.real = piece if all_kept else piece[idx]
    z.imag = notes["onset"] if all_kept else notes["onset"][idx]
    o1 = np.argsort(z, kind="stable")
    idx = idx[o1] if not all_kept else o1
    if tie_break == "file" or idx.size < 2:
        return idx
    zs = z[o1]
    tie = zs[1:] == zs[:-1]  # note i+1 has the same (piece, onset) as note i
    if not tie.any():
        return idx
    comp = notes["pitch"].astype(np.int64) << 8
    comp |= notes["program"].astype(np.int64) << 1
    comp |= notes["is_drum"]
    comp = comp.take(idx)
    if not (tie & (comp[1:] < comp[:-1])).any():  # ties already ordered
        return idx
    run = np.arange(idx.size)
    run[1:] *= ~tie
    np.maximum.accumulate(run, out=run)  # first position of each tie run
    run <<= 16
    run |= comp
    return idx[np.argsort(run, kind="stable")]


def _ties_by_token(notes: dict, piece: np.ndarray, order: np.ndarray, tok: np.ndarray) -> np.ndarray:
    """For the modes whose token is not a function of (pitch, program, is_drum): simultaneous
    notes that event_order's 'pitch' keys leave tied (same piece, onset, pitch, program, drum
    flag; e.g. a unison of two tracks) are ordered by token, so the features still do not depend
    on the order of the tracks in the file. Old modes never come here (their order is unchanged)."""

    if order.size < 2:
        return order
    keys = (piece, notes["onset"], notes["pitch"], notes["program"], notes["is_drum"])
    tie = np.ones(order.size - 1, bool)
    for k in keys:
        ks = np.asarray(k).take(order)
        tie &= ks[1:] == ks[:-1]
    if not tie.any():
        return order
    run = np.arange(order.size, dtype=np.int64)
    run[1:] *= ~tie
    np.maximum.accumulate(run, out=run)  # first position of each tie run
    run <<= 12
    run |= tok.take(order)  # tokens < 2**12 (largest space: interval_ioi + drums = 544)
    return order.take(np.argsort(run, kind="stable"))


def sgt_pair_sums(notes: dict, pieces: list[dict], *, alpha: float, max_dt: float | None, token_mode: str,
                  time_axis: str, tie_break: str, include_drums: bool) -> tuple[dict, dict]:
    """The `sgt` artifact of a note table: sparse pair sums per piece over the full token space,
    token counts per piece, and what train needs to read them. Returns (outputs, summary)."""
    from musicexp.features.sgt.kernel import pair_sums_batch

    alpha, mode, axis = float(alpha), token_mode, time_axis
    P = len(pieces)
    offsets = notes["offsets"]
    piece = np.repeat(np.arange(P), np.diff(offsets))
    tok, keep, n_tokens = tokenize(notes, mode, include_drums)
    tpq = [p.get("tpq") for p in pieces] if all(isinstance(p, dict) for p in pieces) else None
    order = event_order(notes, piece, keep, tie_break, None if tpq is None or None in tpq else tpq)
    if mode in CONTEXT_MODES and tie_break != "file":
        order = _ties_by_token(notes, piece, order, tok)
    all_kept = order.size == keep.size
    lens = np.diff(offsets) if all_kept else np.bincount(piece[keep], minlength=P)
    ev_off = np.zeros(P + 1, np.int64)
    np.cumsum(lens, out=ev_off[1:])
    if axis == "beats":
        t = notes["onset"].take(order).astype(np.float64, copy=False)
    else:  # event positions inside the piece
        t = np.arange(order.size, dtype=np.float64)
        t -= np.repeat(ev_off[:-1], lens)
    tk = tok.take(order)
    ptok = piece * n_tokens
    ptok += tok
    token_counts = np.bincount(ptok if all_kept else ptok[keep], minlength=P * n_tokens)
    token_counts = token_counts.reshape(P, n_tokens).astype(np.int64, copy=False)
    rows, pairs, ws, cs = pair_sums_batch(t, tk, ev_off, n_tokens, alpha, max_dt)
    outputs = {
        "pairs": {"piece": rows.astype(np.int32), "pair": pairs.astype(np.int32),
                  "w": ws.astype(np.float64), "c": cs.astype(np.float64)},
        "token_counts": token_counts,
        "info": {"pieces": [p["id"] for p in pieces], "n_tokens": n_tokens, "alpha": alpha,
                 "token_mode": mode},
    }
    summary = {"pieces": P, "events": int(order.size), "tokens_used": int((token_counts.sum(0) > 0).sum()),
               "nonzero_pairs": int(rows.size)}
    return outputs, summary
