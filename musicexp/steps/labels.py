"""labels: one row per parsed piece, one column per task.

Sources (``dataset.labels.source``): a CSV beside the files, the sub-folder name, or a regex
with named groups over the file name (the XMIDI layout ``XMIDI_<emotion>_<genre>_<id>.midi``).
Pieces without labels and label rows without a parsed piece are reported, not hidden.
"""

from __future__ import annotations

import csv
import re
from pathlib import PurePosixPath
from typing import Any

import numpy as np

from musicexp.errors import UserError

VERSION = "1"
DEPS = ("notes",)


class LabelError(UserError):
    pass


def params(cfg) -> dict:
    return {}  # the labels config and the CSV checksum come with the dataset identity


def _from_csv(ds, lab) -> tuple[dict[str, dict[str, str]], list[str]]:
    path = ds.labels_csv()
    if not path.is_file():
        raise LabelError(
            f"labels file {path} not found (dataset.labels.csv). Put a CSV with a "
            f"'{lab.file_column}' column there, or use dataset.labels.source=folder|regex."
        )
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
            rows[PurePosixPath(row[lab.file_column]).as_posix()] = row
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


def run(inputs: dict[str, Any], cfg) -> tuple[dict, dict]:
    ds, lab = inputs["dataset"], cfg.dataset.labels
    pieces = [p["id"] for p in inputs["notes"]["pieces"]]
    source = lab.source.value
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
        raise LabelError(f"dataset.labels.group_column={group_col!r} is not a column of {ds.labels_csv()}")

    kept, unlabeled = [], []
    for pid in pieces:
        row = rows.get(pid)
        if row is None or any(not (row.get(c) or "").strip() for c in columns):
            unlabeled.append(pid)
        else:
            kept.append(pid)
    if not kept:
        raise LabelError(
            f"no parsed piece has labels {columns} (source={source}); check "
            "dataset.labels (file names in the CSV must be paths relative to data_root)."
        )
    parsed = set(pieces)
    bad = {e["file"] for e in inputs["notes"]["errors"]}
    no_file = sorted(k for k in rows if k not in parsed and k not in bad)
    table = {"piece": np.array(kept, dtype=str)}
    for c in columns:
        table[c] = np.array([rows[p][c].strip() for p in kept], dtype=str)
    if group_col and source == "csv":
        table["group"] = np.array([rows[p].get(group_col) or p for p in kept], dtype=str)
    report = {"columns": columns, "unlabeled_pieces": unlabeled, "labels_without_file": no_file}
    counts = {c: dict(zip(*np.unique(table[c], return_counts=True))) for c in columns}
    summary = {
        "pieces": len(kept),
        "unlabeled": len(unlabeled),
        "labels_without_file": len(no_file),
        "classes": {c: {str(k): int(v) for k, v in counts[c].items()} for c in columns},
    }
    return {"labels": table, "report": report}, summary
