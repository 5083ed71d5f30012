"""The file-system primitives every other module uses: one atomic write, one "is this process
alive" check, one host tag for temporary names, one file hash.

An atomic write goes to a temporary name beside the target (tagged with the writer's pid and
host), is fsynced, then ``os.replace``d over the target: a reader sees the old file or the new
one, never half of one. Temporary names carry the pid and a host tag so that a later process
can tell the leftovers of a dead writer (removable) from those of a live one (in use), and on a
filesystem shared by several machines only ever judges the leftovers of its own machine.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import uuid
from pathlib import Path
from typing import Any

from musicexp.core import faults

#: this machine's tag in temporary names (a pid means nothing on another host)
HOST = hashlib.sha1(socket.gethostname().encode()).hexdigest()[:8]
#: prefix of every temporary file and folder name
TMP = ".tmp-"


def pid_alive(pid: int) -> bool:
    """True if a process with this pid exists on this machine (a permission error means it does)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def temp_name(prefix: str, stem: str) -> str:
    """``<prefix><stem>-<pid>-<random>-<host>``: a name only this process will write."""
    return f"{prefix}{stem}-{os.getpid()}-{uuid.uuid4().hex[:8]}-{HOST}"


def temp_owner(name: str, prefix: str) -> int | None:
    """The pid in a :func:`temp_name` with this prefix, if it was made on this host (else None)."""
    if not name.startswith(prefix):
        return None
    parts = name[len(prefix):].rsplit("-", 3)
    if len(parts) != 4 or parts[3] != HOST:
        return None
    try:
        return int(parts[1])
    except ValueError:
        return None


def stale(name: str, prefix: str) -> bool:
    """True for a temporary name of this host whose writer is gone (safe to remove)."""
    pid = temp_owner(name, prefix)
    return pid is not None and not pid_alive(pid)


def write_bytes(path: Path, data: bytes, fsync: bool = True) -> None:
    """Write ``data`` to a new file at ``path`` (not atomic: for files inside a temporary folder)."""
    with open(path, "wb") as fh:
        fh.write(data)
        if fsync:
            fh.flush()
            os.fsync(fh.fileno())


def atomic_write(path: str | os.PathLike, data: bytes | str, fsync: bool = True, fault: str | None = None) -> Path:
    """Replace ``path`` by ``data`` atomically (temporary file beside it, then ``os.replace``).

    ``fsync=False`` for files whose loss on a power cut costs nothing (a job's summary): the
    replace is still atomic for every reader. ``fault`` names a fault point between the write
    and the replace (where the crash tests kill the writer).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(temp_name(TMP, path.name))
    if isinstance(data, str):
        data = data.encode("utf-8")
    try:
        write_bytes(tmp, data, fsync)
        if fault:
            faults.point(fault)
        os.replace(tmp, path)
    finally:
        if os.path.lexists(tmp):
            tmp.unlink()
    return path


def atomic_write_json(path: str | os.PathLike, obj: Any, fsync: bool = True) -> Path:
    return atomic_write(path, json.dumps(obj, indent=1, sort_keys=True, default=json_default) + "\n", fsync)


def remove_stale_temps(folder: Path, prefix: str = TMP) -> None:
    """Delete the temporary files (names starting with ``prefix``) of dead writers in ``folder``.

    ``prefix`` only narrows the search (e.g. the temporaries of one file); every name made by
    :func:`atomic_write` is parsed from its :data:`TMP` prefix."""
    for p in folder.glob(f"{prefix}*"):
        if p.is_file() and stale(p.name, TMP):
            p.unlink(missing_ok=True)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def json_default(obj: Any) -> Any:
    """JSON for numpy scalars and arrays (without importing numpy)."""
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if hasattr(obj, "item"):
        return obj.item()
    return str(obj)
