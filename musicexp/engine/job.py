"""What a run leaves behind besides its artifacts: its results records, its own job record
(``musicexp_job.json`` in the run's folder, what the sweep report reads) and the text files
of the records step (reports), written into the run's folder."""

from __future__ import annotations

import os
import socket
import time
import uuid
from pathlib import Path
from typing import Any

from musicexp.core.fsutil import atomic_write, atomic_write_json
from musicexp.core.hashing import digest
from musicexp.engine.paths import Launch, Paths
from musicexp.engine.plan import Node

#: written into each run's folder; the sweep report reads it
JOB_FILE = "musicexp_job.json"


def package_versions(names: tuple[str, ...]) -> dict[str, str]:
    """The installed version of each distribution in ``names`` (those not installed left out)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in names:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out


def config_hash(nodes: dict[str, Node], dataset_id: str) -> str:
    """Identity of the settings of a run (every step's version and hashed options; no data)."""
    return digest({"dataset": dataset_id, **{n: {"version": x.ident["version"], "params": x.ident["params"]}
                                             for n, x in nodes.items()}})


def records(cfg: Any, nodes: dict[str, Node], runs: dict, settings: dict, launch: Launch, started: str,
            seconds: float) -> list[dict]:
    """The results records of the run: the target step's ``records`` output, each with the run's
    identity, the settings columns and which steps ran or were reused."""
    target = runs[list(nodes)[-1]]
    run_id = time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
    common = {"run_id": run_id, "dataset_id": cfg.dataset.id, "experiment": cfg.experiment.name, "seed": cfg.seed}
    meta = {
        "choices": dict(launch.choices),
        "config_hash": config_hash(nodes, cfg.dataset.id),
        "step_hashes": {n: r.hash for n, r in runs.items()},
        "step_status": {n: r.status for n, r in runs.items()},
        "overrides": list(launch.overrides),
        "started_at": started,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "duration_s": round(seconds, 3),
        f"{target.name}_seconds": target.artifact.meta.get("seconds"),
        "packages": target.artifact.meta.get("packages", {}),
    }
    out = []
    for rec in target.artifact.load("records"):
        r = {**common, **rec, **meta, **settings}
        r["record_id"] = f"{target.hash[:16]}:{rec['mode']}:{rec['task']}"
        out.append(r)
    return out


def write_job(paths: Paths, cfg: Any, runs: dict, records: list[dict], settings: dict, launch: Launch,
              appended: int) -> None:
    """This run's own record, in its folder: what the sweep report reads."""
    if paths.run_dir is None:
        return
    job = {"status": "COMPLETED", "dataset_id": cfg.dataset.id, "experiment": cfg.experiment.name,
           "overrides": list(launch.overrides), "settings": settings, "appended": appended,
           "step_status": {n: r.status for n, r in runs.items()},
           "step_hashes": {n: r.hash for n, r in runs.items()}, "records": records,
           "host": socket.gethostname(), "pid": os.getpid()}
    atomic_write_json(paths.run_dir / JOB_FILE, job, fsync=False)


#: the statuses of a step that computed its artifact in this run
COMPUTED = ("ran", "forced")


def write_files(paths: Paths, nodes: dict[str, Node], runs: dict, records: list[dict]) -> list[Path]:
    """The records step's reports (classification reports, confusion matrices) as files in the
    run's folder, where the console points instead of printing them; its figures too when it
    computed its artifact in this run (never drawn from a reused one: see ``Step.figures``)."""
    target = list(nodes)[-1]
    step, run = nodes[target].step, runs[target]
    if paths.run_dir is None:
        return []
    out: dict[str, str | bytes] = {}
    if step.files is not None:
        out.update(step.files(run.artifact, records))
    if step.figures is not None and run.status in COMPUTED:
        out.update(step.figures(run.artifact, records))
    return [atomic_write(paths.run_dir / name, data, fsync=False) for name, data in out.items()]
