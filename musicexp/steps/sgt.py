"""sgt: time-aware Sequence Graph Transform pair sums per piece, over the full token space.

Per piece and ordered token pair (u, v): W = sum of exp(-alpha * dt) and C = number of event
pairs i < j with 0 <= dt <= max_dt (REFERENCE.md). Stored sparse and *before* any vocabulary
choice or normalisation, so `train` picks the vocabulary inside each CV fold from training
token counts (no leakage) and a sweep over top_vocab / normalize reuses this artifact.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from musicexp.sgtcore import pair_sums

VERSION = "1"
DEPS = ("notes",)

N_BASE = {"pitch_class": 12, "prog_pitch": 16 * 12, "pitch": 128, "interval": 128}


def params(cfg) -> dict:
    s = cfg.steps.sgt
    return {
        "alpha": s.alpha,
        "max_dt_beats": s.max_dt_beats,
        "token_mode": s.token_mode,
        "time_axis": s.time_axis,
        "tie_break": s.tie_break,
        "include_drums": s.include_drums,
    }


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


def event_order(notes: dict, piece: np.ndarray, keep: np.ndarray, tie_break: str) -> np.ndarray:
    """Indices of kept notes sorted by (piece, onset, tie-break keys)."""
    idx = np.flatnonzero(keep)
    onset, p = notes["onset"][idx], piece[idx]
    if tie_break == "file":  # the older pipeline: stable sort on onset only (file order)
        return idx[np.lexsort((onset, p))]
    keys = (notes["velocity"][idx], notes["duration"][idx], notes["is_drum"][idx],
            notes["program"][idx], notes["pitch"][idx], onset, p)
    return idx[np.lexsort(keys)]


def run(inputs: dict[str, Any], cfg) -> tuple[dict, dict]:
    from tqdm.auto import tqdm

    s = cfg.steps.sgt
    notes, pieces = inputs["notes"]["notes"], inputs["notes"]["pieces"]
    offsets = notes["offsets"]
    piece = np.repeat(np.arange(len(pieces)), np.diff(offsets))
    tok, keep, n_tokens = tokenize(notes, s.token_mode.value, s.include_drums)
    order = event_order(notes, piece, keep, s.tie_break.value)
    bounds = np.searchsorted(piece[order], np.arange(len(pieces) + 1))
    token_counts = np.zeros((len(pieces), n_tokens), dtype=np.int64)
    rows, pairs, ws, cs = [], [], [], []
    for k in tqdm(range(len(pieces)), desc="sgt", unit="piece", disable=not cfg.progress, leave=False):
        ev = order[bounds[k] : bounds[k + 1]]
        if len(ev) == 0:
            continue
        t = notes["onset"][ev] if s.time_axis.value == "beats" else np.arange(len(ev), dtype=np.float64)
        tk = tok[ev]
        token_counts[k] = np.bincount(tk, minlength=n_tokens)
        W, C = pair_sums(t, tk, n_tokens, float(s.alpha), s.max_dt_beats)
        nz = np.flatnonzero(C.ravel())
        rows.append(np.full(len(nz), k, np.int32))
        pairs.append(nz.astype(np.int32))
        ws.append(W.ravel()[nz])
        cs.append(C.ravel()[nz])
    cat = lambda xs, dt: np.concatenate(xs).astype(dt) if xs else np.zeros(0, dt)  # noqa: E731
    outputs = {
        "pairs": {"piece": cat(rows, np.int32), "pair": cat(pairs, np.int32),
                  "w": cat(ws, np.float64), "c": cat(cs, np.float64)},
        "token_counts": token_counts,
        "info": {"pieces": [p["id"] for p in pieces], "n_tokens": n_tokens, "alpha": float(s.alpha),
                 "token_mode": s.token_mode.value},
    }
    summary = {"pieces": len(pieces), "events": int(keep.sum()), "tokens_used": int((token_counts.sum(0) > 0).sum()),
               "nonzero_pairs": int(sum(len(x) for x in rows))}
    return outputs, summary
