"""The older pipeline's computations (docs/older-pipeline.md), re-implemented as the benchmark's
baselines. They are deliberately literal (per-note and per-pair Python loops, pretty_midi), not
tuned: they stand for what the older scripts did, so that a ratio means something."""

from __future__ import annotations

import math

import numpy as np


def older_notes(path: str) -> int:
    """The older extraction: pretty_midi, onset in beats = time_to_tick(start) / resolution."""
    import pretty_midi

    pretty_midi.pretty_midi.MAX_TICK = 1e10  # music21's 10080 tpq passes pretty_midi's 1e7 guard
    pm = pretty_midi.PrettyMIDI(path)
    rows = []
    for inst in pm.instruments:
        for n in inst.notes:
            rows.append((inst.program, inst.is_drum, n.pitch, n.velocity,
                         pm.time_to_tick(n.start) / pm.resolution, pm.time_to_tick(n.end) / pm.resolution,
                         n.start, n.end - n.start))
    return len(rows)


def older_sgt(onsets: list[float], tokens: list[int], vocab_index: dict[int, int], alpha: float,
              max_dt: float) -> np.ndarray:
    """The older per-pair loop: events sorted by onset; OOV events skipped, window not ended."""
    V = len(vocab_index)
    S = np.zeros((V, V))
    n = len(onsets)
    for i in range(n):
        a = vocab_index.get(tokens[i])
        if a is None:
            continue
        ti = onsets[i]
        for j in range(i + 1, n):
            dt = onsets[j] - ti
            if dt > max_dt:
                break
            b = vocab_index.get(tokens[j])
            if b is None:
                continue
            S[a, b] += math.exp(-alpha * dt)
    m = S.max()
    return (S / m if m > 0 else S).ravel()


def older_grouping(onset_s: list[float], window: float = 0.01) -> list[list[int]]:
    """MIDI2vec's note grouping as the older code did it: for each ungrouped note, scan every
    note of the piece for those starting within the window (quadratic in the number of notes)."""
    n = len(onset_s)
    assigned = [False] * n
    groups = []
    for i in range(n):
        if assigned[i]:
            continue
        members = []
        for j in range(n):
            if not assigned[j] and 0 <= onset_s[j] - onset_s[i] <= window:
                members.append(j)
                assigned[j] = True
        groups.append(members)
    return groups
