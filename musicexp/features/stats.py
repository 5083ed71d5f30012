"""Global note statistics of each piece, from the notes alone: the `stats` reference block.

A small, fixed set of plain statistics in the spirit of jSymbolic's and music21.features'
families (pitch, melody, rhythm, texture), computed from pitches, onsets and durations in beats
and the track a note is on; nothing else. No velocity, program, number of tracks, tempo, time
or key signature: those are what an edition decides, the metadata-only control's families.
Drum notes are left out (they have no pitch). The bar is never read from a time signature: it
is inferred from how strongly onsets recur at a few lags (``bar_*``). The list, with each
definition, is :data:`FEATURES` (docs/stats.md says the same in prose).

Everything is computed for the whole note table at once (sorting by packed keys, ``bincount``,
``reduceat``): there is no Python loop over pieces. :func:`reference` is the same computation
written plainly, one piece at a time, for the tests.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from musicexp.features.blocks import piece_rows

#: log2 classes of durations and inter-onset intervals: round(log2(beats)) clipped to -4..3,
#: i.e. 1/16, 1/8, 1/4, 1/2, 1, 2, 4, 8 beats (a dotted quarter, 1.5 beats, rounds to 2)
LOG2_CLASSES = tuple(range(-4, 4))
#: onset positions within the beat (fractions), matched within POS_TOL beats; else "other"
POSITIONS = (("0", 0.0), ("1_2", 1 / 2), ("1_3", 1 / 3), ("2_3", 2 / 3), ("1_4", 1 / 4), ("3_4", 3 / 4))
POS_TOL = 0.01
#: lags (beats) at which the recurrence of onsets is measured: candidate bar and half-bar lengths
#: (1.5: 6/8 half bar; 3: 3/4 or 6/8; 4: 4/4; 4.5: 9/8; 6: 6/4 or two bars of 3/4)
LAGS = (1.5, 2.0, 3.0, 4.0, 4.5, 6.0)
GRID = 12  # onsets are put on a grid of 1/12 beat for the recurrence (holds 1/2, 1/3, 1/4, 1/6)
ACCENT_CAP = 4.0  # beats: the accent weight of an onset (its inter-onset interval) is capped here
INTERVAL_CLIP = 12  # signed melodic intervals are clipped to an octave: 25 bins


def lag_name(lag: float) -> str:
    """1.5 -> '1_5', 2.0 -> '2'."""
    return f"{lag:g}".replace(".", "_")


def _log2_names(what: str) -> list[str]:
    return [f"{what}_log2_{'m' if c < 0 else ''}{abs(c)}" for c in LOG2_CLASSES]


#: (name, definition) of every feature, in column order
FEATURES: tuple[tuple[str, str], ...] = (
    ("log_notes", "log(1 + number of notes)"),
    ("log_span", "log(1 + span in beats), span = last note end - first onset"),
    ("pitch_mean", "mean MIDI pitch"),
    ("pitch_std", "standard deviation of the pitches (population)"),
    ("pitch_min", "lowest pitch (register)"),
    ("pitch_max", "highest pitch (register)"),
    ("pitch_range", "highest - lowest pitch"),
    *((f"pc_{k}", f"share of notes with pitch class {k} (0 = C)") for k in range(12)),
    *((f"interval_{'m' if i < 0 else 'p'}{abs(i)}", f"share of melodic intervals of {i:+d} semitones"
       + (" or beyond" if abs(i) == INTERVAL_CLIP else "")) for i in range(-INTERVAL_CLIP, INTERVAL_CLIP + 1)),
    ("interval_repeats", "share of melodic intervals of 0 (repeated pitch)"),
    ("interval_steps", "share of melodic intervals of 1 or 2 semitones, either way"),
    ("interval_leaps", "share of melodic intervals of 3 semitones or more, either way"),
    ("interval_mean_abs", "mean absolute melodic interval (semitones, not clipped)"),
    ("contour_up", "share of melodic intervals going up"),
    ("contour_down", "share of melodic intervals going down"),
    ("contour_changes", "share of consecutive moves (repeats skipped) of a voice that change direction"),
    *((n, f"share of note durations in the log2 class {2.0 ** c:g} beats")
      for n, c in zip(_log2_names("duration"), LOG2_CLASSES)),
    ("duration_log2_mean", "mean log2 of the note durations in beats (0-length notes count as 1/64)"),
    *((n, f"share of inter-onset intervals in the log2 class {2.0 ** c:g} beats")
      for n, c in zip(_log2_names("ioi"), LOG2_CLASSES)),
    ("ioi_log2_mean", "mean log2 of the inter-onset intervals in beats"),
    *((f"beatpos_{n}", f"share of onsets at {n.replace('_', '/')} of a beat") for n, _ in POSITIONS),
    ("beatpos_other", "share of onsets elsewhere in the beat"),
    *((f"bar_{lag_name(L)}", f"share of onsets followed by an onset {L:g} beats later")
      for L in LAGS),
    *((f"bar_accent_{lag_name(L)}",
       f"autocorrelation at {L:g} beats of the onsets weighted by their inter-onset interval") for L in LAGS),
    ("notes_per_beat", "notes / span"),
    ("onsets_per_beat", "distinct onsets / span"),
    ("notes_per_onset", "notes / distinct onsets"),
    ("chord_share", "share of distinct onsets where two or more notes start"),
    ("sounding_mean", "mean number of sounding notes: sum of durations / span"),
)
NAMES = tuple(n for n, _ in FEATURES)
COLUMN = {n: i for i, n in enumerate(NAMES)}


def _family(name: str) -> str:
    for prefix, fam in (("log_", "size"), ("pitch_", "pitch"), ("pc_", "pitch_class"), ("interval_", "interval"),
                        ("contour_", "contour"), ("duration_", "duration"), ("ioi_", "ioi"), ("beatpos_", "beat"),
                        ("bar_", "bar"), ("notes_per_beat", "density"), ("onsets_per_beat", "density")):
        if name.startswith(prefix):
            return fam
    return "texture"


#: family -> its columns (``steps.stats.families`` keeps some of them at train time)
FAMILIES: dict[str, tuple[int, ...]] = {}
for _i, _n in enumerate(NAMES):
    FAMILIES.setdefault(_family(_n), ())
    FAMILIES[_family(_n)] += (_i,)


def _log2_bin(lx: np.ndarray) -> np.ndarray:
    """round(log2 x) clipped to LOG2_CLASSES, as a bin index 0..7, from ``lx`` = log2 x."""
    c = np.floor(lx + 0.5)
    return (np.clip(c, LOG2_CLASSES[0], LOG2_CLASSES[-1]) - LOG2_CLASSES[0]).astype(np.int64)


def _hist(piece: np.ndarray, cls: np.ndarray, n_bins: int, P: int, total: np.ndarray) -> np.ndarray:
    """(P, n_bins) shares: per piece, the count of each class / ``total`` (0 where total is 0)."""
    h = np.bincount(piece * n_bins + cls, minlength=P * n_bins).reshape(P, n_bins).astype(np.float64)
    return h / np.maximum(total, 1)[:, None]


def _per_piece_sum(piece: np.ndarray, w: np.ndarray, P: int) -> np.ndarray:
    return np.bincount(piece, weights=w, minlength=P)


def _div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.divide(a, b, out=np.zeros(np.broadcast(a, b).shape), where=b > 0)


def _time_key(onset: np.ndarray, piece: np.ndarray, tpq) -> np.ndarray:
    """An int64 per note that orders and equates the onsets of a piece as the onsets themselves:
    the MIDI tick when the onsets are exact ticks / tpq (as the notes step writes them), else the
    rank of the onset among the block's distinct onset values."""
    if tpq is not None and piece.size:
        q = np.asarray(tpq, dtype=np.float64).take(piece)
        ticks = onset * q
        np.rint(ticks, out=ticks)
        if np.all(q > 0) and np.all(np.abs(ticks) < 2.0**52):
            q = ticks / q
            if np.array_equal(q, onset):
                del q
                t = ticks.astype(np.int64)
                t -= t.min()
                return t
    return np.unique(onset, return_inverse=True)[1].astype(np.int64).reshape(-1)


def _order(*fields: np.ndarray) -> np.ndarray:
    """Stable order of the rows by the non-negative int fields (most significant first): one
    stable sort of a packed int64 key when their bits fit, else a lexsort. (numpy's stable sort
    of int64 is a timsort: it merges the runs of a note table written track by track, about
    6x faster here than sorting a unique key with the row number packed in.)"""
    bits = [max(int(f.max()).bit_length(), 1) if f.size else 1 for f in fields]
    if sum(bits) > 62:
        return np.lexsort(fields[::-1])
    key = fields[0].astype(np.int64)
    for f, b in zip(fields[1:], bits[1:]):
        key <<= b
        key |= f
    return np.argsort(key, kind="stable")


#: notes per block of whole pieces computed at once (bounds the memory; every block is vectorised)
CHUNK_NOTES = 1 << 16


def compute(notes: Mapping, tpq=None) -> np.ndarray:
    """(pieces, len(NAMES)) statistics of every piece of a note table (COLUMNS + offsets).

    ``tpq``: ticks per quarter of each piece (the notes step's piece list), for the fast sort;
    without it the result is the same. A piece without pitched notes gets a row of zeros.
    The pieces are taken in blocks of about CHUNK_NOTES notes (whole pieces), each block with
    whole-array operations: the memory stays bounded, and no loop runs per piece."""
    offsets = np.asarray(notes["offsets"], dtype=np.int64)
    P = len(offsets) - 1
    cols = {k: np.asarray(notes[k]) for k in ("is_drum", "pitch", "onset", "duration", "track")}
    q = None if tpq is None else np.asarray(tpq, dtype=np.float64)
    out = np.zeros((P, len(NAMES)))
    a = 0
    while a < P:
        b = max(int(np.searchsorted(offsets, offsets[a] + CHUNK_NOTES, side="right")) - 1, a + 1)
        b = min(b, P)
        sl = slice(int(offsets[a]), int(offsets[b]))
        out[a:b] = _compute({k: v[sl] for k, v in cols.items()}, offsets[a:b + 1] - offsets[a],
                            None if q is None else q[a:b])
        a = b
    return out


def _compute(notes: Mapping, offsets: np.ndarray, tpq) -> np.ndarray:
    """:func:`compute` on one block of whole pieces (``offsets`` from 0)."""
    P = len(offsets) - 1
    keep = ~np.asarray(notes["is_drum"], dtype=bool)
    piece_all = np.repeat(np.arange(P, dtype=np.int64), np.diff(offsets))
    idx = np.flatnonzero(keep)
    piece0 = piece_all[idx]
    del piece_all
    onset0 = np.asarray(notes["onset"], dtype=np.float64)[idx]
    t0 = _time_key(onset0, piece0, tpq)
    track0 = np.asarray(notes["track"]).take(idx).astype(np.int64)
    track0 -= track0.min() if track0.size else 0
    # the voices' order (piece, track, onset): the table holds each track's notes together
    vo = _order(piece0, track0, t0)
    o = _order(piece0, t0)  # (piece, onset), simultaneous notes in table order
    del t0
    vidx, idx = idx[vo], idx[o]
    piece, onset = piece0[o], onset0[o]
    vpiece, vtrack, von = piece0[vo], track0[vo], onset0[vo]
    del piece0, onset0, track0, o, vo
    pitch = np.asarray(notes["pitch"]).take(idx).astype(np.int64)
    vpitch = np.asarray(notes["pitch"]).take(vidx).astype(np.int64)
    del vidx
    dur = np.asarray(notes["duration"], dtype=np.float64).take(idx)
    del idx
    X = np.zeros((P, len(NAMES)))
    col = COLUMN
    N = np.bincount(piece, minlength=P)
    has = N > 0
    if not has.any():
        return X
    starts = np.concatenate([[0], np.cumsum(N)[:-1]])[has]  # first note of each non-empty piece (sorted by piece)

    # pitch
    X[:, col["log_notes"]] = np.log1p(N)
    mean = _div(_per_piece_sum(piece, pitch.astype(np.float64), P), N)
    dev = pitch - mean[piece]
    dev *= dev
    sq = _div(_per_piece_sum(piece, dev, P), N)
    del dev
    X[:, col["pitch_mean"]], X[:, col["pitch_std"]] = mean, np.sqrt(sq)
    X[has, col["pitch_min"]] = np.minimum.reduceat(pitch, starts)
    X[has, col["pitch_max"]] = np.maximum.reduceat(pitch, starts)
    X[:, col["pitch_range"]] = X[:, col["pitch_max"]] - X[:, col["pitch_min"]]
    X[:, col["pc_0"]:col["pc_11"] + 1] = _hist(piece, pitch % 12, 12, P, N)

    # onsets: distinct onset times of a piece (all tracks)
    first = np.ones(piece.size, dtype=bool)
    first[1:] = (piece[1:] != piece[:-1]) | (onset[1:] != onset[:-1])
    o_at = np.flatnonzero(first)
    opiece, otime = piece[o_at], onset[o_at]
    per_onset = np.diff(np.append(o_at, piece.size))  # notes starting at each onset
    M = np.bincount(opiece, minlength=P)
    end = np.zeros(P)
    end[has] = np.maximum.reduceat(onset + dur, starts)
    span = np.zeros(P)
    span[has] = end[has] - onset[starts]
    X[:, col["log_span"]] = np.log1p(span)

    # inter-onset intervals
    same = opiece[1:] == opiece[:-1]
    ioi = np.diff(otime)[same]
    ioi_piece = opiece[1:][same]
    n_ioi = np.bincount(ioi_piece, minlength=P)
    i0 = col["ioi_log2_m4"]
    li = np.log2(ioi)
    X[:, i0:i0 + len(LOG2_CLASSES)] = _hist(ioi_piece, _log2_bin(li), len(LOG2_CLASSES), P, n_ioi)
    X[:, col["ioi_log2_mean"]] = _div(_per_piece_sum(ioi_piece, li, P), n_ioi)

    # durations
    ld = np.log2(np.maximum(dur, 2.0**-6))
    d0 = col["duration_log2_m4"]
    X[:, d0:d0 + len(LOG2_CLASSES)] = _hist(piece, _log2_bin(ld), len(LOG2_CLASSES), P, N)
    X[:, col["duration_log2_mean"]] = _div(_per_piece_sum(piece, ld, P), N)
    del ld

    # onset position within the beat
    frac = otime - np.floor(otime)
    pos = np.full(frac.size, len(POSITIONS), dtype=np.int64)
    for k, (_, c) in reversed(list(enumerate(POSITIONS))):
        dist = np.abs(frac - c)
        if c == 0.0:
            dist = np.minimum(dist, 1.0 - frac)
        pos[dist < POS_TOL] = k
    b0 = col["beatpos_0"]
    X[:, b0:b0 + len(POSITIONS) + 1] = _hist(opiece, pos, len(POSITIONS) + 1, P, M)

    # the bar, from the recurrence of onsets on a 1/GRID-beat grid
    accent = np.empty(otime.size)
    accent[:-1] = np.where(same, np.diff(otime), 0.0)
    last = np.append(~same, True)  # the last onset of a piece: its longest note
    accent[last] = np.maximum.reduceat(dur, o_at)[last]
    np.minimum(accent, ACCENT_CAP, out=accent)
    g = np.rint(otime * GRID).astype(np.int64)
    newg = np.ones(g.size, dtype=bool)
    newg[1:] = (g[1:] != g[:-1]) | ~same
    g_at = np.flatnonzero(newg)
    g, gpiece = g[g_at], opiece[g_at]
    w = np.maximum.reduceat(accent, g_at)  # onsets that fall on one grid point: the larger accent
    n_grid = np.bincount(gpiece, minlength=P)
    w2 = _per_piece_sum(gpiece, w * w, P)
    # each piece's grid points laid out in one array, MAXLAG empty cells after each piece
    maxlag = int(round(max(LAGS) * GRID))
    gstart = np.flatnonzero(np.append(True, gpiece[1:] != gpiece[:-1]))
    gmin = g[gstart]
    width = np.append(g[gstart[1:] - 1], g[-1]) - gmin + 1 + maxlag
    base = np.concatenate([[0], np.cumsum(width)])
    dense = int(base[-1]) <= 16 * g.size + (1 << 20)  # else a piece spans too many empty cells: search
    run_len = np.diff(np.append(gstart, g.size))
    pos = g - np.repeat(gmin - base[:-1], run_len)
    if dense:
        wd = np.full(int(base[-1]), -1.0)  # -1: no onset there
        wd[pos] = w
    for L in LAGS:
        lag = int(round(L * GRID))
        if dense:
            wl = wd[pos + lag]
        else:
            at = np.minimum(np.searchsorted(pos, pos + lag), pos.size - 1)
            wl = np.where(pos[at] == pos + lag, w[at], -1.0)
        hit = (wl >= 0).astype(np.float64)
        np.maximum(wl, 0.0, out=wl)
        wl *= w
        name = lag_name(L)
        X[:, col[f"bar_{name}"]] = _div(_per_piece_sum(gpiece, hit, P), n_grid)
        X[:, col[f"bar_accent_{name}"]] = _div(_per_piece_sum(gpiece, wl, P), w2)

    # density and texture
    X[:, col["notes_per_beat"]] = _div(N.astype(np.float64), span)
    X[:, col["onsets_per_beat"]] = _div(M.astype(np.float64), span)
    X[:, col["notes_per_onset"]] = _div(N.astype(np.float64), M)
    X[:, col["chord_share"]] = _div(np.bincount(opiece[per_onset > 1], minlength=P).astype(np.float64), M)
    X[:, col["sounding_mean"]] = _div(_per_piece_sum(piece, dur, P), span)

    # melodic intervals per voice: the notes of a track in onset order, the highest where several start
    vfirst = np.ones(vpiece.size, dtype=bool)  # first note of each (piece, track, onset)
    vnew = (vpiece[1:] != vpiece[:-1]) | (vtrack[1:] != vtrack[:-1])  # a new voice
    vfirst[1:] = vnew | (von[1:] != von[:-1])
    run_at = np.flatnonzero(vfirst)
    vpitch = np.maximum.reduceat(vpitch, run_at)  # the voice: the highest note at each onset of a track
    vsame = ~np.append(True, vnew)[run_at][1:]  # consecutive onsets of one voice
    del vnew, vfirst, von
    iv = np.diff(vpitch)[vsame]
    ipiece = vpiece[run_at][1:][vsame]
    ivoice = np.cumsum(~vsame)[vsame]  # the voice of each interval (a number that changes with the voice)
    K = np.bincount(ipiece, minlength=P)
    c0 = col["interval_m12"]
    nb = 2 * INTERVAL_CLIP + 1
    H = np.bincount(ipiece * nb + np.clip(iv, -INTERVAL_CLIP, INTERVAL_CLIP) + INTERVAL_CLIP,
                    minlength=P * nb).reshape(P, nb)  # counts per piece and clipped interval
    Kf = np.maximum(K, 1)[:, None].astype(np.float64)
    X[:, c0:c0 + nb] = H / Kf
    # (clipping keeps the sign and |interval| >= 3: these counts are sums of the histogram's)
    at = INTERVAL_CLIP  # the column of 0
    for name, cnt in (("interval_repeats", H[:, at]),
                      ("interval_steps", H[:, at - 2:at].sum(1) + H[:, at + 1:at + 3].sum(1)),
                      ("interval_leaps", H[:, :at - 2].sum(1) + H[:, at + 3:].sum(1)),
                      ("contour_up", H[:, at + 1:].sum(1)), ("contour_down", H[:, :at].sum(1))):
        X[:, col[name]] = cnt / Kf[:, 0]
    X[:, col["interval_mean_abs"]] = _div(_per_piece_sum(ipiece, np.abs(iv).astype(np.float64), P), K)
    nz = iv != 0
    s, sv, sp = np.sign(iv[nz]), ivoice[nz], ipiece[nz]
    pair = sv[1:] == sv[:-1]
    change = pair & (s[1:] != s[:-1])
    X[:, col["contour_changes"]] = _div(np.bincount(sp[1:][change], minlength=P).astype(np.float64),
                                        np.bincount(sp[1:][pair], minlength=P).astype(np.float64))
    return X


def reference(notes: Mapping, k: int) -> np.ndarray:
    """The statistics of piece ``k`` computed plainly, note by note (the tests' reference for
    :func:`compute`)."""
    sl = slice(int(notes["offsets"][k]), int(notes["offsets"][k + 1]))
    keep = ~np.asarray(notes["is_drum"][sl], dtype=bool)
    pitch = [int(x) for x in np.asarray(notes["pitch"][sl])[keep]]
    onset = [float(x) for x in np.asarray(notes["onset"][sl])[keep]]
    dur = [float(x) for x in np.asarray(notes["duration"][sl])[keep]]
    track = [int(x) for x in np.asarray(notes["track"][sl])[keep]]
    x = dict.fromkeys(NAMES, 0.0)
    n = len(pitch)
    if n == 0:
        return np.zeros(len(NAMES))

    def log2_bin(v: float) -> int:
        return int(min(max(np.floor(np.log2(v) + 0.5), LOG2_CLASSES[0]), LOG2_CLASSES[-1]))

    def log2_name(what: str, c: int) -> str:
        return f"{what}_log2_{'m' if c < 0 else ''}{abs(c)}"

    x["log_notes"] = np.log1p(n)
    start, end = min(onset), max(o + d for o, d in zip(onset, dur))
    span = end - start
    x["log_span"] = np.log1p(span)
    mean = sum(pitch) / n
    x["pitch_mean"], x["pitch_std"] = mean, (sum((p - mean) ** 2 for p in pitch) / n) ** 0.5
    x["pitch_min"], x["pitch_max"] = min(pitch), max(pitch)
    x["pitch_range"] = max(pitch) - min(pitch)
    for p in pitch:
        x[f"pc_{p % 12}"] += 1 / n
    times = sorted(set(onset))
    m = len(times)
    starting = {t: [i for i in range(n) if onset[i] == t] for t in times}
    iois = [b - a for a, b in zip(times, times[1:])]
    for v in iois:
        x[log2_name("ioi", log2_bin(v))] += 1 / len(iois)
    x["ioi_log2_mean"] = sum(np.log2(v) for v in iois) / len(iois) if iois else 0.0
    for d in dur:
        d = max(d, 2.0**-6)
        x[log2_name("duration", log2_bin(d))] += 1 / n
        x["duration_log2_mean"] += np.log2(d) / n
    for t in times:
        f = t - np.floor(t)
        name = "other"
        for nm, c in POSITIONS:
            if min(abs(f - c), 1 - f if c == 0 else 1.0) < POS_TOL:
                name = nm
                break
        x[f"beatpos_{name}"] += 1 / m
    accent = {}
    for j, t in enumerate(times):
        a = times[j + 1] - t if j + 1 < m else max(dur[i] for i in starting[t])
        g = int(np.rint(t * GRID))
        accent[g] = max(accent.get(g, 0.0), min(a, ACCENT_CAP))
    w2 = sum(v * v for v in accent.values())
    for L in LAGS:
        lag = int(round(L * GRID))
        name = lag_name(L)
        hits = [g for g in accent if g + lag in accent]
        x[f"bar_{name}"] = len(hits) / len(accent)
        x[f"bar_accent_{name}"] = sum(accent[g] * accent[g + lag] for g in hits) / w2 if w2 > 0 else 0.0
    if span > 0:
        x["notes_per_beat"], x["onsets_per_beat"], x["sounding_mean"] = n / span, m / span, sum(dur) / span
    x["notes_per_onset"] = n / m
    x["chord_share"] = sum(len(starting[t]) > 1 for t in times) / m
    ivs, changes, pairs = [], 0, 0
    for tr in sorted(set(track)):
        voice = {}
        for i in range(n):
            if track[i] == tr:
                voice[onset[i]] = max(voice.get(onset[i], -1), pitch[i])
        line = [voice[t] for t in sorted(voice)]
        steps = [b - a for a, b in zip(line, line[1:])]
        ivs += steps
        moves = [np.sign(v) for v in steps if v != 0]
        pairs += max(len(moves) - 1, 0)
        changes += sum(a != b for a, b in zip(moves, moves[1:]))
    K = len(ivs)
    for v in ivs:
        c = min(max(v, -INTERVAL_CLIP), INTERVAL_CLIP)
        x[f"interval_{'m' if c < 0 else 'p'}{abs(c)}"] += 1 / K
        x["interval_repeats"] += (v == 0) / K
        x["interval_steps"] += (abs(v) in (1, 2)) / K
        x["interval_leaps"] += (abs(v) >= 3) / K
        x["interval_mean_abs"] += abs(v) / K
        x["contour_up"] += (v > 0) / K
        x["contour_down"] += (v < 0) / K
    x["contour_changes"] = changes / pairs if pairs else 0.0
    return np.array([x[nm] for nm in NAMES], dtype=np.float64)


def note_stats(notes: Mapping, pieces: list[dict]) -> tuple[dict, dict]:
    """The `stats` artifact of a note table: the matrix, its column names and piece ids."""
    tpq = [p.get("tpq") for p in pieces]
    X = compute(notes, None if None in tpq else tpq)
    drums = int(np.count_nonzero(notes["is_drum"]))
    outputs = {"X": X, "info": {"pieces": [p["id"] for p in pieces], "names": list(NAMES)}}
    summary = {"pieces": len(pieces), "features": len(NAMES), "drum_notes_left_out": drums,
               "pieces_without_pitched_notes": int(np.count_nonzero(X[:, COLUMN["log_notes"]] == 0))}
    return outputs, summary


def family_columns(families) -> np.ndarray:
    """The columns of the chosen families, in column order; a clear error for an unknown one."""
    unknown = [f for f in families if f not in FAMILIES]
    if unknown:
        raise ValueError(f"steps.stats.families: unknown {unknown}; allowed {list(FAMILIES)}")
    return np.array(sorted(c for f in set(families) for c in FAMILIES[f]), dtype=np.int64)


class StatsBlock:
    """The statistics in label order (the families of ``steps.stats.families``); nothing is
    fitted on data here (train scales them per fold, prep "scale")."""

    def __init__(self, outputs: Mapping, pieces: list[str], params: Mapping):
        rows = piece_rows(outputs["info"]["pieces"], pieces, "note statistics")
        names = list(outputs["info"]["names"])
        if names != list(NAMES):
            raise ValueError("the stats artifact has other columns than this code computes; recompute it "
                             "(force=[stats])")
        cols = family_columns(params.get("families") or list(FAMILIES))
        self.X = np.asarray(outputs["X"], dtype=np.float64)[np.ix_(rows, cols)]

    def matrix(self, train: np.ndarray) -> np.ndarray:
        return self.X
