"""Build the embedded default dataset: music21 corpus scores -> MIDI files on this machine.

Several corpus collections reserve derivative formats, so the project ships manifests
(which piece, which labels) and never MIDI; the files are made here on first use and cached.

A dataset folder holds ``<id>.mid`` per manifest row, ``labels.csv`` and ``dataset.json``.
``dataset.json`` is written last and atomically, so a folder without it is unfinished;
``.build.json`` (written before any conversion) records what the files present were made
with, so an interrupted build resumes by converting only the missing files.

Importing this module is cheap: music21, symusic and the modules only a build needs (csv,
zipfile, process pools) are imported where they are used, so a cached rerun never pays for
them.
"""

from __future__ import annotations

import io
import json
import logging
import os
import sys
from pathlib import Path

from musicexp.data.corpus.convert import ConversionError, convert_row, source_size
from musicexp.core.fsutil import atomic_write, atomic_write_json, file_sha256, remove_stale_temps

__all__ = ["ConversionError", "build_dataset", "is_built", "label_columns", "manifest_path", "read_manifest",
           "resolve_manifest"]

MANIFEST_DIR = Path(__file__).parents[1] / "manifests"
#: columns every manifest has; ``number`` (optional) is the tune's ``X:`` number in an ABC book.
#: Every other column is a label column, copied to labels.csv in the manifest's order.
REQUIRED_COLUMNS = ("id", "source")
NUMBER_COLUMN = "number"
DATASET_JSON = "dataset.json"
BUILD_JSON = ".build.json"
LABELS_CSV = "labels.csv"
FORMAT = 1
_SHOW_SETS = 30  # near-duplicate sets listed in the build's log (folk has over 200)
_MISSING = object()
log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- public API

def manifest_path(name: str) -> Path:
    """Path of a packaged manifest ('default', 'subset100', 'folk', 'folk300')."""
    path = MANIFEST_DIR / f"{name}.csv"
    if not path.is_file():
        known = sorted(p.stem for p in MANIFEST_DIR.glob("*.csv"))
        raise ValueError(f"unknown manifest {name!r}; packaged manifests: {known}")
    return path


def read_manifest(manifest: str | Path) -> list[dict[str, str]]:
    """Rows of a manifest (name or CSV path), checked so that every id is a safe file stem.

    Each row holds every column of the manifest, in its order: ``id``, ``source``, an optional
    ``number`` (the tune's ``X:`` number when ``source`` is an ABC book of several tunes; empty
    = the whole file) and the label columns (every other column: :func:`label_columns`).
    """
    import csv

    path = resolve_manifest(manifest)
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        columns = list(reader.fieldnames or [])
        missing = [c for c in REQUIRED_COLUMNS if c not in columns]
        if missing:
            raise ValueError(f"manifest {path} lacks columns {missing}")
        rows = [{c: row[c] for c in columns} for row in reader]
    seen: set[str] = set()
    for row in rows:
        rid = row["id"]
        if not rid or rid in (".", "..") or any(ch in rid for ch in "/\\\0"):
            raise ValueError(f"manifest {path}: id {rid!r} cannot be a file name")
        if rid in seen:
            raise ValueError(f"manifest {path}: duplicate id {rid!r}")
        number = row.get(NUMBER_COLUMN) or ""
        if number and not number.isdigit():
            raise ValueError(f"manifest {path}: id {rid!r} has number {number!r}, not a tune number")
        seen.add(rid)
    return rows


def label_columns(rows: list[dict]) -> tuple[str, ...]:
    """The label columns of manifest rows: every column but id, source and number."""
    skip = set(REQUIRED_COLUMNS) | {NUMBER_COLUMN}
    return tuple(c for c in (rows[0] if rows else {}) if c not in skip)


def is_built(out_dir: str | Path, manifest: str | Path, program: int | None) -> bool:
    """True if `out_dir` holds a finished build of `manifest` with `program`.

    Cheap on purpose (hash of the small manifest, one stat per file, no music21 import):
    it is what lets a cached rerun of the whole app start instantly.
    """
    out = Path(out_dir)
    record = _read_json(out / DATASET_JSON)
    if record is None or not _same_build(record, resolve_manifest(manifest),
                                         _normalise_program(program)):
        return False
    entries = dict(record.get("files", {}))
    entries[LABELS_CSV] = record.get("labels", {})
    return all(_has_size(out / name, entry.get("size")) for name, entry in entries.items())


def build_dataset(manifest: str | Path, out_dir: str | Path, *, program: int | None = 0,
                  n_jobs: int = 2, progress: bool = True) -> Path:
    """Make `out_dir` hold one MIDI file per manifest row, plus labels.csv; return out_dir.

    `manifest` is a packaged name ('default', 'subset100', 'folk', 'folk300') or a CSV path.
    `program` is the MIDI program written for every part (None keeps music21's, which leak
    the label).
    Returns at once when already built; otherwise converts only what is missing.
    """
    manifest_file = resolve_manifest(manifest)
    program = _normalise_program(program)
    if n_jobs < 1:
        raise ValueError(f"n_jobs must be >= 1, got {n_jobs}")
    out = Path(out_dir)
    if is_built(out, manifest_file, program):
        return out

    rows = read_manifest(manifest_file)
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(out)
    prior = _start_build(out, manifest_file, program, rows)
    todo = _rows_to_convert(out, rows, prior)
    if todo:
        _check_music21_version(out, prior)
    _convert_rows(todo, out, program, n_jobs, progress)
    _write_labels(out, rows)
    _write_record(out, manifest_file, rows, program,
                  (prior or {}).get("music21") or _music21_version())
    _report_duplicates(out, rows)
    return out


def _report_duplicates(out: Path, rows: list[dict]) -> None:
    """Log the sets of near-duplicate pieces (same melody) of a finished build: the runs put
    each set into one group (dataset.labels.duplicates), this says which they are."""
    import numpy as np

    from musicexp.data.duplicates import near_duplicates
    from musicexp.data.midi import read_notes

    tables = [read_notes(out / f"{r['id']}.mid")["columns"] for r in rows]
    counts = np.array([len(t["pitch"]) for t in tables])
    notes = {k: np.concatenate([t[k] for t in tables]) for k in ("track", "pitch", "onset", "is_drum")}
    notes["offsets"] = np.concatenate([[0], np.cumsum(counts)])
    sets = near_duplicates(notes, [r["id"] for r in rows])
    if sets:
        shown = sets[:_SHOW_SETS]
        more = (f"\n  ... and {len(sets) - len(shown)} more (the `labels` artifact of a run lists them all)"
                if len(sets) > len(shown) else "")
        log.warning("%s: %d set(s) of near-duplicate pieces (same melody), %d pieces; each set is kept in one group "
                    "of the CV folds:\n  %s%s", out, len(sets), sum(map(len, sets)),
                    "\n  ".join(", ".join(s) for s in shown), more)


# --------------------------------------------------------------------------- bookkeeping

def resolve_manifest(manifest: str | Path) -> Path:
    """A bare name means a packaged manifest; anything else (a .csv or a path) is a path."""
    if isinstance(manifest, str) and not manifest.endswith(".csv") and os.sep not in manifest:
        return manifest_path(manifest)
    path = Path(manifest)
    if not path.is_file():
        raise FileNotFoundError(f"manifest not found: {path}")
    return path


def _normalise_program(program: int | None) -> int | None:
    """Accept None or a General MIDI program 0..127 (ints only: 0.0 would hash differently)."""
    if program is None:
        return None
    if isinstance(program, bool) or not isinstance(program, int) or not 0 <= program <= 127:
        raise ValueError(f"program must be None or an int in 0..127, got {program!r}")
    return int(program)


def _music21_version() -> str:
    """Installed music21 version, read without importing music21 (slow to import)."""
    import importlib.metadata

    return importlib.metadata.version("music21")


def _read_json(path: Path) -> dict | None:
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _has_size(path: Path, size) -> bool:
    try:
        return path.stat().st_size == size
    except OSError:
        return False


def _build_params(manifest_file: Path, program: int | None) -> dict:
    return {"format": FORMAT, "manifest": manifest_file.stem,
            "manifest_sha256": file_sha256(manifest_file), "program": program}


def _same_build(record: dict, manifest_file: Path, program: int | None) -> bool:
    return (record.get("format") == FORMAT
            and record.get("manifest_sha256") == file_sha256(manifest_file)
            and record.get("program", _MISSING) == program)


def _start_build(out: Path, manifest_file: Path, program: int | None, rows: list[dict]) -> dict | None:
    """Return the record the files present were made with, or None if there is none.

    A new version of the same packaged manifest (rows added, removed or relabelled) updates
    the folder: the files it no longer lists are removed, the others kept (same music21, same
    bytes), the new ones converted. A folder made with another manifest or program is refused
    rather than silently overwritten or mixed. Without any record, files present are not trusted.
    """
    prior = _read_json(out / DATASET_JSON) or _read_json(out / BUILD_JSON)
    if prior is not None and _updated(prior, manifest_file, program):
        keep = {f"{r['id']}.mid" for r in rows}
        gone = [name for name in prior.get("files", {}) if name not in keep]
        log.warning("%s: manifest %r changed; updating the folder (%d file(s) removed, new rows converted)",
                    out, manifest_file.stem, len(gone))
        atomic_write_json(out / BUILD_JSON, {**_build_params(manifest_file, program), "music21": prior.get("music21"),
                                             "files": {k: v for k, v in prior.get("files", {}).items() if k in keep}})
        (out / DATASET_JSON).unlink(missing_ok=True)
        for name in gone:
            (out / name).unlink(missing_ok=True)
        return _read_json(out / BUILD_JSON)
    if prior is not None and not _same_build(prior, manifest_file, program):
        raise RuntimeError(
            f"{out} holds a dataset built from manifest {prior.get('manifest')!r} "
            f"(sha256 {str(prior.get('manifest_sha256'))[:12]}) with program "
            f"{prior.get('program')!r}, not from {manifest_file} with program {program!r}; "
            "delete the folder or choose another one")
    if prior is None:
        atomic_write_json(out / BUILD_JSON, {**_build_params(manifest_file, program),
                                       "music21": _music21_version()})
    return prior


def _updated(record: dict, manifest_file: Path, program: int | None) -> bool:
    """The record is a build of an earlier version of this same manifest, with this program."""
    return (record.get("format") == FORMAT and record.get("manifest") == manifest_file.stem
            and record.get("manifest_sha256") != file_sha256(manifest_file)
            and record.get("program", _MISSING) == program)


def _rows_to_convert(out: Path, rows: list[dict], prior: dict | None) -> list[dict]:
    """Rows whose file is missing, or whose size differs from the finished record."""
    if prior is None:
        return list(rows)
    recorded = prior.get("files", {})
    todo = []
    for row in rows:
        name = f"{row['id']}.mid"
        path = out / name
        if not path.is_file() or (name in recorded
                                  and not _has_size(path, recorded[name].get("size"))):
            todo.append(row)
    return todo


def _check_music21_version(out: Path, prior: dict | None) -> None:
    """Never mix files from two music21 releases: their bytes (and notes) may differ."""
    installed = _music21_version()
    if prior is not None and prior.get("music21") != installed:
        raise RuntimeError(
            f"{out} was built with music21 {prior.get('music21')}, but music21 {installed} "
            "is installed and some files are missing; delete the folder to rebuild it, or "
            f"install music21=={prior.get('music21')} to complete it")


def _write_labels(out: Path, rows: list[dict]) -> None:
    import csv

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    columns = label_columns(rows)
    writer.writerow(("file",) + columns)
    for row in rows:
        writer.writerow([f"{row['id']}.mid"] + [row[c] for c in columns])
    atomic_write(out / LABELS_CSV, buf.getvalue())


def _file_entry(path: Path) -> dict:
    return {"sha256": file_sha256(path), "size": path.stat().st_size}


def _write_record(out: Path, manifest_file: Path, rows: list[dict], program: int | None,
                  music21_version: str) -> None:
    """Write dataset.json, the completion mark: last, atomically, with per-file checksums."""
    record = {**_build_params(manifest_file, program), "music21": music21_version,
              "labels": {"file": LABELS_CSV, **_file_entry(out / LABELS_CSV)},
              "files": {f"{r['id']}.mid": _file_entry(out / f"{r['id']}.mid") for r in rows}}
    atomic_write_json(out / DATASET_JSON, record)


# --------------------------------------------------------------------------- conversion

def _convert_rows(rows: list[dict], out: Path, program: int | None, n_jobs: int,
                  progress: bool) -> None:
    """Convert rows (largest sources first, for a short tail); raise once, naming every failure.

    Files finished before a failure stay in place, so a rerun converts only what is left.
    """
    if not rows:
        return
    from concurrent.futures import ProcessPoolExecutor, as_completed

    from tqdm import tqdm

    sizes = {r["id"]: max(source_size(r), 1) for r in rows}
    rows = sorted(rows, key=lambda r: sizes[r["id"]], reverse=True)
    jobs = [(r["id"], r["source"], str(out), program, _number(r)) for r in rows]
    errors: list[str] = []
    # the bar counts work, not files: the largest scores go first and take longest, so a count
    # of files would predict hours at the start (its rate is in kB of score text)
    with tqdm(total=sum(sizes.values()) / 1e3, desc=f"music21 -> MIDI ({len(jobs)} files)", unit="kB",
              unit_scale=False, bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} kB [{elapsed}<{remaining}]",
              disable=not progress, file=sys.stdout) as bar:
        if n_jobs == 1:
            for job in jobs:
                _collect(job[0], lambda job=job: convert_row(*job), errors)
                bar.update(sizes[job[0]] / 1e3)
        else:
            pool = ProcessPoolExecutor(min(n_jobs, len(jobs)))
            try:
                futures = {pool.submit(convert_row, *job): job[0] for job in jobs}
                for fut in as_completed(futures):
                    _collect(futures[fut], fut.result, errors)
                    bar.update(sizes[futures[fut]] / 1e3)
            finally:  # on Ctrl-C or a dead worker, do not wait for the queued files
                pool.shutdown(wait=True, cancel_futures=True)
    if errors:
        raise ConversionError(f"{len(errors)} of {len(jobs)} pieces failed:\n" + "\n".join(errors))


def _number(row: dict) -> int | None:
    """The row's tune number (an ABC book's X: entry), or None for a whole file."""
    number = row.get(NUMBER_COLUMN) or ""
    return int(number) if number else None


def _collect(row_id: str, get_cures, errors: list[str]) -> None:
    """Log the cures a piece needed (repeats stripped is worth a warning); keep errors."""
    try:
        cures = get_cures()
    except ConversionError as exc:
        errors.append(str(exc))
        return
    for cure in cures:
        level = logging.WARNING if cure.startswith("stripped repeats") else logging.INFO
        log.log(level, "%s: %s", row_id, cure)


