"""A dataset: its config schema, its MIDI files under ``data_root``, and the identity that enters
the hashes of the steps that read it."""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, List, Optional

from omegaconf import MISSING

from musicexp.core.fsutil import file_sha256
from musicexp.core.hashing import fingerprint_files
from musicexp.core.registry import UNHASHED, nonempty, param, within
from musicexp.core.errors import UserError

# functional form: OmegaConf matches member *names*, and "raise" is a keyword
OnError = Enum("OnError", {"skip": "skip", "raise": "raise"}, type=str)


class Fingerprint(str, Enum):
    stat = "stat"  # names, sizes and mtimes (fast; touching a file re-runs `notes`)
    content = "content"  # sha256 of every file (survives copies that change mtimes)


class LabelSource(str, Enum):
    csv = "csv"  # a CSV beside the files, one row per file
    folder = "folder"  # the first sub-folder under data_root is the label
    regex = "regex"  # named groups of a regex over the file name


class Duplicates(str, Enum):
    group = "group"  # near-duplicate pieces (same melody) share one group: never on both sides of a split
    off = "off"


@dataclass
class LabelsConf:
    source: LabelSource = param(LabelSource.csv, doc="csv | folder | regex")
    csv: str = param("labels.csv", doc="source=csv: the CSV, relative to data_root (or absolute)")
    file_column: str = param("file", doc="source=csv: column with each file's path relative to data_root")
    columns: List[str] = param(factory=list, doc="label columns (tasks); empty = every column but file/group")
    group_column: Optional[str] = param(None, doc="pieces of one group never straddle a CV split")
    pattern: Optional[str] = param(None, doc="source=regex: named groups over the file name become columns")
    folder_column: str = param("label", doc="source=folder: name of the column the sub-folder fills")
    duplicates: Duplicates = param(Duplicates.group, doc="group: near-duplicates (same melody) share a group | off")

    @staticmethod
    def problems(node) -> list[str]:
        if node.source != LabelSource.regex:
            return []
        if not node.pattern:
            return [f"pattern={node.pattern!r} is not allowed: labels.source=regex needs a pattern"]
        try:
            rx = re.compile(node.pattern)
        except re.error as exc:
            return [f"pattern={node.pattern!r} is not allowed: not a valid regex ({exc})"]
        if not rx.groupindex:
            return [f"pattern={node.pattern!r} is not allowed: needs named groups, e.g. "
                    "XMIDI_(?P<emotion>[^_]+)_(?P<genre>[^_]+)_"]
        return []


@dataclass
class DatasetConf:
    id: str = param(MISSING, doc="names the folder artifacts/<id>/ (letters, digits, _ . + -)")
    data_root: str = param(MISSING, doc="the MIDI folder (relative: to where you run musicexp)")
    build: Optional[str] = param(None, doc="manifest built on first use: 'default', 'subset100', 'folk', 'folk300' or a CSV path")
    program: Optional[int] = param(None, check=within(0, 127, "both"), doc="MIDI program written for every part when building")
    extensions: List[str] = param(factory=lambda: [".mid", ".midi"], check=nonempty, doc="file extensions read")
    on_error: OnError = param(OnError["skip"], hash=UNHASHED,
                              doc="skip: bad files and unlabeled pieces are listed; raise: stop at the first")
    fingerprint: Fingerprint = param(Fingerprint.stat, doc="stat (names, sizes, mtimes) | content (sha256)")
    neutralize: List[str] = param(factory=list, doc="edition metadata replaced by constants when the notes are read: "
                                                    "velocity, tempo, time_signature, key_signature")
    labels: LabelsConf = field(default_factory=LabelsConf)

    @staticmethod
    def problems(node) -> list[str]:
        from musicexp.data.notes import NEUTRAL

        out = []
        if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.+-]*", str(node.id)):
            out.append(f"id={node.id!r} is not allowed: letters, digits and _ . + - (it names the folder artifacts/<id>/)")
        bad = [x for x in node.neutralize if x not in NEUTRAL]
        if bad:
            out.append(f"neutralize={list(node.neutralize)!r} is not allowed: {bad} not in {list(NEUTRAL)}")
        return out


class DatasetError(UserError):
    """The dataset folder or its labels cannot be used; the message says what to do."""


@dataclass(frozen=True)
class Dataset:
    id: str
    root: Path
    files: tuple[str, ...]  # MIDI files relative to root (posix), sorted: the piece ids
    cfg: Any  # the dataset's config node (DatasetConf)
    #: (file, reason) for names with a MIDI extension that cannot be opened as a file at all
    #: (dangling symlink, symlink loop, FIFO, unreadable, undecodable name): never read, listed
    #: by the `notes` step with the bad files
    rejected: tuple[tuple[str, str], ...] = ()
    #: computed once per run from the files and labels (e.g. the pre-flight label table)
    memo: dict = field(default_factory=dict, compare=False, repr=False)

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
        if self.cfg.neutralize:
            ident["neutralize"] = sorted(self.cfg.neutralize)
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


def _shown(rel: str) -> str:
    """``rel`` printable and JSON-safe (a name that is not UTF-8 shows U+FFFD for its bad bytes)."""
    return rel.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def discover_all(root: Path, extensions) -> tuple[list[str], list[tuple[str, str]]]:
    """(usable MIDI files, [(file, reason), ...] for unusable ones) below ``root``.

    Symlinked folders are followed (a dataset assembled from several disks): their files keep
    their path through the link (``jazz/a.mid`` for ``root/jazz -> /disk2/jazz``), so the folder
    still names the label. Each folder is read once, by its (st_dev, st_ino): the real folders
    under ``root`` first, then the symlinked ones in name order; a link to a folder already read
    (a loop back to a folder above it, or a second link to one folder) is not followed but listed
    with the folder it was read as, and so is a folder that cannot be listed. Names that are not
    valid UTF-8 (e.g. Latin-1 names from an old archive) are rejected with the advice to rename
    them: they could be neither hashed nor written to the artifacts' JSON.
    """
    exts = tuple(e.lower() for e in extensions)
    found, rejected = [], []

    def rel_of(path: str) -> str:
        return Path(path).relative_to(root).as_posix()

    def not_listed(exc: OSError) -> None:  # os.walk's onerror: a folder it cannot list
        rejected.append((_shown(rel_of(exc.filename)) if exc.filename else ".",
                         f"cannot list folder ({exc.strerror or exc}); its files are not read"))

    def claim(path: str, rel: str, link: bool) -> bool:
        """Read the folder at ``path`` (as ``rel``) unless it was already read; list it if so."""
        try:
            st = os.stat(path)
        except OSError as exc:
            rejected.append((_shown(rel), f"cannot stat folder ({exc.strerror or exc}); its files are not read"))
            return False
        other = seen.setdefault((st.st_dev, st.st_ino), rel)
        if other == rel:
            return True
        what = "data_root" if other == "." else repr(_shown(other))
        loop = other == "." or rel.startswith(other + "/")
        how = ("a loop: it points back to a folder above it" if loop else
               "a second link to the same folder" if link else "the same folder reached twice")
        rejected.append((_shown(rel), f"{'symlinked ' if link else ''}folder already read as {what} ({how}); "
                                      "its files are listed once"))
        return False

    seen: dict[tuple[int, int], str] = {}
    trees = [str(root)] if claim(str(root), ".", False) else []
    while trees:  # data_root's own tree, then each symlinked folder found (breadth first)
        links = []
        for dirpath, dirnames, filenames in os.walk(trees.pop(0), onerror=not_listed, followlinks=False):
            walk = []
            for d in sorted(d for d in dirnames if not d.startswith(".")):
                full = os.path.join(dirpath, d)
                if os.path.islink(full):
                    links.append(full)  # claimed once this tree's real folders are
                elif claim(full, rel_of(full), False):
                    walk.append(d)
            dirnames[:] = walk
            for name in filenames:
                if name.startswith(".") or not name.lower().endswith(exts):
                    continue
                rel = rel_of(os.path.join(dirpath, name))
                try:
                    rel.encode("utf-8")
                except UnicodeEncodeError:
                    rejected.append((_shown(rel), "file name is not valid UTF-8; rename the file (e.g. with convmv)"))
                    continue
                reason = _unusable(Path(dirpath, name))
                if reason is None:
                    found.append(rel)
                else:
                    rejected.append((rel, reason))
        trees += [link for link in links if claim(link, rel_of(link), True)]
    return sorted(found), sorted(rejected)


def open_dataset(cfg: Any, root: Path, progress: bool = True) -> Dataset:
    """Build the embedded dataset if needed, then list its files; fail clearly if empty."""
    if cfg.build:
        from musicexp.data import corpus

        try:
            manifest = corpus.resolve_manifest(cfg.build)
        except (ValueError, FileNotFoundError) as exc:
            raise DatasetError(f"dataset.build={cfg.build!r}: {exc}") from None
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
    if not files:
        more = f" ({len(rejected)} unusable: first {rejected[0][0]}: {rejected[0][1]})" if rejected else ""
        raise DatasetError(
            f"no MIDI files ({', '.join(cfg.extensions)}) under {root}{more} "
            "(dataset.data_root / dataset.extensions)."
        )
    return Dataset(id=cfg.id, root=root, files=tuple(files), cfg=cfg, rejected=tuple(rejected))
