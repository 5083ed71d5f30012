"""One corpus score -> one MIDI file: music21 parsing, the known cures, program normalisation.

Runs in the build's worker processes (:func:`convert_row`); music21 and symusic are imported
inside the functions, so importing this module is cheap. What is built and when (manifests,
checksums, resuming) is :mod:`musicexp.data.corpus.build`'s business.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import warnings
from pathlib import Path

from musicexp.core.fsutil import atomic_write


class ConversionError(RuntimeError):
    """A manifest row could not be converted; the message names the id, source and cause."""


@functools.lru_cache(maxsize=1)
def _corpus_dir() -> Path | None:
    """music21's corpus folder, found without importing music21."""
    import importlib.util

    spec = importlib.util.find_spec("music21")
    return Path(spec.origin).parent / "corpus" if spec and spec.origin else None


def source_size(row: dict) -> int:
    """Text size of the source score: a cost estimate, to start the longest conversions first.

    Compressed .mxl files are measured unpacked (from the zip directory, cheap), else a
    5 MB string quartet would queue behind small uncompressed files and end the run alone.
    A tune of an ABC book (a row with a ``number``) is measured by its own ``X:`` entry.
    """
    import zipfile

    try:
        path = _corpus_dir() / row["source"]
        if row.get("number"):
            return _abc_entry_sizes(path).get(int(row["number"]), 0)
        if path.suffix == ".mxl":
            with zipfile.ZipFile(path) as zf:
                return sum(info.file_size for info in zf.infolist())
        return path.stat().st_size
    except (OSError, TypeError, zipfile.BadZipFile):
        return 0


@functools.lru_cache(maxsize=64)
def _abc_entry_sizes(path: Path) -> dict[int, int]:
    """{X: number: characters of its entry} of an ABC file."""
    import re

    text = path.read_bytes().decode("utf-8", errors="replace")
    sizes: dict[int, int] = {}
    for entry in re.split(r"(?m)^(?=X:)", text):
        m = re.match(r"X:\s*(\d+)", entry)
        if m:
            sizes.setdefault(int(m.group(1)), len(entry))
    return sizes


def convert_row(row_id: str, source: str, out_dir: str, program: int | None,
                number: int | None = None) -> list[str]:
    """Worker: parse one corpus score, write `<id>.mid` atomically, return the cures used.

    `number` picks one tune (its ``X:`` number) of an ABC book that holds several.
    Any failure is re-raised as ConversionError naming the id, the source and the cause.
    """
    try:
        with warnings.catch_warnings():
            # music21 warns about notation details (overfull measures ...) that do not
            # stop the conversion; the result is checked below instead.
            warnings.simplefilter("ignore")
            data, cures = _midi_bytes(source, program, number)
        _check_programs(data, program)
        atomic_write(Path(out_dir) / f"{row_id}.mid", data)
        return cures
    except Exception as exc:
        tune = f", tune X:{number}" if number is not None else ""
        raise ConversionError(
            f"manifest id {row_id!r} (source {source!r}{tune}): {type(exc).__name__}: {exc}") from None


def _midi_bytes(source: str, program: int | None, number: int | None = None) -> tuple[bytes, list[str]]:
    """Parse `source` (tune `number` of it, for an ABC book) from music21's corpus and render
    MIDI, applying the known cures.

    ABC is written as written: its repeat marks are taken out before rendering, so every
    written note sounds once. music21 reads an ABC end-repeat without a start-repeat as going
    back to the very start, and expands tunes made of such sections exponentially (O'Neill's
    "Morgan Rattler", 507 written notes, became 50,577 MIDI notes): a piece's length would
    follow its notation, not its music.
    """
    import music21
    from music21 import repeat

    if number is None:
        score = music21.corpus.parse(source, forceSource=True)  # no hidden pickle cache
    else:
        with _without_beams():
            score = music21.corpus.parse(source, number=number, forceSource=True)
        _check_tune(score, number)
    cures = []
    if isinstance(score, music21.stream.Opus):
        score = _merge_opus(score)
        cures.append("merged opus")
    if str(source).lower().endswith(".abc"):
        _strip_repeats(score)  # the rule for ABC, not a cure: not logged
    if _unshare_time_signatures(score):
        cures.append("copied shared time signatures")
    if program is not None:
        _set_program(score, program)
    try:
        return _render(score), cures
    except (repeat.ExpanderException, repeat.RepeatExpressionException) as first:
        if not _strip_repeats(score):
            raise
        cures.append(f"stripped repeats ({type(first).__name__}: {first})")
        try:
            return _render(score), cures
        except Exception as second:
            raise RuntimeError(f"{type(first).__name__}: {first}; after stripping repeats: "
                               f"{type(second).__name__}: {second}") from second


@contextlib.contextmanager
def _without_beams():
    """Parse without beaming: music21's ABC reader beams every measure, a third of a short
    tune's conversion time, and beams are notation, not sound (the MIDI bytes are identical;
    tests/test_folk.py checks it). Restored on exit; a worker parses one score at a time."""
    from music21 import stream

    original = stream.Stream.makeBeams
    stream.Stream.makeBeams = lambda self, *args, **kwargs: None
    try:
        yield
    finally:
        stream.Stream.makeBeams = original


def _check_tune(score, number: int) -> None:
    """music21 returns an empty score (or the whole book) for a missing X: number: refuse it."""
    import music21

    if isinstance(score, music21.stream.Opus) or score.metadata is None or \
            str(score.metadata.number) != str(number) or not score.recurse().notes:
        raise ValueError(f"no tune with X:{number} in this file")


def _render(score) -> bytes:
    from music21.midi import translate

    return translate.streamToMidiFile(score).writestr()


def _merge_opus(opus):
    """Multi-voice ABC parses to one score per voice: put every part into one score.

    A file of several different tunes (a folk-song book) is refused: stacking them would
    make a piece that does not exist; such a manifest row must name a single piece.
    """
    from music21 import stream

    titles = {s.metadata.title for s in opus.scores if s.metadata is not None}
    if len(titles) > 1:
        shown = sorted(map(str, titles))
        raise ValueError(f"source holds {len(opus.scores)} scores of {len(titles)} different "
                         f"tunes ({', '.join(shown[:3])}, ...), not the voices of one piece")
    merged = stream.Score()
    for sub in opus.scores:
        for part in (list(sub.parts) or [sub]):
            merged.insert(0, part)
    if opus.scores and opus.scores[0].metadata is not None:
        merged.insert(0, copy.deepcopy(opus.scores[0].metadata))
    return merged


def _unshare_time_signatures(score) -> int:
    """Give each measure its own TimeSignature object; return how many were copied.

    music21's ABC reader can put one object in two measures, and MIDI export then fails
    ("already found in this Stream"). A copy changes no note.
    """
    from music21 import stream

    seen: set[int] = set()
    copied = 0
    for measure in score.recurse().getElementsByClass(stream.Measure):
        ts = measure.timeSignature
        if ts is None:
            continue
        if id(ts) in seen:
            measure.timeSignature = copy.deepcopy(ts)
            copied += 1
        seen.add(id(measure.timeSignature))
    return copied


def _strip_repeats(score) -> bool:
    """Remove repeat barlines, repeat expressions and brackets; True if anything was removed.

    Used for every ABC score (written as written, see :func:`_midi_bytes`) and when music21
    cannot expand malformed repeats: the piece is then written once through, which keeps
    every note (a repeat only plays a section again).
    """
    from music21 import bar, repeat, spanner, stream

    removed = False
    for measure in score.recurse().getElementsByClass(stream.Measure):
        for side in ("leftBarline", "rightBarline"):
            if isinstance(getattr(measure, side), bar.Repeat):
                setattr(measure, side, None)
                removed = True
    marks = [el for el in score.recurse().getElementsByClass(repeat.RepeatExpression)]
    marks += list(score.spannerBundle.getByClass(spanner.RepeatBracket))
    if marks:
        score.remove(marks, recurse=True)
    return removed or bool(marks)


def _set_program(score, program: int) -> None:
    """Give every pitched part `program` on a shared channel.

    music21 otherwise writes the encoder's instrument (53 for Palestrina, 40-42 for the
    quartets ...), which would let a classifier learn the collection instead of the music.
    Channels are reset too, for the same reason. A part without an instrument at its start
    gets one, since MIDI readers would otherwise assume program 0.
    """
    from music21 import instrument

    for part in (list(score.parts) or [score]):
        instruments = list(part.recurse().getElementsByClass(instrument.Instrument))
        if not instruments or instruments[0].getOffsetInHierarchy(part) != 0:
            first = instrument.Instrument()
            first.partName = part.partName
            part.insert(0, first)
            instruments.insert(0, first)
        for inst in instruments:
            if isinstance(inst, (instrument.UnpitchedPercussion, instrument.Conductor)):
                continue
            inst.midiProgram = program
            inst.midiChannel = None


def _check_programs(data: bytes, program: int | None) -> None:
    """Read the MIDI back with symusic: every non-empty pitched track must carry `program`."""
    if program is None:
        return
    import symusic

    wrong = sorted({t.program for t in symusic.Score.from_midi(data).tracks
                    if len(t.notes) and not t.is_drum and t.program != program})
    if wrong:
        raise ValueError(f"MIDI has programs {wrong} besides the requested {program}")
