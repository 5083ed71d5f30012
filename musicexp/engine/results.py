"""results.jsonl (the record of truth) and results.csv (a view of it), appended under a lock.

The older runner wrote the CSV header from whichever row came first, so rows with other
columns broke it, and parallel runs could interleave. Here every append holds one file lock,
writes whole JSON lines with a single write + fsync, and rewrites the CSV from the JSONL
(atomically, via os.replace) with the union of all columns: the CSV always has one
consistent header and always matches the JSONL. A call with nothing to add that finds the
CSV current returns at once (no lock: a fully cached rerun writes nothing).

A process killed mid-append leaves at worst a torn last JSONL line (cut by the next append,
ignored by readers) or a CSV that lags the JSONL (rewritten by the next append, which
always rebuilds the CSV); the lock dies with its holder.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Iterable

from musicexp.core import faults, fsutil

#: columns shown first in the CSV, in this order; the rest follow in first-seen order
LEAD = ("run_id", "dataset_id", "experiment", "mode", "task", "seed", "score")


def _lock(jsonl: Path):
    from filelock import FileLock

    return FileLock(str(jsonl.with_name(f".{jsonl.name}.lock")))


def read_jsonl(path: Path) -> list[dict]:
    """Every complete record; a torn last line (a crash mid-write) is ignored."""
    if not path.is_file():
        return []
    out = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.endswith("\n"):
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
    return out


def _repair_tail(path: Path) -> None:
    """Cut a torn last line (no newline) left by a process killed mid-write."""
    if not path.is_file() or path.stat().st_size == 0:
        return
    with open(path, "rb+") as fh:
        fh.seek(-1, os.SEEK_END)
        if fh.read(1) == b"\n":
            return
        fh.seek(0)
        data = fh.read()
        fh.truncate(data.rfind(b"\n") + 1)
        fh.flush()
        os.fsync(fh.fileno())


def cell(v) -> str:
    """A record value as a CSV cell (lists and dicts as JSON)."""
    if isinstance(v, (dict, list)):
        return json.dumps(v, sort_keys=True)
    return "" if v is None else str(v)


def write_csv(records: list[dict], path: Path) -> None:
    """Write ``records`` as CSV with the union of their columns (LEAD first), atomically."""
    cols = [c for c in LEAD if any(c in r for r in records)]
    for r in records:
        cols.extend(k for k in r if k not in cols)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore", lineterminator="\r\n")
    w.writeheader()
    for r in records:
        w.writerow({k: cell(r.get(k)) for k in cols})
    fsutil.atomic_write(path, buf.getvalue(), fault="results.csv.before_replace")


def _csv_temps(csv_path: Path) -> str:
    return f"{fsutil.TMP}{csv_path.name}-"


def _nothing_to_do(records: list[dict], jsonl: Path, csv_path: Path) -> bool:
    """True if every record is already in the JSONL and the CSV already mirrors it.

    Read without the lock: appends are whole lines, so a reader sees each record entirely or
    not at all. The CSV mirrors the JSONL if it was replaced after the JSONL's last change
    (strictly newer mtime: with coarse timestamps an equal one proves nothing), the JSONL
    ends with a newline (no torn line to cut) and no CSV temporary is left over; else the
    locked path below repairs what a killed append left.
    """
    try:
        j, c = jsonl.stat(), csv_path.stat()
    except OSError:
        return False
    if c.st_mtime_ns <= j.st_mtime_ns or j.st_size == 0:
        return False
    with open(jsonl, "rb") as fh:
        fh.seek(-1, os.SEEK_END)
        if fh.read(1) != b"\n":
            return False
    if any(csv_path.parent.glob(_csv_temps(csv_path) + "*")):
        return False
    have = {r.get("record_id") for r in read_jsonl(jsonl)}
    return all(r.get("record_id") in have for r in records)


def append(records: Iterable[dict], jsonl: Path, csv_path: Path, only_missing: bool = False) -> int:
    """Append ``records``; with ``only_missing`` skip those whose record_id is already there.

    Returns how many were appended. The CSV is rebuilt from the JSONL on every call, so one
    left behind by a killed append is brought up to date by the next.
    """
    records = list(records)
    if only_missing and _nothing_to_do(records, jsonl, csv_path):
        return 0  # a fully cached rerun: no lock taken, nothing written
    jsonl.parent.mkdir(parents=True, exist_ok=True)
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    with _lock(jsonl):
        faults.point("results.append.locked")
        _repair_tail(jsonl)
        if only_missing:
            have = {r.get("record_id") for r in read_jsonl(jsonl)}
            records = [r for r in records if r.get("record_id") not in have]
        if records:
            data = "".join(json.dumps(r, sort_keys=False, default=str) + "\n" for r in records).encode()
            fd = os.open(jsonl, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                if faults.armed("results.append.torn"):  # half a line written, then killed
                    os.write(fd, data[: len(data) // 2])
                    faults.kill()
                while data:
                    data = data[os.write(fd, data):]
                os.fsync(fd)
            finally:
                os.close(fd)
            faults.point("results.append.after_jsonl")
        fsutil.remove_stale_temps(csv_path.parent, _csv_temps(csv_path))
        write_csv(read_jsonl(jsonl), csv_path)
    return len(records)
