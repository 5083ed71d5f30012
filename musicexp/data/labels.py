"""Labels of a dataset: one row per piece, one column per task, from a CSV beside the files, the
sub-folder name, or a regex with named groups over the file name (the XMIDI layout
``XMIDI_<emotion>_<genre>_<id>.midi``).

Sources (``dataset.labels.source``, default ``csv``):

- ``csv``: ``dataset.labels.csv`` (default ``labels.csv`` in data_root), one row per file; its
  ``file_column`` (default ``file``) holds the path relative to data_root (``jazz/a.mid``).
- ``folder``: the first sub-folder under data_root is the label, in a column named
  ``dataset.labels.folder_column`` (default ``label``); files directly in data_root have none.
- ``regex``: ``dataset.labels.pattern`` is matched with ``re.search`` against each file's *name*
  (``XMIDI_happy_pop_x1.midi``, extension included), never its path below data_root; anchor it
  with ``^...$`` to match the whole name. Each named group fills the column of its name.

``dataset.labels.columns`` names the tasks. Left empty, every column becomes a task: every CSV
column but the file and group columns, every named group of the pattern. So a ``(?P<id>...)``
group becomes a (useless) task too: name the columns you want, e.g. ``columns=[emotion,genre]``.

:func:`collect` reads the labels without any MIDI parsing, so the same checks run as a
pre-flight on the discovered files and in the `labels` step on the files that parsed. Pieces
without labels and label rows without a MIDI file are problems (listed, never dropped silently).
"""

from __future__ import annotations

import csv
import logging
import re
from pathlib import PurePosixPath

from musicexp.core.errors import UserError


log = logging.getLogger("musicexp")


class LabelError(UserError):
    pass


def _from_csv(ds, lab) -> tuple[dict[str, dict[str, str]], list[str]]:
    path = ds.labels_csv()
    if not path.is_file():
        if lab.pattern:
            raise LabelError(
                f"labels file {path} not found (dataset.labels.source=csv, the default). dataset.labels.pattern "
                f"'{lab.pattern}' is given but read only with dataset.labels.source=regex: add that setting to "
                "take the labels from the file names.")
        raise LabelError(
            f"labels file {path} not found (dataset.labels.csv). Put a CSV with a "
            f"'{lab.file_column}' column there, or use dataset.labels.source=folder|regex."
        )
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            header = reader.fieldnames or []
            if lab.file_column not in header:
                raise LabelError(
                    f"{path} has no column {lab.file_column!r} (dataset.labels.file_column); "
                    f"its columns are {header}."
                )
            rows = {}
            for row in reader:
                name = (row.get(lab.file_column) or "").strip()
                if name:  # a short or blank line labels nothing
                    rows[PurePosixPath(name).as_posix()] = row
    except UnicodeDecodeError as exc:
        raise LabelError(f"{path} is not UTF-8 text ({exc}); save it as UTF-8 CSV.") from exc
    except csv.Error as exc:
        raise LabelError(f"{path} is not a readable CSV file ({exc}).") from exc
    return rows, header


def _from_folder(files, lab) -> dict[str, dict[str, str]]:
    rows = {}
    for f in files:
        parts = PurePosixPath(f).parts
        if len(parts) >= 2:
            rows[f] = {lab.folder_column: parts[0]}
    return rows


def _from_regex(files, lab) -> dict[str, dict[str, str]]:
    rx = re.compile(lab.pattern)
    rows = {}
    for f in files:
        m = rx.search(PurePosixPath(f).name)
        if m:
            rows[f] = {k: v for k, v in m.groupdict().items() if v is not None}
    return rows


def label_columns(lab, available: list[str]) -> list[str]:
    exclude = {lab.file_column, lab.group_column}
    cols = list(lab.columns) or [c for c in available if c not in exclude]
    missing = [c for c in cols if c not in available]
    if missing:
        raise LabelError(
            f"dataset.labels.columns names {missing}, but the labels have columns {available}."
        )
    if not cols:
        raise LabelError("no label columns found (dataset.labels.columns)")
    return cols


def _no_row_reason(lab, pid: str) -> str:
    source = lab.source.value
    if source == "csv":
        return (f"no row in {lab.csv} with this path relative to data_root "
                f"(dataset.labels.csv, column {lab.file_column!r})")
    if source == "folder":
        return "not inside a sub-folder of data_root (dataset.labels.source=folder: the folder is the label)"
    return (f"file name {PurePosixPath(pid).name!r} does not match dataset.labels.pattern '{lab.pattern}' "
            "(re.search on the file name, not its path)")


def _examples(names, n: int = 2) -> str:
    return ", ".join(repr(x) for x in names[:n])


def _nothing_labelled(got: dict, lab) -> str:
    """Why no piece has labels, in the terms of the label source, with a file name or two."""
    rows, columns, source = got["rows"], got["columns"], got["source"]
    pieces = got["unlabeled"]  # (no piece is kept)
    missing = [p for p in pieces if p not in rows]
    empty = len(pieces) - len(missing)  # a row, but an empty label
    head = f"no piece has labels {columns} (dataset.labels.source={source})"
    tail = (f"; the {empty} file(s) with a row have an empty label" if empty else "")
    if source == "regex":
        names = [PurePosixPath(p).name for p in missing]
        msg = (f"{head}: dataset.labels.pattern '{lab.pattern}' is matched (re.search) against each file's name, "
               f"not its path, and matched {empty} of {len(pieces)} file name(s)")
        if names:
            msg += f"; names it does not match: {_examples(names)}"
        return msg + (f" (its groups {columns} took no part in the {empty} match(es))" if empty else "") + \
            ". Fix the pattern, or use dataset.labels.source=csv|folder."
    if source == "folder":
        msg = (f"{head}: with source=folder each file must be inside a sub-folder of data_root, whose name "
               f"is its label (column {lab.folder_column!r})")
        if missing:
            msg += f"; {len(missing)} of {len(pieces)} file(s) are directly in data_root, e.g. {_examples(missing, 1)}"
        return msg + tail + ". Move the files into one folder per class, or use dataset.labels.source=csv|regex."
    msg = (f"{head}: file names in the CSV ({lab.csv}, column {lab.file_column!r}) must be paths relative to "
           "data_root, spelled as the files are")
    if missing:
        msg += f"; data_root has e.g. {_examples(missing, 1)}"
        if got["no_file"]:
            msg += f", the CSV names e.g. {_examples(got['no_file'], 1)}, which is no file under data_root"
        elif not rows:
            msg += ", the CSV has no row"
    return msg + tail + "."


def collect(ds, lab, pieces: list[str], bad=()) -> dict:
    """Label rows for ``pieces`` and every problem found, without any MIDI parsing.

    ``bad`` are files already reported as unusable (a label row for one is not "without file").
    Raises LabelError for problems that stop every run (missing CSV, unknown columns...).
    """
    source = lab.source.value
    if lab.pattern and source != "regex":
        log.warning("dataset.labels.pattern '%s' is ignored: the labels come from dataset.labels.source=%s "
                    "(a pattern is read only with source=regex)", lab.pattern, source)
    if source == "csv":
        rows, header = _from_csv(ds, lab)
    elif source == "folder":
        rows, header = _from_folder(pieces, lab), [lab.folder_column]
    else:
        rows = _from_regex(pieces, lab)
        header = list(re.compile(lab.pattern).groupindex)
    columns = label_columns(lab, header)
    group_col = lab.group_column
    if group_col and source == "csv" and group_col not in header:
        raise LabelError(f"dataset.labels.group_column={group_col!r} is not a column of {ds.labels_csv()}; "
                         f"its columns are {header}.")
    kept, unlabeled, problems = [], [], []
    for pid in pieces:
        row = rows.get(pid)
        empty = [] if row is None else [c for c in columns if not (row.get(c) or "").strip()]
        if row is None or empty:
            unlabeled.append(pid)
            reason = _no_row_reason(lab, pid) if row is None else f"empty label for {', '.join(map(repr, empty))}"
            problems.append({"file": pid, "reason": reason})
        else:
            kept.append(pid)
    parsed, bad = set(pieces), set(bad)
    no_file = sorted(k for k in rows if k not in parsed and k not in bad)
    problems += [{"file": k, "reason": f"labelled in {lab.csv}, but there is no such MIDI file under data_root"}
                 for k in no_file]
    problems.sort(key=lambda e: e["file"])
    return {"rows": rows, "columns": columns, "kept": kept, "unlabeled": unlabeled, "no_file": no_file,
            "problems": problems, "source": source}


def make_table(got: dict, lab) -> dict[str, np.ndarray]:
    """The label table of :func:`collect`'s labelled pieces: piece, one column per task[, group]."""
    import numpy as np

    rows, columns, kept = got["rows"], got["columns"], got["kept"]
    if not kept:
        raise LabelError(_nothing_labelled(got, lab))
    table = {"piece": np.array(kept, dtype=str)}
    for c in columns:
        table[c] = np.array([rows[p][c].strip() for p in kept], dtype=str)
    if lab.group_column and got["source"] == "csv":
        table["group"] = np.array([rows[p].get(lab.group_column) or p for p in kept], dtype=str)
    return table


def discovered(ds) -> dict:
    """:func:`collect` over the discovered files, once per run (the pre-flight checks share it)."""
    if "labels" not in ds.memo:
        ds.memo["labels"] = collect(ds, ds.cfg.labels, list(ds.files), bad={f for f, _ in ds.rejected})
    return ds.memo["labels"]


def merge_duplicate_groups(table: dict, sets: list[list[str]]) -> tuple[dict, list[list[str]]]:
    """The label table with each set of near-duplicate pieces in one group (their groups merged;
    a table without groups gets one, each piece its own group but for the sets). Returns the
    table and the sets restricted to its pieces (two pieces or more)."""
    import numpy as np

    pieces = [str(p) for p in table["piece"]]
    pos = {p: i for i, p in enumerate(pieces)}
    sets = [[p for p in s if p in pos] for s in sets]
    sets = [s for s in sets if len(s) > 1]
    if not sets:
        return table, []
    from scipy.cluster.hierarchy import DisjointSet

    group = [str(g) for g in table["group"]] if "group" in table else list(pieces)
    merged = DisjointSet(group)
    for s in sets:
        for p in s[1:]:
            merged.merge(group[pos[s[0]]], group[pos[p]])
    name = {g: min(sub) for sub in merged.subsets() for g in sub}  # a merged group takes its smallest name
    return {**table, "group": np.array([name[g] for g in group], dtype=str)}, sets


def derived_tasks(table: dict, columns: list[str]) -> dict[str, str]:
    """Tasks whose label is a function of another task's label on these pieces: ``{derived:
    source}`` (era of composer: every composer has one era). Each class of ``source`` then
    decides the class of ``derived``, so averaging the two tasks counts ``source``'s distinctions
    twice. Of two tasks that determine each other (one partition under two names) the later
    column is the derived one. Left out: a column with one class (no task) as the derived one,
    and an id-like column (more classes than half the pieces) as the source, which would
    "determine" every other column."""
    import numpy as np

    cols = {c: np.asarray(table[c], dtype=str) for c in columns}
    n = len(next(iter(cols.values()))) if cols else 0

    def determines(a: str, b: str) -> bool:
        pairs = np.unique(np.stack([cols[a], cols[b]]), axis=1)
        return len(np.unique(pairs[0])) == pairs.shape[1]  # each class of a meets one class of b

    out: dict[str, str] = {}
    for j, b in enumerate(columns):
        if len(np.unique(cols[b])) < 2:
            continue
        for i, a in enumerate(columns):
            if a == b or len(np.unique(cols[a])) * 2 > n or not determines(a, b):
                continue
            if i < j or not determines(b, a):
                out[b] = a
                break
    return out
