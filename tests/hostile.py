"""A corpus of hostile MIDI files, written by the tests themselves.

``make_hostile_corpus(root)`` writes a folder-labelled dataset (``root/<style>/*.mid``, the
sub-folder is the label) of ordinary pieces plus every kind of file a scraped collection
contains, and returns what should become of each hostile name: ``("bad", reason substring)``
for files the `notes` step must list with that reason, ``("ok", what)`` for odd files that
must parse and flow through, ``("unlabeled", reason)`` for parsed files without a label.

Unreadable files: a ``chmod 000`` file is unreadable only for a normal user; the tests run as
root in CI containers, where it reads fine. So besides it (when it is unreadable), the corpus
holds names no user can read as a file: a FIFO (opening it would block forever), a dangling
symlink and a symlink to itself (ELOOP).
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np

from helpers import STYLES, style_notes, write_midi

N_BIG = 200_000


def vlq(n: int) -> bytes:
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    return bytes(reversed(out))


def smf(tracks: list[list[tuple[int, bytes]]], tpq: int = 480, fmt: int = 1, n_tracks: int | None = None) -> bytes:
    """A standard MIDI file from raw (delta ticks, event bytes) per track."""
    out = b"MThd" + struct.pack(">IHHH", 6, fmt, len(tracks) if n_tracks is None else n_tracks, tpq)
    for events in tracks:
        data = b"".join(vlq(dt) + ev for dt, ev in events) + b"\x00\xff\x2f\x00"
        out += b"MTrk" + struct.pack(">I", len(data)) + data
    return out


def good_bytes(seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    ev = []
    for _ in range(32):
        p = int(rng.integers(48, 84))
        ev += [(0, bytes([0x90, p, 80])), (240, bytes([0x80, p, 0]))]
    return smf([ev])


def _score_with(notes, program=0, drum=False, tpq=480):
    import symusic

    s = symusic.Score(tpq)
    s.tempos.append(symusic.Tempo(0, 120.0))
    tr = symusic.Track("t", program, drum)
    for on, dur, pitch, vel in notes:
        tr.notes.append(symusic.Note(int(on), int(dur), int(pitch), int(vel)))
    s.tracks.append(tr)
    return s


def write_big(path: Path, n: int = N_BIG, seed: int = 0) -> Path:
    """A piece of ``n`` notes (an hour-long dense file), style 'alpha' (major scale)."""
    import symusic

    rng = np.random.default_rng(seed)
    s = symusic.Score(480)
    s.tempos.append(symusic.Tempo(0, 120.0))
    tr = symusic.Track("big", 0, False)
    scale = np.array(STYLES["alpha"]["scale"])
    onsets = np.sort(rng.integers(0, n * 60, n))
    pitches = 60 + scale[rng.integers(0, len(scale), n)]
    durs = rng.integers(30, 960, n)
    for on, d, p in zip(onsets.tolist(), durs.tolist(), pitches.tolist()):
        tr.notes.append(symusic.Note(on, d, p, 80))
    s.tracks.append(tr)
    path.parent.mkdir(parents=True, exist_ok=True)
    s.dump_midi(str(path))
    return path


def write_tempo_storm(path: Path, n_changes: int = 5000, seed: int = 0) -> Path:
    """Thousands of tempo and time-signature changes around a short tune."""
    import symusic

    rng = np.random.default_rng(seed)
    s = _score_with([(i * 120, 100, 60 + STYLES["beta"]["scale"][i % 7], 80) for i in range(300)])
    for i in range(n_changes):
        s.tempos.append(symusic.Tempo(i * 7, float(rng.uniform(20, 300))))
        s.time_signatures.append(symusic.TimeSignature(i * 11, int(rng.integers(1, 16)), int(2 ** rng.integers(0, 5))))
    path.parent.mkdir(parents=True, exist_ok=True)
    s.dump_midi(str(path))
    return path


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def make_hostile_corpus(root: Path, per_class: int = 6, big: bool = True, seed: int = 0) -> dict[str, tuple[str, str]]:
    """Write the corpus under ``root``; return {relative name: (expected outcome, detail)}."""
    rng = np.random.default_rng(seed)
    for style in STYLES:
        for k in range(per_class):
            write_midi(root / style / f"{style}_{k:02d}.mid", style_notes(style, rng), tracks=2)
    expect: dict[str, tuple[str, str]] = {}

    def raw(rel: str, data: bytes, outcome: tuple[str, str]) -> None:
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        expect[rel] = outcome

    good = good_bytes()
    raw("alpha/zero_bytes.mid", b"", ("bad", "unreadable MIDI"))
    raw("alpha/truncated.mid", good[: len(good) // 2], ("bad", "unreadable MIDI"))
    raw("beta/random_bytes.mid", np.random.default_rng(1).bytes(4096), ("bad", "unreadable MIDI"))
    raw("beta/header_no_tracks.mid", b"MThd" + struct.pack(">IHHH", 6, 1, 0, 480), ("bad", "no notes"))
    raw("beta/header_claims_tracks.mid", b"MThd" + struct.pack(">IHHH", 6, 1, 3, 480), ("bad", "no notes"))
    raw("gamma/tracks_without_notes.mid",
        smf([[(0, b"\xff\x51\x03\x07\xa1\x20"), (0, b"\xff\x58\x04\x04\x02\x18\x08")], [(0, b"\xc0\x05")]]),
        ("bad", "no notes"))
    raw("gamma/pitch_out_of_range.mid", smf([[(0, b"\x90\xc8\x40"), (480, b"\x80\xc8\x40")]]), ("bad", "unreadable MIDI"))
    raw("gamma/smpte_division.mid", smf([[(0, b"\x90\x3c\x40"), (480, b"\x80\x3c\x40")]], tpq=0xE728),
        ("bad", "unreadable MIDI"))
    raw("alpha/zero_ticks_per_quarter.mid", smf([[(0, b"\x90\x3c\x40"), (480, b"\x80\x3c\x40")]], tpq=0),
        ("bad", "invalid ticks per quarter"))
    raw("beta/chunk_length_lies.mid",
        b"MThd" + struct.pack(">IHHH", 6, 1, 1, 480) + b"MTrk" + struct.pack(">I", 10**9) + b"\x00\x90\x3c\x40",
        ("bad", "unreadable MIDI"))

    # parse fine but are odd: they must flow through every step
    drums = [(i * 240, 120, 36 + (i % 3) * 2, 100) for i in range(64)]
    p = root / "gamma" / "drums_only.mid"
    _score_with(drums, drum=True).dump_midi(str(p))
    expect["gamma/drums_only.mid"] = ("ok", "drums only: no SGT events (include_drums=false)")
    notes = [(i * 240, [0, -120, 240][i % 3], 60 + STYLES["alpha"]["scale"][i % 7], 80) for i in range(60)]
    _score_with(notes).dump_midi(str(root / "alpha" / "zero_and_negative_durations.mid"))
    expect["alpha/zero_and_negative_durations.mid"] = ("ok", "zero/negative durations: clamped to 0")
    write_tempo_storm(root / "beta" / "tempo_storm.mid")
    expect["beta/tempo_storm.mid"] = ("ok", "5000 tempo + 5000 time-signature changes")
    if big:
        write_big(root / "alpha" / "huge_200k_notes.mid")
        expect["alpha/huge_200k_notes.mid"] = ("ok", f"{N_BIG} notes")
    for rel in ("gamma/Für Elise – 第九 №3 ♯.mid", "beta/   spaces   in   the   name   .mid",
                "alpha/naïve café (copy 2).MID"):
        write_midi(root / rel, style_notes(rel.split("/")[0], rng))
        expect[rel] = ("ok", "non-ASCII / spaces in the name")
    write_midi(root / "no_folder_no_label.mid", style_notes("alpha", rng))
    expect["no_folder_no_label.mid"] = ("unlabeled", "not inside a sub-folder")

    # names that cannot be read as files at all
    os.mkfifo(root / "beta" / "fifo.mid")
    expect["beta/fifo.mid"] = ("bad", "not a regular file (FIFO)")
    os.symlink(root / "gone" / "nowhere.mid", root / "gamma" / "dangling_symlink.mid")
    expect["gamma/dangling_symlink.mid"] = ("bad", "broken symlink")
    os.symlink("self_loop.mid", root / "alpha" / "self_loop.mid")
    expect["alpha/self_loop.mid"] = ("bad", "cannot stat")
    os.symlink("..", root / "alpha" / "loop_to_parent")  # a folder loop: not followed, but listed
    expect["alpha/loop_to_parent"] = ("bad", "symlinked folder already read as data_root (a loop")
    bad_name = os.fsencode(root / "beta") + b"/caf\xe9_latin1.mid"
    with open(bad_name, "wb") as fh:
        fh.write(good)
    expect["beta/caf\ufffd_latin1.mid"] = ("bad", "not valid UTF-8")
    locked = root / "gamma" / "chmod_000.mid"
    locked.write_bytes(good)
    locked.chmod(0)
    if os.access(locked, os.R_OK):  # root reads it anyway: an ordinary (odd-named) piece
        expect["gamma/chmod_000.mid"] = ("ok", "chmod 000 but readable (running as root)")
    else:
        expect["gamma/chmod_000.mid"] = ("bad", "permission denied")
    return expect
