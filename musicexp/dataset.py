"""A dataset: its MIDI files under ``data_root`` and the identity that enters the hashes."""

from __future__ import annotations

import os
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

    def path(self, rel: str) -> Path:
        return self.root / rel

    def labels_csv(self) -> Path:
        p = Path(self.cfg.labels.csv)
        return p if p.is_absolute() else self.root / p

    def notes_identity(self) -> dict:
        """What the `notes` step's output depends on: the files and how they are read."""
        content = self.cfg.fingerprint.value == "content"
        return {
            "extensions": sorted(e.lower() for e in self.cfg.extensions),
            "files": fingerprint_files(self.root, self.files, content=content),
            "n_files": len(self.files),
        }

    def labels_identity(self) -> dict:
        """What the `labels` step's output depends on besides the parsed pieces."""
        lab = self.cfg.labels
        ident = {"labels": lab}
        if lab.source.value == "csv":
            p = self.labels_csv()
            ident["csv_sha256"] = file_sha256(p) if p.is_file() else None
        return ident


def discover(root: Path, extensions) -> list[str]:
    """MIDI files below ``root`` (symlinked folders are not followed: no loops)."""
    exts = tuple(e.lower() for e in extensions)
    found = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            if not name.startswith(".") and name.lower().endswith(exts):
                found.append(Path(dirpath, name).relative_to(root).as_posix())
    return sorted(found)


def open_dataset(cfg: DictConfig, root: Path, progress: bool = True) -> Dataset:
    """Build the embedded dataset if needed, then list its files; fail clearly if empty."""
    if cfg.build:
        from musicexp import corpus

        manifest = corpus.manifest_path(cfg.build)
        if not corpus.is_built(root, manifest, cfg.program):
            corpus.build_dataset(manifest, root, program=cfg.program, n_jobs=min(os.cpu_count() or 1, 4), progress=progress)
    if not root.is_dir():
        raise DatasetError(
            f"dataset.data_root={cfg.data_root!r} -> {root} is not a folder. Point "
            "dataset.data_root at your MIDI folder (relative paths resolve against the "
            "directory you run musicexp from), or pick dataset=data / dataset=data_100."
        )
    files = discover(root, cfg.extensions)
    if not files:
        raise DatasetError(
            f"no MIDI files ({', '.join(cfg.extensions)}) under {root} "
            "(dataset.data_root / dataset.extensions)."
        )
    return Dataset(id=cfg.id, root=root, files=tuple(files), cfg=cfg)
