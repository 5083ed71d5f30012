"""SGT events: which notes, their tokens and their order, and the pair sums of a whole note table.

Per piece and ordered token pair (u, v): W = sum of exp(-alpha * dt) and C = number of event
pairs i < j with 0 <= dt <= max_dt (docs/sgt.md). Stored sparse and *before* any vocabulary
choice or normalisation, so train picks the vocabulary inside each CV fold from training token
counts (no leakage) and a sweep over top_vocab / normalize reuses the artifact. All pieces go
through one call of the pair-sum kernel; there is no Python loop over pieces here.
"""

from __future__ import annotations

import numpy as np

N_BASE = {"pitch_class": 12, "prog_pitch": 16 * 12, "pitch": 128, "interval": 128}


def tokenize(notes: dict, mode: str, include_drums: bool) -> tuple[np.ndarray, np.ndarray, int]:
    """(token per note, mask of notes that are events, number of tokens)."""

    pitch, program, drum = notes["pitch"].astype(np.int64), notes["program"].astype(np.int64), notes["is_drum"]
    if mode == "pitch_class":
        tok = pitch % 12
    elif mode == "prog_pitch":
        tok = (program // 8) * 12 + pitch % 12
    elif mode in ("pitch", "interval"):  # 'interval' was the raw MIDI pitch in the older code
        tok = pitch.copy()
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
