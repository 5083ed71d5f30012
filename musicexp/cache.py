"""Content-addressed artifact store: ``{root}/{dataset_id}/{step}/{hash}/``.

An artifact is a folder holding the step's output files and ``meta.json``, its completion
record (config, upstream hashes, timings, package versions, a sha256 per file). It is written
in a temporary sibling folder and renamed into place as the last act, so a crash at any
moment leaves either the old state or the new one: a folder under a final hash name always
holds a complete artifact, and one without ``meta.json`` is never trusted. One file lock per
hash makes concurrent processes that need the same artifact compute it once.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np

from musicexp.hashing import file_sha256

META = "meta.json"
_TMP, _TRASH = ".tmp-", ".trash-"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_bytes(path: Path, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write JSON to ``path`` via a temporary file and os.replace (never a torn file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    _write_bytes(tmp, json.dumps(obj, indent=1, sort_keys=True, default=str).encode())
    os.replace(tmp, path)


def _save(folder: Path, name: str, value: Any) -> str:
    """Store one output; the file type follows the value's type."""
    if isinstance(value, np.ndarray):
        fname = f"{name}.npy"
        with open(folder / fname, "wb") as fh:
            np.save(fh, value, allow_pickle=False)
            fh.flush()
            os.fsync(fh.fileno())
    elif isinstance(value, Mapping) and value and all(
        isinstance(v, np.ndarray) for v in value.values()
    ):
        fname = f"{name}.npz"
        with open(folder / fname, "wb") as fh:
            np.savez(fh, allow_pickle=False, **value)
            fh.flush()
            os.fsync(fh.fileno())
    else:
        fname = f"{name}.json"
        _write_bytes(folder / fname, json.dumps(value, indent=1, default=_json_default).encode())
    return fname


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)


def _load(path: Path) -> Any:
    if path.suffix == ".npy":
        return np.load(path, allow_pickle=False)
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    return json.loads(path.read_text())


@dataclass
class Artifact:
    """A finished artifact: its folder, its meta record and lazy access to its outputs."""

    path: Path
    meta: dict
    _loaded: dict = field(default_factory=dict, repr=False)

    @property
    def hash(self) -> str:
        return self.meta["hash"]

    def names(self) -> list[str]:
        return sorted(self.meta["outputs"])

    def load(self, name: str) -> Any:
        if name not in self._loaded:
            if name not in self.meta["outputs"]:
                raise KeyError(f"{self.meta['step']} artifact has no output {name!r}")
            self._loaded[name] = _load(self.path / self.meta["outputs"][name])
        return self._loaded[name]

    def __getitem__(self, name: str) -> Any:
        return self.load(name)

    def verify(self) -> list[str]:
        """Problems found by recomputing every file's checksum (empty list = intact)."""
        problems = []
        for fname, rec in self.meta["files"].items():
            p = self.path / fname
            if not p.is_file():
                problems.append(f"{fname}: missing")
            elif p.stat().st_size != rec["size"]:
                problems.append(f"{fname}: size {p.stat().st_size} != {rec['size']}")
            elif file_sha256(p) != rec["sha256"]:
                problems.append(f"{fname}: checksum mismatch")
        return problems


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class ArtifactStore:
    """The one place that knows where artifacts live."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def folder(self, dataset_id: str, step: str, h: str) -> Path:
        return self.root / dataset_id / step / h

    def get(self, dataset_id: str, step: str, h: str) -> Artifact | None:
        """The finished artifact, or None (a folder without its completion record is none)."""
        folder = self.folder(dataset_id, step, h)
        try:
            meta = json.loads((folder / META).read_text())
        except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError):
            return None
        return Artifact(folder, meta)

    def lock(self, dataset_id: str, step: str, h: str, timeout: float = -1):
        """An OS file lock for one hash (released by the kernel if the holder dies)."""
        from filelock import FileLock

        lock_dir = self.root / dataset_id / step / ".locks"
        lock_dir.mkdir(parents=True, exist_ok=True)
        return FileLock(str(lock_dir / f"{h}.lock"), timeout=timeout)

    def commit(
        self,
        dataset_id: str,
        step: str,
        h: str,
        outputs: Mapping[str, Any],
        meta: dict,
        replace: bool = False,
    ) -> Artifact:
        """Write ``outputs`` + meta.json in a temporary folder, then rename it into place.

        Call while holding :meth:`lock` for ``h``. With ``replace`` an existing artifact is
        swapped out (force); otherwise an existing one wins and the new files are dropped.
        """
        step_dir = self.root / dataset_id / step
        step_dir.mkdir(parents=True, exist_ok=True)
        self.sweep_stale(step_dir)
        tmp = step_dir / f"{_TMP}{h[:16]}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        tmp.mkdir()
        try:
            names = {name: _save(tmp, name, value) for name, value in outputs.items()}
            files = {
                f: {"sha256": file_sha256(tmp / f), "size": (tmp / f).stat().st_size}
                for f in sorted(names.values())
            }
            meta = {**meta, "hash": h, "step": step, "outputs": names, "files": files}
            meta["committed_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
            _write_bytes(tmp / META, json.dumps(meta, indent=1, default=_json_default).encode())
            _fsync_dir(tmp)
            final = step_dir / h
            if final.exists():
                if not replace and (final / META).is_file():
                    shutil.rmtree(tmp)
                    return self.get(dataset_id, step, h)
                trash = step_dir / f"{_TRASH}{h[:16]}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
                os.rename(final, trash)
                os.rename(tmp, final)
                shutil.rmtree(trash, ignore_errors=True)
            else:
                os.rename(tmp, final)
            _fsync_dir(step_dir)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return Artifact(final, meta)

    @staticmethod
    def sweep_stale(step_dir: Path) -> None:
        """Remove temporary folders left by processes that died mid-write."""
        for p in step_dir.glob(".*-*"):
            if not (p.name.startswith(_TMP) or p.name.startswith(_TRASH)) or not p.is_dir():
                continue
            try:
                pid = int(p.name.split("-")[2])
            except (IndexError, ValueError):
                continue
            if not _pid_alive(pid):
                shutil.rmtree(p, ignore_errors=True)

    def iter_artifacts(self) -> Iterator[Artifact]:
        """Every finished artifact under the root (for listing and verification)."""
        if not self.root.is_dir():
            return
        for meta in sorted(self.root.glob(f"*/*/*/{META}")):
            if meta.parent.name.startswith("."):
                continue
            art = self.get(meta.parent.parent.parent.name, meta.parent.parent.name, meta.parent.name)
            if art is not None:
                yield art
