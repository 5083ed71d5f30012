"""Near-duplicate pieces: the same melody under different file names.

The same chorale tune harmonised twice, two versions of one piece, a file copied under a new
name: in different groups they would sit on both sides of a CV split and the test fold would
hold a piece the model has all but seen. The `labels` step puts each set of near-duplicates
into one group (``dataset.labels.duplicates: group``) and reports the sets.

A piece's melody is its highest-sounding part (the track with the highest mean pitch), as the
sequence of pitch intervals between successive onsets (the highest note at each onset, repeated
notes merged): transposition, rhythm and the other voices do not change it. Two pieces are
near-duplicates when their sets of melodic n-grams (``n`` = 8 intervals) overlap with a Jaccard
index of at least ``threshold`` (0.35); sets are the connected components of that relation.
Measured on the embedded dataset: the chorale tunes Bach harmonised more than once, the a/b
versions of trecento pieces, Palestrina movements on one model, and the one literal copy
(docs/embedded-dataset.md).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict

import numpy as np

N_GRAM = 8
THRESHOLD = 0.35


def melody(track: np.ndarray, pitch: np.ndarray, onset: np.ndarray) -> np.ndarray:
    """Interval sequence of the highest-sounding part of one piece (its notes' columns)."""
    if len(pitch) == 0:
        return np.zeros(0, np.int64)
    tracks = np.unique(track)
    top = tracks[int(np.argmax([pitch[track == t].mean() for t in tracks]))]
    m = track == top
    p, t = pitch[m].astype(np.int64), onset[m]
    o = np.lexsort((-p, t))
    p, t = p[o], t[o]
    line = p[np.r_[True, t[1:] != t[:-1]]]
    line = line[np.r_[True, line[1:] != line[:-1]]]
    return np.diff(line)


def grams(intervals: np.ndarray, n: int = N_GRAM) -> set:
    if len(intervals) < n:
        return {tuple(intervals.tolist())} if len(intervals) else set()
    w = np.lib.stride_tricks.sliding_window_view(intervals, n)
    return set(map(tuple, w.tolist()))


def near_duplicates(notes: dict, ids: list[str], n: int = N_GRAM, threshold: float = THRESHOLD) -> list[list[str]]:
    """Sets (sorted, two pieces or more) of near-duplicate pieces of a note table, sorted."""
    offsets = notes["offsets"]
    drum = notes["is_drum"]
    g = []
    for i in range(len(ids)):
        sl = slice(offsets[i], offsets[i + 1])
        keep = ~drum[sl]
        g.append(grams(melody(notes["track"][sl][keep], notes["pitch"][sl][keep], notes["onset"][sl][keep]), n))
    from scipy.cluster.hierarchy import DisjointSet

    linked = DisjointSet(range(len(ids)))
    for a, b in similar_pairs(g, threshold):
        linked.merge(a, b)
    return sorted(sorted(ids[i] for i in sub) for sub in linked.subsets() if len(sub) > 1)


def similar_pairs(sets: list[set], threshold: float):
    """Every pair (a, b), a < b, of sets with a Jaccard index >= ``threshold`` > 0.

    A prefix-filtered similarity join (Chaudhuri, Ganti and Kaushik, ICDE 2006; Bayardo, Ma and
    Srikant, WWW 2007), exact: with every set's elements ordered rarest first, two sets with
    J >= t share at least ceil(t * |x|) elements, hence one among the first |x| - ceil(t * |x|) + 1
    of each. Only pairs meeting in such a prefix are compared, so the n-grams common to many
    pieces (scales, cadences), which make comparing every pair that shares an n-gram quadratic,
    are never used to find candidates. Memory: the prefixes' index, linear in the n-grams.
    """
    df = Counter(x for s in sets for x in s)
    index: dict = defaultdict(list)  # prefix element -> earlier sets holding it in their prefix
    for b, s in enumerate(sets):
        if not s:
            continue
        ordered = sorted(s, key=lambda x: (df[x], x))
        prefix = ordered[:len(s) - math.ceil(threshold * len(s) - 1e-9) + 1]  # (1e-9: 0.07 * 100 is 7.000000000000001)
        candidates = {a for x in prefix for a in index[x]}
        for a in sorted(candidates):
            small, large = sorted((len(sets[a]), len(s)))
            if small < threshold * large - 1e-9:  # J <= |small| / |large|
                continue
            k = len(sets[a] & s)
            if k / (len(sets[a]) + len(s) - k) >= threshold:
                yield a, b
        for x in prefix:
            index[x].append(b)
