"""The Hydra callback of multiruns (registered in ``conf/config.yaml``).

* Before the jobs: builds an embedded dataset once, rather than in every parallel job at once.
* After each job (in whatever process the launcher runs it: the main one for ``basic``, a loky
  worker for ``joblib``, a submitit process on any node): the run has written its own record
  ``musicexp_job.json`` into its Hydra folder; the callback adds the job's number, status and
  this multirun's token (or writes the record of a job that failed).
* After the multirun: the sweep report (:func:`~musicexp.tools.report.summary.sweep_report`).

Single runs are untouched (the callback returns at once).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
import uuid
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from musicexp.engine.job import JOB_FILE

log = logging.getLogger("musicexp")


class SweepReport(Callback):
    def __init__(self, enabled: bool = True, prebuild_dataset: bool = True) -> None:
        self.enabled = enabled
        self.prebuild_dataset = prebuild_dataset
        # made once in the main process and pickled to every worker: tells this multirun's
        # job files from older ones left in a reused sweep folder
        self.token = uuid.uuid4().hex
        self._t0: float | None = None

    # -- main process
    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        if self.enabled and self.prebuild_dataset:
            try:
                _prebuild_dataset(config)
            except Exception as exc:  # the jobs will report it properly
                log.warning("could not prepare the dataset before the sweep: %s", exc)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if not self.enabled:
            return
        from musicexp.tools.report.summary import sweep_report

        try:
            sweep_report(Path(str(config.hydra.sweep.dir)), token=self.token)
        except Exception as exc:  # a report must never turn a finished sweep into a failure
            log.warning("sweep report failed: %s: %s", type(exc).__name__, exc)

    # -- the job's own process (any launcher)
    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._t0 = time.time()

    def on_job_end(self, config: DictConfig, job_return: Any, **kwargs: Any) -> None:
        if not (self.enabled and _is_multirun(config)):
            return
        from musicexp.core.fsutil import atomic_write_json

        path = Path(str(config.hydra.runtime.output_dir)) / JOB_FILE
        try:
            status = getattr(job_return.status, "name", str(job_return.status))
            job = _read(path) if status == "COMPLETED" else None
            if job is None:  # the run failed (or wrote nothing): its record is the error
                error = job_return._return_value if status != "COMPLETED" else "the run wrote no job record"
                job = {"status": status, "error": f"{type(error).__name__}: {error}", "records": [],
                       "overrides": [str(o) for o in (job_return.overrides or [])],
                       "settings": _given(job_return.overrides or []),
                       "host": socket.gethostname(), "pid": os.getpid()}
            job.update(token=self.token, job_num=int(config.hydra.job.num), status=status,
                       job_id=str(OmegaConf.select(config, "hydra.job.id", default="")), output_dir=str(path.parent),
                       job_seconds=round(time.time() - self._t0, 3) if self._t0 else None)
            atomic_write_json(path, job, fsync=False)
        except Exception as exc:
            log.warning("sweep report: could not write %s: %s: %s", JOB_FILE, type(exc).__name__, exc)


def _read(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _given(overrides) -> dict:
    """What the job was given on the command line, key -> value as typed (Hydra's keys left out)."""
    pairs = (str(o).lstrip("+~").partition("=") for o in overrides)
    return {key: value for key, _, value in pairs if not key.startswith("hydra")}


def _is_multirun(config: DictConfig) -> bool:
    mode = OmegaConf.select(config, "hydra.mode")
    return getattr(mode, "name", str(mode)) == "MULTIRUN"


def _prebuild_dataset(config: DictConfig) -> None:
    """Build an embedded dataset once, here, rather than in every parallel job at the same time."""
    if not OmegaConf.select(config, "dataset.build"):
        return
    from hydra.core.override_parser.overrides_parser import OverridesParser

    swept = [o.key_or_group for o in OverridesParser.create().parse_overrides(list(config.hydra.overrides.task))
             if o.is_sweep_override()]
    swept += [str(k) for k in (OmegaConf.select(config, "hydra.sweeper.params") or {})]
    if any(k.lstrip("+~").startswith("dataset") for k in swept):
        return  # each job builds its own
    from musicexp.data import corpus
    from musicexp.data.dataset import open_dataset
    from musicexp.engine.paths import resolve_path

    root = resolve_path(str(config.dataset.data_root), Path(os.getcwd()))
    if not corpus.is_built(root, corpus.resolve_manifest(config.dataset.build), config.dataset.program):
        log.info("building dataset %s under %s once, before the jobs start", config.dataset.id, root)
        open_dataset(config.dataset, root, progress=bool(config.progress))
