"""Optional MLflow experiment tracking: log one musicexp run as one MLflow run.

What :func:`log_run` logs:
- params: the run's hashed settings (``steps.sgt.alpha``, ``dataset.neutralize`` ...), lists and other
  non-strings as JSON;
- metrics: each mode's numeric results fields as ``<mode>.<field>``: its scores, their interval
  bounds and baselines (``emb_only.score``, ``emb_only.score_low``, ``sgt_only.baseline_score`` ...);
- artifacts: the files given (results records, config, plots ...);
- tags: ``musicexp.run_id`` and ``musicexp.dataset`` from the records, plus any given.

Where: a local file store ``./mlruns`` by default (browse it with ``mlflow ui``), or any MLflow
tracking URI, such as ``sqlite:///mlflow.db`` or ``http://host:5000``.
Optional: it needs ``pip install 'musicexp[track]'``; MLflow is imported only when called.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import numbers
import os
import posixpath
import re
import shutil
import tempfile
import time
import warnings
from pathlib import Path

from musicexp.core.errors import UserError

MAX_VALUE = 500  # param value length: the lowest limit across MLflow versions and servers
MAX_KEY = 250  # param and metric name length
_BAD = re.compile(r"[^A-Za-z0-9_\-. /]")  # what MLflow allows in names, on every OS
_TAGS = {"musicexp.run_id": "run_id", "musicexp.dataset": "dataset_id"}  # tag -> field of the first record


class TrackingError(UserError):
    """MLflow is missing, or refused what was logged (bad URI, deleted experiment ...)."""


def log_run(settings: dict, records: list[dict], files: dict[str, str | bytes | os.PathLike], *,
            uri: str | None, experiment: str, run_name: str | None = None, tags: dict | None = None) -> str:
    """Log one musicexp run to MLflow; return the MLflow run id.

    settings: flat ``{"steps.sgt.alpha": 0.5, ...}`` -> params, strings as they are, other values as
    JSON; a value over 500 characters (the lowest limit of MLflow servers) is cut to 499 + "…".
    records: one per mode -> every numeric field (not bool, None, NaN or inf) as ``<mode>.<field>``.
    files: artifact name -> ``str`` (text) or ``bytes`` content, or the ``pathlib.Path`` of an
    existing file or folder (a ``str`` is always content, never a path).
    Param and metric names keep ``A-Za-z0-9_-. /`` and any other character becomes ``_``
    (``early:sgt+toy`` -> ``early_sgt_toy``); a name over 250 characters, or one that two
    different names would share, ends in a short hash of the original name.
    uri: the tracking URI, None for ``./mlruns``. experiment: its name, created if missing. The run
    is always ended (FAILED if logging fails); no global MLflow state is set.
    """
    if importlib.util.find_spec("mlflow") is None:
        raise TrackingError("experiment tracking needs MLflow: pip install 'musicexp[track]'")
    from mlflow.entities import Metric, Param
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    uri = uri or (Path.cwd() / "mlruns").resolve().as_uri()  # the local file store ./mlruns
    now = int(time.time() * 1000)
    keys: dict[str, str] = {}
    params = [Param(_name(k, keys), _value(v)) for k, v in settings.items()]
    names: dict[str, str] = {}
    metrics = [Metric(_name(f"{rec.get('mode', 'run')}.{field}", names), float(v), now, 0)
               for rec in records for field, v in rec.items() if field != "mode" and _number(v)]
    first = records[0] if records else {}
    run_tags = {tag: str(first[key]) for tag, key in _TAGS.items() if first.get(key) is not None}
    run_tags.update({str(k): str(v) for k, v in (tags or {}).items()})
    with tempfile.TemporaryDirectory(prefix="musicexp-track-") as tmp:
        _stage(files, Path(tmp))
        try:
            with warnings.catch_warnings():  # the default ./mlruns file store is chosen on purpose (no server,
                warnings.simplefilter("ignore", FutureWarning)  # no database); MLflow warns it is deprecated
                client = MlflowClient(tracking_uri=uri)
                exp = client.get_experiment_by_name(experiment)
            if exp is None:
                try:
                    client.create_experiment(experiment)
                except MlflowException:  # a parallel job (multirun) may have created it first
                    if client.get_experiment_by_name(experiment) is None:
                        raise
                exp = client.get_experiment_by_name(experiment)
            if exp.lifecycle_stage == "deleted":
                raise TrackingError(f"MLflow experiment {experiment!r} at {uri} is deleted: restore it "
                                    "(mlflow experiments restore) or choose another name")
            run_id = client.create_run(exp.experiment_id, run_name=run_name, tags=run_tags).info.run_id
            status = "FAILED"
            try:
                client.log_batch(run_id, metrics=metrics, params=params)
                if files:
                    client.log_artifacts(run_id, tmp)
                status = "FINISHED"
            finally:
                client.set_terminated(run_id, status)
        except MlflowException as e:
            raise TrackingError(f"MLflow tracking at {uri} failed: {e.message}") from e
    return run_id


def _number(v) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)


def _value(v) -> str:
    text = v if isinstance(v, str) else json.dumps(v, sort_keys=True, default=str)
    return text if len(text) <= MAX_VALUE else text[: MAX_VALUE - 1] + "…"


def _name(raw: str, taken: dict[str, str]) -> str:
    """A valid MLflow name for ``raw``, the same for the same input, never shared by two raws."""
    raw = str(raw)
    name = _BAD.sub("_", raw)
    if not name or posixpath.normpath(name) != name or name.startswith(("/", "..")):
        name = "_" + name.replace("/", "_")  # MLflow refuses names that read as other paths
    if len(name) > MAX_KEY or taken.get(name, raw) != raw:
        name = f"{name[:MAX_KEY - 9]}-{hashlib.sha1(raw.encode()).hexdigest()[:8]}"
    taken[name] = raw
    return name


def _stage(files: dict, folder: Path) -> None:
    """Write or copy each file to ``folder/<name>``, so that it is logged under its name."""
    for name, content in files.items():
        rel = Path(name)
        if not name or rel.is_absolute() or ".." in rel.parts:
            raise TrackingError(f"artifact name {name!r} must be a relative path inside the run")
        dest = folder / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            dest.write_bytes(content)
        elif isinstance(content, str):
            dest.write_text(content, encoding="utf-8")
        elif Path(content).is_dir():
            shutil.copytree(content, dest)
        elif Path(content).is_file():
            shutil.copyfile(content, dest)
        else:
            raise TrackingError(f"artifact {name!r}: no such file {os.fspath(content)!r}")
