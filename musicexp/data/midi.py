"""MIDI file -> note table: the one parser every step reads through (symusic).

symusic parses about 60x faster than pretty_midi (docs/embedded-dataset.md) and, read in ticks, matches a careful
mido reading. Onsets in beats are computed here as tick / ticks-per-quarter in float64
(symusic's own 'quarter' time type is float32 and off by up to 4e-5 beats); seconds follow
the file's tempo map.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

COLUMNS = {
    "track": np.int16,
    "program": np.int16,
    "is_drum": np.bool_,
    "pitch": np.int16,
    "velocity": np.int16,
    "onset": np.float64,  # beats (quarter notes)
    "duration": np.float64,  # beats
    "onset_s": np.float64,
    "duration_s": np.float64,
}


class MidiError(ValueError):
    """A file that cannot be used; the message says why."""


def _ticks_to_seconds(ticks: np.ndarray, tempo_ticks: np.ndarray, mspq: np.ndarray, tpq: int):
    """Seconds at each tick under a piecewise-constant tempo map (default 120 bpm)."""
    keep = mspq > 0
    tempo_ticks, mspq = tempo_ticks[keep], mspq[keep]
    if len(tempo_ticks) == 0 or tempo_ticks.min() > 0:
        tempo_ticks = np.concatenate([[0], tempo_ticks])
        mspq = np.concatenate([[500000], mspq])
    order = np.argsort(tempo_ticks, kind="stable")
    tempo_ticks, mspq = tempo_ticks[order].astype(np.float64), mspq[order].astype(np.float64)
    sec_per_tick = mspq / 1e6 / tpq
    seg_start_sec = np.concatenate([[0.0], np.cumsum(np.diff(tempo_ticks) * sec_per_tick[:-1])])
    seg = np.searchsorted(tempo_ticks, ticks, side="right") - 1
    return seg_start_sec[seg] + (ticks - tempo_ticks[seg]) * sec_per_tick[seg]


def read_notes(path: str | Path) -> dict:
    """Parse one file; return its note columns (see COLUMNS) and some file facts.

    Raises MidiError for a file that cannot be read or holds no notes.
    """
    import symusic

    try:
        score = symusic.Score(str(path), ttype="tick")
    except Exception as exc:  # symusic raises RuntimeError/ValueError/IndexError variants
        raise MidiError(f"unreadable MIDI ({type(exc).__name__}: {exc})") from exc
    tpq = int(score.ticks_per_quarter)
    if tpq <= 0:
        raise MidiError(f"invalid ticks per quarter ({tpq})")
    parts: dict[str, list] = {k: [] for k in ("track", "program", "is_drum", "pitch", "velocity", "time", "dur")}
    for i, track in enumerate(score.tracks):
        arr = track.notes.numpy()
        n = len(arr["time"])
        if n == 0:
            continue  # music21 writes a conductor track with no notes
        parts["track"].append(np.full(n, i, np.int16))
        parts["program"].append(np.full(n, int(track.program), np.int16))
        parts["is_drum"].append(np.full(n, bool(track.is_drum)))
        parts["pitch"].append(arr["pitch"].astype(np.int16))
        parts["velocity"].append(arr["velocity"].astype(np.int16))
        parts["time"].append(arr["time"].astype(np.int64))
        parts["dur"].append(arr["duration"].astype(np.int64))
    if not parts["time"]:
        raise MidiError("no notes")
    cols = {k: np.concatenate(v) for k, v in parts.items()}
    ticks, dur = cols.pop("time"), np.maximum(cols.pop("dur"), 0)
    tempos = score.tempos.numpy()
    on_s = _ticks_to_seconds(ticks, tempos["time"].astype(np.int64), tempos["mspq"], tpq)
    off_s = _ticks_to_seconds(ticks + dur, tempos["time"].astype(np.int64), tempos["mspq"], tpq)
    cols["onset"] = ticks / tpq
    cols["duration"] = dur / tpq
    cols["onset_s"] = on_s
    cols["duration_s"] = off_s - on_s
    ts = score.time_signatures.numpy()
    ks = score.key_signatures.numpy()
    bpm = [round(6e7 / m, 3) for m in tempos["mspq"] if m > 0]
    return {
        "columns": {k: cols[k].astype(t, copy=False) for k, t in COLUMNS.items()},
        "tpq": tpq,
        "tempo_bpm": bpm[0] if bpm else 120.0,
        "tempo_changes": max(len(bpm) - 1, 0),
        "tempo_range_bpm": [min(bpm), max(bpm)] if bpm else [120.0, 120.0],
        "time_signatures": sorted({f"{n}/{d}" for n, d in zip(ts["numerator"], ts["denominator"])}),
        # sharps (> 0) or flats (< 0), and major (0) / minor (1)
        "key_signatures": sorted({f"{int(k)}:{int(m)}" for k, m in zip(ks["key"], ks["tonality"])}),
    }
