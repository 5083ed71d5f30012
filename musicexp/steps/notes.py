"""notes: parse every MIDI file once into one columnar note table (parallel over files).

Files that cannot be used are listed with their reason in the `errors` output and counted in
the summary, never silently dropped; with ``dataset.on_error=raise`` the first one stops the
run with its path.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np

from musicexp.errors import UserError
from musicexp.midi import COLUMNS, MidiError, read_notes

VERSION = "1"
DEPS: tuple[str, ...] = ()


class BadFileError(UserError):
    pass


def params(cfg) -> dict:
    return {}  # what the output depends on is the dataset identity the pipeline adds


def _parse(path: str) -> tuple[dict | None, str | None]:
    try:
        return read_notes(path), None
    except MidiError as exc:
        return None, str(exc)
    except OSError as exc:
        return None, f"cannot read file ({exc.strerror or exc})"


def _parse_chunk(paths: list[str]) -> list[tuple[dict | None, str | None]]:
    return [_parse(p) for p in paths]


def parse_all(paths: list[str], n_jobs: int, progress: bool):
    """(result, error) per path, in order; chunks amortise process start-up."""
    from tqdm.auto import tqdm

    bar = tqdm(total=len(paths), desc="notes", unit="file", disable=not progress, leave=False)
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
    with ProcessPoolExecutor(max_workers=n_jobs) as pool:
        for res in pool.map(_parse_chunk, chunks):
            out.extend(res)
            bar.update(len(res))
    bar.close()
    return out


def run(inputs: dict[str, Any], cfg) -> tuple[dict, dict]:
    ds = inputs["dataset"]
    paths = [str(ds.path(f)) for f in ds.files]
    n_jobs = min(cfg.steps.notes.n_jobs, os.cpu_count() or 1)
    results = parse_all(paths, n_jobs, cfg.progress)
    raise_on_error = cfg.dataset.on_error.value == "raise"
    pieces, errors, tables = [], [], []
    for rel, (res, err) in zip(ds.files, results):
        if err is not None:
            if raise_on_error:
                raise BadFileError(
                    f"{ds.path(rel)}: {err}. Fix or remove the file, or set "
                    "dataset.on_error=skip to list it and go on."
                )
            errors.append({"file": rel, "reason": err})
            continue
        tables.append(res["columns"])
        pieces.append(
            {
                "id": rel,
                "n_notes": int(len(res["columns"]["pitch"])),
                "tpq": res["tpq"],
                "tempo_bpm": res["tempo_bpm"],
                "time_signatures": res["time_signatures"],
            }
        )
    if not pieces:
        raise BadFileError(
            f"none of the {len(ds.files)} files under {ds.root} could be parsed "
            f"(first: {errors[0]['file']}: {errors[0]['reason']})."
        )
    counts = np.array([p["n_notes"] for p in pieces], dtype=np.int64)
    notes = {k: np.concatenate([t[k] for t in tables]) for k in COLUMNS}
    notes["offsets"] = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    outputs = {"notes": notes, "pieces": pieces, "errors": errors}
    summary = {"pieces": len(pieces), "notes": int(counts.sum()), "bad_files": len(errors)}
    return outputs, summary
