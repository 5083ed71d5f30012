"""A collection whose two classes differ in rhythm only: each pitch sequence rendered in a simple
and in a compound meter.

    python -m musicexp.data.corpus.rhythm_pairs OUT_DIR [--sequences 60] [--bars 16] [--seed 0]
    musicexp --config-dir OUT_DIR/conf dataset=rhythm_pairs

writes ``OUT_DIR/midi/<seq>_<meter>.mid``, ``OUT_DIR/midi/labels.csv`` (``file, meter, group``)
and ``OUT_DIR/conf/dataset/rhythm_pairs.yaml`` (a dataset config reading them).

**Pitch sequences**: seeded random melodies, a walk on the C major scale (steps of -2..+2
degrees, now and then a leap of up to an octave), kept within MIDI 55..84; each sequence starts
on its own transposition (0..11 semitones), so the pitch content varies across sequences.

**Rhythms** (one bar = 3 beats = six eighths, four notes per bar, in both classes): every bar
has the same length, the same number of notes and the same *multiset* of durations, two
quarters and two eighths ({1, 1, 0.5, 0.5} beats), so note density, the bag of durations and the
total length cannot tell the classes apart; only where the notes fall in the bar does:

* ``simple`` (3/4, the bar in three quarter beats): ``[0.5, 0.5, 1, 1]`` or ``[1, 1, 0.5, 0.5]``,
  onsets on the quarter grid (0, 0.5, 1, 2 or 0, 1, 2, 2.5);
* ``compound`` (6/8, the bar in two dotted-quarter beats, long-short): ``[1, 0.5, 1, 0.5]``,
  ``[0.5, 1, 0.5, 1]`` or ``[0.5, 1, 1, 0.5]``: a note on the second dotted-quarter beat (1.5).

(``[1, 0.5, 0.5, 1]`` fits both meters and is used by neither.) Each bar draws its pattern
(seeded). Notes are legato (duration = time to the next onset). The same pitch sequence is
rendered once per class: the two files of a sequence share its group, so they never straddle a
CV split.

**Neutralized**: no time signature, key signature or tempo events are written, one track with
program 0 and velocity 80 everywhere; the dataset config also neutralizes what a reader could
add (``neutralize: [velocity, tempo, time_signature, key_signature]``).
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

TPQ = 480
BAR_BEATS = 3.0
PATTERNS = {
    "simple": ((0.5, 0.5, 1.0, 1.0), (1.0, 1.0, 0.5, 0.5)),
    "compound": ((1.0, 0.5, 1.0, 0.5), (0.5, 1.0, 0.5, 1.0), (0.5, 1.0, 1.0, 0.5)),
}
NOTES_PER_BAR = 4
MAJOR = np.array([0, 2, 4, 5, 7, 9, 11])
LOW, HIGH = 55, 84


def melody(rng: np.random.Generator, n: int) -> np.ndarray:
    """n MIDI pitches: a walk on the major scale transposed by 0..11, within LOW..HIGH."""
    shift = int(rng.integers(0, 12))
    degrees = np.arange(-14, 22)
    scale = (60 + shift + 12 * (degrees // 7) + MAJOR[degrees % 7])
    scale = scale[(scale >= LOW) & (scale <= HIGH)]
    pos = int(np.searchsorted(scale, 67))
    out = np.empty(n, np.int64)
    for i in range(n):
        out[i] = scale[pos]
        step = int(rng.integers(-2, 3)) if rng.random() > 0.15 else int(rng.integers(-7, 8))
        pos = int(np.clip(pos + step, 0, len(scale) - 1))
    return out


def rhythm(rng: np.random.Generator, meter: str, bars: int) -> np.ndarray:
    """Durations in beats of bars * NOTES_PER_BAR notes, one pattern of `meter` drawn per bar."""
    pats = np.asarray(PATTERNS[meter])
    return pats[rng.integers(0, len(pats), size=bars)].reshape(-1)


def write_piece(path: Path, pitches: np.ndarray, durations: np.ndarray) -> None:
    """One track, program 0, velocity 80, no tempo / time / key signature events."""
    import symusic

    score = symusic.Score(TPQ)
    track = symusic.Track("melody", 0, False)
    onsets = np.concatenate([[0.0], np.cumsum(durations)[:-1]])
    for on, dur, p in zip(onsets, durations, pitches):
        track.notes.append(symusic.Note(int(round(on * TPQ)), int(round(dur * TPQ)), int(p), 80))
    score.tracks.append(track)
    path.parent.mkdir(parents=True, exist_ok=True)
    score.dump_midi(str(path))


DATASET_YAML = """# written by python -m musicexp.data.corpus.rhythm_pairs: two renderings of each pitch sequence,
# simple (3/4) and compound (6/8) meter; classes differ in rhythm only
id: {id}
data_root: {root}
fingerprint: content
neutralize: [velocity, tempo, time_signature, key_signature]
labels:
  source: csv
  csv: labels.csv
  file_column: file
  columns: [meter]
  group_column: group
"""


def build(out_dir: Path, sequences: int = 60, bars: int = 16, seed: int = 0, dataset_id: str = "rhythm_pairs") -> Path:
    """Write the collection under out_dir; return the MIDI folder."""
    if sequences < 1 or bars < 1:
        raise ValueError(f"sequences={sequences}, bars={bars}: both must be >= 1")
    out_dir = Path(out_dir)
    midi = out_dir / "midi"
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(sequences):
        pitches = melody(rng, bars * NOTES_PER_BAR)
        for meter in ("simple", "compound"):
            name = f"seq{s:04d}_{meter}.mid"
            write_piece(midi / name, pitches, rhythm(rng, meter, bars))
            rows.append({"file": name, "meter": meter, "group": f"seq{s:04d}"})
    with open(midi / "labels.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["file", "meter", "group"])
        w.writeheader()
        w.writerows(rows)
    conf = out_dir / "conf" / "dataset" / f"{dataset_id}.yaml"
    conf.parent.mkdir(parents=True, exist_ok=True)
    conf.write_text(DATASET_YAML.format(id=dataset_id, root=midi.resolve()))
    return midi


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m musicexp.data.corpus.rhythm_pairs", description=__doc__.split("\n")[0])
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--sequences", type=int, default=60, help="pitch sequences (each gives two files)")
    ap.add_argument("--bars", type=int, default=16, help="bars per piece (4 notes each)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--id", default="rhythm_pairs", help="dataset id (names artifacts/<id>/)")
    a = ap.parse_args(argv)
    try:
        midi = build(a.out_dir, a.sequences, a.bars, a.seed, a.id)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {2 * a.sequences} MIDI files and labels.csv under {midi}; "
          f"run: musicexp --config-dir {a.out_dir / 'conf'} dataset={a.id}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
