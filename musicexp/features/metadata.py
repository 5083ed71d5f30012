"""Edition and encoder metadata of each piece, not its pitches and rhythms: the features of the
metadata-only control that every run scores beside its modes.

What an edition or an encoder decides: the tempo map (first tempo, number of changes, range),
velocity statistics (mean, spread, extremes, number of distinct values, share of the most
common one), the number of tracks, and the sets of time signatures, key signatures and
programs a piece uses. The control is also fitted on each family alone (:data:`FAMILIES`), so
that a task it predicts is reported with the family that carries it and the setting that takes
that family out (the console's advice, ``musicexp.evaluation.headline.REMEDY``). If a
classifier on these alone scores like the modes, the labels are predictable without the music
(docs/embedded-dataset.md, "Known confounds"). The features are read from the `notes` artifact,
so they are what the feature steps could see: after ``dataset.neutralize`` they are constant.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from musicexp.features.blocks import piece_rows

NUMERIC = ("log_tempo", "tempo_changes", "log_tempo_range", "velocity_mean", "velocity_std", "velocity_min",
           "velocity_max", "velocity_distinct", "velocity_top_share", "tracks")
SETS = ("time_signatures", "key_signatures", "programs")
#: the families the control is also fitted on one at a time, to name the one that carries a task
FAMILIES = {"tempo": NUMERIC[0:3], "velocity": NUMERIC[3:9], "tracks": NUMERIC[9:10],
            **{k: k for k in SETS}}


def numeric(notes: dict, pieces: list[dict]) -> np.ndarray:
    """(pieces, len(NUMERIC)) numeric metadata of every piece of a note table."""
    offsets = notes["offsets"]
    vel = np.asarray(notes["velocity"], dtype=np.float64)
    track = np.asarray(notes["track"])
    out = np.zeros((len(pieces), len(NUMERIC)))
    for i, p in enumerate(pieces):
        v = vel[offsets[i]:offsets[i + 1]]
        lo, hi = p.get("tempo_range_bpm", [p["tempo_bpm"], p["tempo_bpm"]])
        values, counts = np.unique(v, return_counts=True)
        out[i] = (np.log(p["tempo_bpm"]), p.get("tempo_changes", 0), np.log(hi / lo), v.mean(), v.std(), v.min(),
                  v.max(), len(values), counts.max() / len(v), len(np.unique(track[offsets[i]:offsets[i + 1]])))
    return out


def sets(notes: dict, pieces: list[dict]) -> dict[str, list[set]]:
    """Per piece the set of each categorical metadata: time and key signatures, programs."""
    offsets, program, drum = notes["offsets"], notes["program"], notes["is_drum"]
    progs = []
    for i in range(len(pieces)):
        sl = slice(offsets[i], offsets[i + 1])
        progs.append({f"p{int(x)}" for x in np.unique(program[sl][~drum[sl]])} | ({"drums"} if drum[sl].any() else set()))
    return {"time_signatures": [set(p.get("time_signatures") or []) for p in pieces],
            "key_signatures": [set(p.get("key_signatures") or []) for p in pieces], "programs": progs}


class MetaBlock:
    """The metadata features in label order; the one-hot vocabularies come from the training rows."""

    def __init__(self, outputs: Mapping, pieces: list[str], params: Mapping):
        infos = outputs["pieces"]
        rows = piece_rows([p["id"] for p in infos], pieces, "notes")
        self.X = numeric(outputs["notes"], infos)[rows]
        every = sets(outputs["notes"], infos)
        self.sets = {k: [v[r] for r in rows] for k, v in every.items()}

    def _vocab(self, k: str, train: np.ndarray) -> list[str]:
        return sorted(set().union(*(self.sets[k][i] for i in train)))

    def matrix(self, train: np.ndarray) -> np.ndarray:
        parts = [self.X]
        for k in SETS:
            vocab = self._vocab(k, train)
            parts.append(np.array([[v in s for v in vocab] for s in self.sets[k]], dtype=np.float64).reshape(
                len(self.X), len(vocab)))
        return np.hstack(parts)

    def families(self, train: np.ndarray) -> dict[str, np.ndarray]:
        """Family -> its columns in ``matrix(train)`` (a set's one-hot width follows the training rows)."""
        out = {f: np.array([NUMERIC.index(c) for c in cols]) for f, cols in FAMILIES.items() if f not in SETS}
        start = len(NUMERIC)
        for k in SETS:
            width = len(self._vocab(k, train))
            out[k] = np.arange(start, start + width)
            start += width
        return {f: out[f] for f in FAMILIES}
