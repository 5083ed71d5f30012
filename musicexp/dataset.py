"""A dataset: its MIDI files under ``data_root`` and the identity that enters the hashes."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig

from musicexp.errors import UserError
from musicexp.hashing import file_sha256, fingerprint_files


class DatasetError(UserError):
    """The dataset folder or its labels cannot be used; the message says what to do."""


@dataclass(frozen=True)
class Dataset:
    id: str
    root: Path
    files: tuple[str, ...]  # MIDI files relative to root (posix), sorted: the piece ids
    cfg: DictConfig
    #: (file, reason) for names with a MIDI extension that cannot be opened as a file at all
    #: (dangling symlink, symlink loop, FIFO, unreadable, undecodable name): never read, listed
    #: by the `notes` step with the bad files
    rejected: tuple[tuple[str, str], ...] = ()

    def path(self, rel: str) -> Path:
        return self.root / rel

    def labels_csv(self) -> Path:
        p = Path(self.cfg.labels.csv)
        return p if p.is_absolute() else self.root / p

    def notes_identity(self) -> dict:
        """What the `notes` step's output depends on: the files and how they are read."""
        content = self.cfg.fingerprint.value == "content"
        ident = {
            "extensions": sorted(e.lower() for e in self.cfg.extensions),
            "files": fingerprint_files(self.root, self.files, content=content),
            "n_files": len(self.files),
        }
        if self.rejected:  # only when there are any: other datasets keep their hashes
            ident["rejected"] = [list(r) for r in self.rejected]
        return ident

    def labels_identity(self) -> dict:
        """What the `labels` step's output depends on besides the parsed pieces."""
        lab = self.cfg.labels
        ident = {"labels": lab}
        if lab.source.value == "csv":
            p = self.labels_csv()
            ident["csv_sha256"] = file_sha256(p) if p.is_file() else None
        return ident


def _unusable(path: Path) -> str | None:
    """Why ``path`` cannot be read as a MIDI file without even opening it, or None."""
    try:
        st = path.stat()  # follows symlinks: a symlink to a file elsewhere is fine
    except FileNotFoundError:
        return "broken symlink (its target does not exist)"
    except OSError as exc:  # ELOOP, EACCES on a folder on the way, ...
        return f"cannot stat ({exc.strerror or exc})"
    if not stat.S_ISREG(st.st_mode):  # a FIFO would block the reader forever
        kind = "FIFO" if stat.S_ISFIFO(st.st_mode) else "socket" if stat.S_ISSOCK(st.st_mode) else "device"
        return f"not a regular file ({kind})"
    if not os.access(path, os.R_OK):
        return "cannot read file (permission denied)"
    return None


def discover_all(root: Path, extensions) -> tuple[list[str], list[tuple[str, str]]]:
    """(usable MIDI files, [(file, reason), ...] for unusable ones) below ``root``.

    Symlinked folders are not followed, so a link to a parent folder cannot loop. Names that
    are not valid UTF-8 (e.g. Latin-1 names from an old archive) are rejected with the advice to
    rename them: they could be neither hashed nor written to the artifacts' JSON.
    """
    exts = tuple(e.lower() for e in extensions)
    found, rejected = [], []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            if name.startswith(".") or not name.lower().endswith(exts):
                continue
            rel = Path(dirpath, name).relative_to(root).as_posix()
            try:
                rel.encode("utf-8")
            except UnicodeEncodeError:
                shown = rel.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
                rejected.append((shown, "file name is not valid UTF-8; rename the file (e.g. with convmv)"))
                continue
            reason = _unusable(Path(dirpath, name))
            if reason is None:
                found.append(rel)
            else:
                rejected.append((rel, reason))
    return sorted(found), sorted(rejected)


def discover(root: Path, extensions) -> list[str]:
    """Usable MIDI files below ``root`` (see :func:`discover_all`)."""
    return discover_all(root, extensions)[0]


def open_dataset(cfg: DictConfig, root: Path, progress: bool = True) -> Dataset:
    """Build the embedded dataset if needed, then list its files; fail clearly if empty."""
    if cfg.build:
        from musicexp import corpus

        manifest = corpus.manifest_path(cfg.build)
        if not corpus.is_built(root, manifest, cfg.program):
            from filelock import FileLock

            # two runs (or sweep jobs) starting together build the folder once
            root.parent.mkdir(parents=True, exist_ok=True)
            with FileLock(str(root.parent / f".{root.name}.build.lock")):
                if not corpus.is_built(root, manifest, cfg.program):
                    corpus.build_dataset(manifest, root, program=cfg.program,
                                         n_jobs=min(os.cpu_count() or 1, 4), progress=progress)
    if not root.is_dir():
        raise DatasetError(
            f"dataset.data_root={cfg.data_root!r} -> {root} is not a folder. Point "
            "dataset.data_root at your MIDI folder (relative paths resolve against the "
            "directory you run musicexp from), or pick dataset=data / dataset=data_100."
        )
    files, rejected = discover_all(root, cfg.extensions)
    if rejected and cfg.on_error.value == "raise":
        rel, reason = rejected[0]
        raise DatasetError(
            f"{root / rel}: {reason}. Fix or remove it, or set dataset.on_error=skip to list it and go on."
        )
    if not files:
        more = f" ({len(rejected)} unusable: first {rejected[0][0]}: {rejected[0][1]})" if rejected else ""
        raise DatasetError(
            f"no MIDI files ({', '.join(cfg.extensions)}) under {root}{more} "
            "(dataset.data_root / dataset.extensions)."
        )
    return Dataset(id=cfg.id, root=root, files=tuple(files), cfg=cfg, rejected=tuple(rejected))
