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
import logging
import os
import shutil
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping

from musicexp.core import faults, fsutil
from musicexp.core.fsutil import file_sha256, fsync_dir, json_default, temp_name, write_bytes
from musicexp.core.errors import UserError

log = logging.getLogger("musicexp")

META = "meta.json"
_TMP, _TRASH = ".tmp-", ".trash-"


class ArtifactError(UserError):
    """A finished artifact cannot be read (damaged after it was written)."""


def _save(folder: Path, name: str, value: Any) -> str:
    """Store one output; the file type follows the value's type."""
    import numpy as np  # here, not at the top: a fully cached run never needs numpy

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
        write_bytes(folder / fname, json.dumps(value, indent=1, default=json_default).encode())
    return fname


def _load(path: Path) -> Any:
    if path.suffix == ".npy":
        import numpy as np

        return np.load(path, allow_pickle=False)
    if path.suffix == ".npz":
        import numpy as np

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
            try:
                self._loaded[name] = _load(self.path / self.meta["outputs"][name])
            except Exception as exc:  # truncated npz, bad JSON, file removed under us...
                raise ArtifactError(
                    f"cannot read {self.path / self.meta['outputs'][name]} ({type(exc).__name__}: {exc}); "
                    f"the artifact is damaged: `musicexp-cache verify --remove` removes it, or re-run "
                    f"with force=[{self.meta['step']}]."
                ) from exc
        return self._loaded[name]

    def __getitem__(self, name: str) -> Any:
        return self.load(name)

    def verify(self, checksums: bool = True, trust_unchanged: bool = False) -> list[str]:
        """Problems found by recomputing every file's checksum (empty list = intact).

        ``checksums=False`` only compares sizes (a stat per file: catches truncation).
        ``trust_unchanged`` skips the checksum of a file whose size and mtime are still those
        recorded at commit (as make, Snakemake and DVC's state cache do: any write changes the
        mtime), so reusing a large artifact costs a stat, not a read; ``musicexp-cache verify``
        reads everything.
        """
        problems = []
        if self.meta.get("hash") != self.path.name and not self.path.name.startswith("."):  # .trash-: moved aside
            problems.append(f"{META}: hash {str(self.meta.get('hash'))[:16]} does not match the folder name")
        files = self.meta.get("files")
        if not isinstance(files, dict) or not isinstance(self.meta.get("outputs"), dict):
            return problems + [f"{META}: no file list (not written by this version of musicexp?)"]
        for fname, rec in files.items():
            p = self.path / fname
            try:
                try:
                    st = p.stat()
                except FileNotFoundError:
                    st = None
                if st is None or not stat.S_ISREG(st.st_mode):
                    problems.append(f"{fname}: missing")
                elif st.st_size != rec["size"]:
                    problems.append(f"{fname}: size {st.st_size} != {rec['size']}")
                elif not checksums or (trust_unchanged and rec.get("mtime_ns") == st.st_mtime_ns):
                    continue
                elif file_sha256(p) != rec["sha256"]:
                    problems.append(f"{fname}: checksum mismatch")
            except OSError as exc:
                problems.append(f"{fname}: unreadable ({exc.strerror or exc})")
        return problems


def _prefix(name: str) -> str:
    return _TMP if name.startswith(_TMP) else _TRASH


def owner_pid(name: str) -> int | None:
    """The pid of the process that made a temporary folder on this host (None: not ours to judge)."""
    return fsutil.temp_owner(name, _prefix(name))


def owner_alive(name: str) -> bool:
    pid = owner_pid(name)
    return pid is not None and fsutil.pid_alive(pid)


_warned: set[str] = set()


@dataclass
class Entry:
    """One folder of the store, finished or not (what ``musicexp-cache`` lists)."""

    dataset_id: str
    step: str
    name: str
    path: Path
    kind: str  # artifact | incomplete (final name, no readable meta.json) | temporary (.tmp-/.trash-)
    meta: dict | None = None


class ArtifactStore:
    """The one place that knows where artifacts live."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def folder(self, dataset_id: str, step: str, h: str) -> Path:
        return self.root / dataset_id / step / h

    def get(self, dataset_id: str, step: str, h: str, verify: bool = False) -> Artifact | None:
        """The finished, intact artifact, or None.

        A folder without its completion record is none; so is one whose files do not match
        the sizes (with ``verify``: the checksums of files written since the commit, see
        :meth:`Artifact.verify`) recorded in meta.json - it is logged and
        left for the next commit of that hash to replace. If a process died while swapping
        the folder for a forced recomputation, the intact old version is put back first.
        """
        folder = self.folder(dataset_id, step, h)
        if not os.path.lexists(folder):
            self._restore_trash(folder.parent, h)
        try:
            meta = json.loads((folder / META).read_text())
        except (OSError, ValueError):  # missing, not a folder, unreadable, not JSON
            return None
        if not isinstance(meta, dict):
            return None
        art = Artifact(folder, meta)
        problems = art.verify(checksums=verify, trust_unchanged=True)
        if problems:
            if str(folder) not in _warned:
                _warned.add(str(folder))
                log.warning("%s artifact %s is damaged and is not used (%s)", step, h[:10], "; ".join(problems[:3]))
            return None
        return art

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
        swapped out (force); otherwise an existing intact one wins and the new files are
        dropped (a damaged one is swapped out). The ``faults.point`` calls name the moments
        the crash tests kill the process at.
        """
        step_dir = self.root / dataset_id / step
        step_dir.mkdir(parents=True, exist_ok=True)
        self.sweep_stale(step_dir)
        tmp = step_dir / temp_name(_TMP, h[:16])
        tmp.mkdir()
        final = step_dir / h
        try:
            names = {name: _save(tmp, name, value) for name, value in outputs.items()}
            files = {}
            for f in sorted(names.values()):
                st = (tmp / f).stat()  # (a rename of the folder keeps the files' mtimes)
                files[f] = {"sha256": file_sha256(tmp / f), "size": st.st_size, "mtime_ns": st.st_mtime_ns}
            faults.point("cache.commit.after_files", step)
            meta = {**meta, "hash": h, "step": step, "outputs": names, "files": files}
            meta["committed_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
            write_bytes(tmp / META, json.dumps(meta, indent=1, default=json_default).encode())
            fsync_dir(tmp)
            faults.point("cache.commit.after_meta", step)
            if not replace:
                existing = self.get(dataset_id, step, h, verify=True)
                if existing is not None:
                    shutil.rmtree(tmp)
                    return existing
            if os.path.lexists(final):
                trash = step_dir / temp_name(_TRASH, h[:16])
                os.rename(final, trash)  # a crash from here to the next rename: get() restores it
                faults.point("cache.commit.before_rename", step)
                os.rename(tmp, final)
                shutil.rmtree(trash, ignore_errors=True)
            else:
                faults.point("cache.commit.before_rename", step)
                os.rename(tmp, final)
            faults.point("cache.commit.after_rename", step)
            fsync_dir(step_dir)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return Artifact(final, meta)

    def _restore_trash(self, step_dir: Path, h: str) -> bool:
        """Put back an intact artifact a dead process had moved aside to replace it."""
        if not step_dir.is_dir():
            return False
        for p in sorted(step_dir.glob(f"{_TRASH}{h[:16]}-*")):
            if not fsutil.stale(p.name, _prefix(p.name)):
                continue
            try:
                meta = json.loads((p / META).read_text())
                if meta.get("hash") != h or Artifact(p, meta).verify():
                    continue
                os.rename(p, step_dir / h)
            except (OSError, ValueError, AttributeError):
                continue  # not intact, or another process restored it first
            log.warning("%s %s: restored the artifact a killed process had moved aside", step_dir.name, h[:10])
            self.sweep_stale(step_dir)  # and drop that process's unfinished replacement
            return True
        return False

    def sweep_stale(self, step_dir: Path) -> None:
        """Remove temporary folders left by processes that died mid-write.

        A moved-aside artifact whose replacement never arrived is restored instead.
        """
        for p in step_dir.glob(".*-*"):
            if not fsutil.stale(p.name, _prefix(p.name)):
                continue
            if p.name.startswith(_TRASH) and p.is_dir():
                try:
                    h = json.loads((p / META).read_text()).get("hash", "")
                except (OSError, ValueError, AttributeError):
                    h = ""
                if h and not os.path.lexists(step_dir / h) and self._restore_trash(step_dir, h):
                    continue
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)

    def remove(self, dataset_id: str, step: str, name: str) -> bool:
        """Delete one folder of the store unless a process holds its lock; True if removed.

        The folder is renamed out of its final name first, so no reader ever sees half of it.
        """
        folder = self.folder(dataset_id, step, name)
        if name.startswith("."):  # a temporary folder: its owner's pid, not a lock, says if it is in use
            if owner_alive(name):
                return False
            shutil.rmtree(folder, ignore_errors=True)
            return not os.path.lexists(folder)
        lock = self.lock(dataset_id, step, name, timeout=0)
        try:
            lock.acquire()
        except Exception:  # filelock.Timeout: a run is computing or replacing it right now
            return False
        try:
            if not os.path.lexists(folder):
                return True
            trash = folder.parent / temp_name(_TRASH, name[:16])
            os.rename(folder, trash)
            shutil.rmtree(trash, ignore_errors=True)
            return True
        finally:
            lock.release()

    def entries(self) -> Iterator[Entry]:
        """Every folder under the root: finished artifacts, incomplete ones, temporaries."""
        if not self.root.is_dir():
            return
        for ds_dir in sorted(p for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            for step_dir in sorted(p for p in ds_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
                for p in sorted(step_dir.iterdir()):
                    if p.name == ".locks" or not p.is_dir():
                        continue
                    if p.name.startswith("."):
                        yield Entry(ds_dir.name, step_dir.name, p.name, p, "temporary")
                        continue
                    try:
                        meta = json.loads((p / META).read_text())
                    except (OSError, ValueError):
                        meta = None
                    kind = "artifact" if isinstance(meta, dict) else "incomplete"
                    yield Entry(ds_dir.name, step_dir.name, p.name, p, kind, meta if kind == "artifact" else None)

    def iter_artifacts(self) -> Iterator[Artifact]:
        """Every finished artifact under the root (for listing and verification)."""
        for e in self.entries():
            if e.kind == "artifact":
                yield Artifact(e.path, e.meta)
