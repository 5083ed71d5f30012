"""MIDI files -> one columnar note table, parsed in parallel processes.

Files that cannot be used are listed with their reason, never silently dropped (that includes
names the dataset could not even open: broken symlinks, FIFOs, unreadable files). Parsing
processes die with the run (a SIGKILLed run leaves none behind), and a parsing process that
dies (a crash inside the parser, the OOM killer) costs only the file it was reading: the rest is
parsed again one file at a time and the culprit is listed as a bad file.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path

from musicexp.core import faults
from musicexp.core.errors import UserError

log = logging.getLogger("musicexp")


class BadFileError(UserError):
    pass


def _parse(path: str) -> tuple[dict | None, str | None]:
    from musicexp.data.midi import MidiError, read_notes

    faults.point("notes.worker", Path(path).name)
    try:
        return read_notes(path), None
    except MidiError as exc:
        return None, str(exc)
    except OSError as exc:
        return None, f"cannot read file ({exc.strerror or exc})"


def _parse_chunk(paths: list[str]) -> list[tuple[dict | None, str | None]]:
    return [_parse(p) for p in paths]


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


def _die_with_parent(parent: int) -> None:
    """Pool initializer: a worker must not outlive a run that was killed (SIGKILL skips the
    executor's shutdown, and orphaned workers would wait on their queue forever)."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    else:
        threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(1)


def _pool(n: int):
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(max_workers=n, initializer=_die_with_parent, initargs=(os.getpid(),))


CRASHED = "the parser crashed on this file (its process died)"


def _parse_isolated(paths: list[str], bar) -> list[tuple[dict | None, str | None]]:
    """Parse one file at a time in a single worker; a file that kills its worker is an error."""
    from concurrent.futures.process import BrokenProcessPool

    out: list = []
    while len(out) < len(paths):
        start = len(out)
        try:
            with _pool(1) as pool:
                for res in pool.map(_parse, paths[start:]):
                    out.append(res)
                    bar.update()
        except BrokenProcessPool:
            suspect = paths[len(out)]
            try:  # make sure it is this file (and not a worker killed from outside)
                with _pool(1) as pool:
                    res = pool.submit(_parse, suspect).result()
            except BrokenProcessPool:
                res = (None, CRASHED)
            out.append(res)
            bar.update()
    return out


def parse_all(paths: list[str], n_jobs: int, progress: bool):
    """(result, error) per path, in order; chunks amortise process start-up."""
    from concurrent.futures.process import BrokenProcessPool

    from tqdm.auto import tqdm

    bar = tqdm(total=len(paths), desc="notes", unit="file", disable=not progress, leave=False, file=sys.stdout)
    if n_jobs <= 1 or len(paths) < 16:
        out = []
        for p in paths:
            out.append(_parse(p))
            bar.update()
        bar.close()
        return out
    size = max(4, min(64, len(paths) // (n_jobs * 8) or 1))
    chunks = [paths[i : i + size] for i in range(0, len(paths), size)]
    out = []
    try:
        with _pool(n_jobs) as pool:
            for res in pool.map(_parse_chunk, chunks):
                out.extend(res)
                bar.update(len(res))
                faults.point("notes.parsed_chunk")  # main process, parsing processes running
    except BrokenProcessPool:
        log.warning("notes: a parsing process died after %d of %d files; parsing the rest one file at a time",
                    len(out), len(paths))
        out.extend(_parse_isolated(paths[len(out):], bar))
    bar.close()
    return out


#: what ``dataset.neutralize`` can take out of the note table (edition / encoder metadata)
NEUTRAL = ("velocity", "tempo", "time_signature", "key_signature")
NEUTRAL_VELOCITY, NEUTRAL_BPM = 64, 120.0


def neutralize(res: dict, what: tuple[str, ...]) -> dict:
    """One parsed file with the chosen metadata replaced by constants: every velocity 64; the
    tempo map one constant 120 bpm (seconds recomputed from beats, so nothing in seconds keeps
    the edition's tempo); no time or key signatures."""
    cols, out = dict(res["columns"]), dict(res)
    if "velocity" in what:
        cols["velocity"] = cols["velocity"].copy()
        cols["velocity"][:] = NEUTRAL_VELOCITY
    if "tempo" in what:
        cols["onset_s"] = cols["onset"] * (60.0 / NEUTRAL_BPM)
        cols["duration_s"] = cols["duration"] * (60.0 / NEUTRAL_BPM)
        out.update(tempo_bpm=NEUTRAL_BPM, tempo_changes=0, tempo_range_bpm=[NEUTRAL_BPM, NEUTRAL_BPM])
    if "time_signature" in what:
        out["time_signatures"] = []
    if "key_signature" in what:
        out["key_signatures"] = []
    out["columns"] = cols
    return out


def note_table(ds, n_jobs: int, progress: bool) -> tuple[dict, dict]:
    """Every file of the dataset parsed into one columnar note table (the `notes` artifact).

    Outputs: ``notes`` (COLUMNS + ``offsets``: piece k is rows offsets[k]:offsets[k+1]),
    ``pieces`` (id, n_notes, tpq, tempo facts, time and key signatures) and ``errors`` (every
    file that could not be used, with its reason); ``dataset.neutralize`` replaces the chosen
    metadata by constants (:func:`neutralize`). Returns (outputs, summary).
    """
    import numpy as np

    from musicexp.data.midi import COLUMNS

    paths = [str(ds.path(f)) for f in ds.files]
    results = parse_all(paths, min(n_jobs, os.cpu_count() or 1), progress)
    what = tuple(ds.cfg.neutralize)
    pieces, tables = [], []
    errors = [{"file": rel, "reason": reason} for rel, reason in ds.rejected]
    for rel, (res, err) in zip(ds.files, results):
        if err is not None:
            errors.append({"file": rel, "reason": err})
            continue
        if what:
            res = neutralize(res, what)
        tables.append(res["columns"])
        pieces.append({"id": rel, "n_notes": int(len(res["columns"]["pitch"])),
                       **{k: res[k] for k in ("tpq", "tempo_bpm", "tempo_changes", "tempo_range_bpm",
                                              "time_signatures", "key_signatures")}})
    if not pieces:
        raise BadFileError(
            f"none of the {len(ds.files)} files under {ds.root} could be parsed "
            f"(first: {errors[0]['file']}: {errors[0]['reason']})."
        )
    errors.sort(key=lambda e: e["file"])
    counts = np.array([p["n_notes"] for p in pieces], dtype=np.int64)
    notes = {k: np.concatenate([t[k] for t in tables]) for k in COLUMNS}
    notes["offsets"] = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    outputs = {"notes": notes, "pieces": pieces, "errors": errors}
    summary = {"pieces": len(pieces), "notes": int(counts.sum()), "bad_files": len(errors)}
    if what:
        summary["neutralized"] = ",".join(what)
    return outputs, summary
