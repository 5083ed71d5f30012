"""Run the registered steps for one config: resume / skip / force, ``on_error``, records.

The runner knows no step by name: :mod:`.graph` plans the steps the records step needs, each
step is reused from the cache or computed under its hash lock, and ``dataset.on_error`` is
applied here, in one place, to the problems a step lists, whether its artifact was just
computed or reused. Step modules import numpy and their kernels inside ``run``, so a fully
cached run touches no heavy library; the pre-flight checks are skipped when the records
step's artifact is already there (it passed them on the same inputs).
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from musicexp.engine import faults, graph, results
from musicexp.engine.cache import Artifact, ArtifactStore
from musicexp.engine.config import Paths, resolve_paths, validate
from musicexp.engine.fsutil import atomic_write, atomic_write_json
from musicexp.engine.graph import Node
from musicexp.engine.hashing import digest
from musicexp.engine.registry import Context
from musicexp.errors import UserError

log = logging.getLogger("musicexp")

PACKAGES = ("musicexp", "numpy", "pandas", "scikit-learn", "tensorflow", "keras", "symusic", "music21",
            "hydra-core", "omegaconf")
#: written into each run's Hydra folder; the sweep report reads it
JOB_FILE = "musicexp_job.json"


class MissingArtifactError(UserError):
    pass


class BadInputError(UserError):
    """``dataset.on_error=raise`` and a step listed a problem (a bad file, an unlabeled piece)."""


@dataclass
class StepRun:
    name: str
    hash: str
    status: str = "pending"  # ran | cached | forced | skipped
    seconds: float = 0.0
    artifact: Artifact | None = None


@dataclass
class RunResult:
    steps: dict[str, StepRun]
    records: list[dict]
    appended: int
    settings: dict = field(default_factory=dict)
    files: list = field(default_factory=list)  # written into the run's folder (reports, summary)

    @property
    def score(self) -> float | None:
        """The headline of the first record (its ``score``): what a sweeper maximises."""
        return self.records[0]["score"] if self.records else None

    def status(self) -> dict[str, str]:
        return {n: r.status for n, r in self.steps.items()}


def package_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out


def show_bars(cfg: Any) -> bool:
    """Progress bars: asked for (``progress``) and stdout is a terminal (never into a log file)."""
    return bool(cfg.progress) and sys.stdout.isatty()


def run(cfg: Any, overrides: list[str] | None = None) -> RunResult:
    """Run the steps ``cfg`` needs and append its results records."""
    started, t0 = time.strftime("%Y-%m-%dT%H:%M:%S%z"), time.perf_counter()
    validate(cfg)
    paths = resolve_paths(cfg)
    store = ArtifactStore(paths.artifacts)
    from musicexp.data.dataset import open_dataset

    bars = show_bars(cfg)
    ds = open_dataset(cfg.dataset, paths.data_root, progress=bars)
    nodes = graph.plan(cfg, ds)
    order = list(nodes)
    target = order[-1]
    forced = graph.downstream(cfg.force, {n: nodes[n].deps for n in order}) if cfg.resume else set(order)
    if cfg.dry_run:
        return _dry_run(cfg, store, ds, nodes, forced)
    strict = cfg.dataset.on_error.value == "raise"
    if target in forced or strict or store.get(ds.id, target, nodes[target].hash) is None:
        for node in nodes.values():  # (a cached target passed these on the same inputs)
            if node.step.preflight is not None:
                _on_error(node, node.step.preflight(ds, node.params), ds, strict, "found before any step ran")
    runs: dict[str, StepRun] = {}
    for name in order:
        node = nodes[name]
        sr = runs[name] = StepRun(name, node.hash)
        if name in cfg.skip:
            sr.artifact, sr.status = store.get(ds.id, name, node.hash, verify=True), "skipped"
            if sr.artifact is None:
                raise MissingArtifactError(
                    f"skip=[{name}] but no cached {name} artifact matches this config "
                    f"(hash {node.hash[:12]}); run once without skipping {name}."
                )
        elif name not in forced and (art := store.get(ds.id, name, node.hash, verify=True)) is not None:
            sr.artifact, sr.status = art, "cached"
        else:  # (a computed step's problems are judged before its artifact is committed)
            _compute(store, ds, node, sr, {d: runs[d].artifact for d in node.deps}, replace=name in forced, bars=bars,
                     check=lambda outputs: _check(node, outputs, ds, strict, f"found by the {name} step"))
            continue
        _check(node, sr.artifact, ds, strict, f"listed by the {sr.status} {name} artifact")
    settings = graph.settings_columns(nodes)
    records = _records(cfg, nodes, runs[target], runs, settings, overrides or [], started,
                       time.perf_counter() - t0)
    appended = results.append(records, paths.results_jsonl, paths.results_csv,
                              only_missing=runs[target].status not in ("ran", "forced"))
    _write_job(paths, cfg, runs, records, settings, overrides or [], appended)
    files = _write_files(paths, nodes, runs, records)
    _console(cfg, nodes, runs, records, appended, time.perf_counter() - t0, overrides or [], files)
    return RunResult(runs, records, appended, settings, files)


def _check(node: Node, outputs, ds, strict: bool, where: str) -> None:
    """``dataset.on_error`` on the problems a step's outputs list (computed or reused alike)."""
    if node.step.problems is not None:
        _on_error(node, node.step.problems(outputs), ds, strict, where)


def _on_error(node: Node, problems: list[dict], ds, strict: bool, where: str) -> None:
    """The one place ``dataset.on_error`` is applied: with ``raise``, stop at the first problem."""
    if strict and problems:
        first = problems[0]
        more = f" (one of {len(problems)} problem(s) {where})" if len(problems) > 1 else f" ({where})"
        raise BadInputError(f"{ds.path(first['file'])}: {first['reason']}{more}. Fix it, or set "
                            "dataset.on_error=skip to list it and go on.")


def _compute(store: ArtifactStore, ds, node: Node, sr: StepRun, inputs: dict, replace: bool, bars: bool,
             check: Callable[[dict], None]) -> None:
    """Run one step under its hash lock, ``check`` its outputs, and commit its artifact atomically."""
    lock = store.lock(ds.id, sr.name, sr.hash)
    try:
        lock.acquire(timeout=0.05)
    except Exception:
        log.info("%s %s: another process is computing it; waiting", sr.name, sr.hash[:10])
        lock.acquire()
    try:
        if not replace:  # someone may have finished it while we waited
            sr.artifact = store.get(ds.id, sr.name, sr.hash, verify=True)
            if sr.artifact is not None:
                sr.status = "cached"
                check(sr.artifact)
                return
        log.info("%s %s: running", sr.name, sr.hash[:10])
        faults.point("step.start", sr.name)  # the hash lock is held
        t = time.perf_counter()
        outputs, summary = node.step.run(inputs, node.params, Context(ds, node.settings, bars))
        sr.seconds = time.perf_counter() - t
        faults.point("step.done", sr.name)  # outputs built, nothing written yet
        check(outputs)
        meta = {**node.ident, "dataset_id": ds.id, "summary": summary, "seconds": round(sr.seconds, 3),
                "settings": node.settings.plain(), "packages": package_versions(),
                "host": socket.gethostname(), "pid": os.getpid()}
        sr.artifact = store.commit(ds.id, sr.name, sr.hash, outputs, meta, replace=replace)
        sr.status = "forced" if replace else "ran"
    finally:
        lock.release()


def config_hash(nodes: dict[str, Node], dataset_id: str) -> str:
    """Identity of the settings of a run (every step's version and hashed options; no data)."""
    return digest({"dataset": dataset_id, **{n: {"version": x.ident["version"], "params": x.ident["params"]}
                                             for n, x in nodes.items()}})


def _records(cfg, nodes: dict[str, Node], target: StepRun, runs: dict, settings: dict, overrides: list[str],
             started: str, seconds: float) -> list[dict]:
    run_id = time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
    common = {"run_id": run_id, "dataset_id": cfg.dataset.id, "experiment": cfg.experiment.name, "seed": cfg.seed}
    meta = {
        "choices": _choices(),
        "config_hash": config_hash(nodes, cfg.dataset.id),
        "step_hashes": {n: r.hash for n, r in runs.items()},
        "step_status": {n: r.status for n, r in runs.items()},
        "overrides": list(overrides),
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


def _choices() -> dict:
    """The config groups the run was composed from (dataset, experiment, steps/sgt ...)."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return {}
    return {k: v for k, v in HydraConfig.get().runtime.choices.items() if not k.startswith("hydra")}


def _write_job(paths: Paths, cfg, runs: dict, records: list[dict], settings: dict, overrides: list[str],
               appended: int) -> None:
    """This run's own record, in its Hydra folder: what the sweep report reads."""
    if paths.run_dir is None:
        return
    job = {"status": "COMPLETED", "dataset_id": cfg.dataset.id, "experiment": cfg.experiment.name,
           "overrides": list(overrides), "settings": settings, "appended": appended,
           "step_status": {n: r.status for n, r in runs.items()},
           "step_hashes": {n: r.hash for n, r in runs.items()}, "records": records,
           "host": socket.gethostname(), "pid": os.getpid()}
    atomic_write_json(paths.run_dir / JOB_FILE, job, fsync=False)


def _dry_run(cfg, store: ArtifactStore, ds, nodes: dict[str, Node], forced: set) -> "RunResult":
    """What a run would do, with the hashes, computing and writing nothing (as `snakemake -n`)."""
    lines = ["", "dry run: nothing is computed or written", f"{'step':<8} {'would be':<10} {'hash':<12}  reads"]
    runs = {}
    for name, node in nodes.items():
        cached = store.get(ds.id, name, node.hash) is not None
        status = ("skipped" if cached else "MISSING") if name in cfg.skip else \
            ("forced" if cached else "run") if name in forced else ("reused" if cached else "run")
        runs[name] = StepRun(name, node.hash, status)
        lines.append(f"{name:<8} {status:<10} {node.hash[:10]:<12}  {', '.join(node.deps) or ds.root}")
    todo = [n for n, r in runs.items() if r.status in ("run", "forced")]
    lines.append(f"{len(todo)} step(s) would run: {', '.join(todo)}" if todo else "everything is cached: the run "
                 "would only print its summary")
    if any(r.status == "MISSING" for r in runs.values()):
        lines.append("MISSING: skipped but not cached; the run would stop there")
    log.info("\n".join(lines))
    return RunResult(runs, [], 0)


def _write_files(paths: Paths, nodes: dict[str, Node], runs: dict[str, StepRun], records: list[dict]) -> list[Path]:
    """The records step's reports (classification reports, confusion matrices) as files in the
    run's Hydra folder, where the console points instead of printing them."""
    target = list(nodes)[-1]
    if paths.run_dir is None or nodes[target].step.files is None:
        return []
    out = []
    for name, text in nodes[target].step.files(runs[target].artifact, records).items():
        out.append(atomic_write(paths.run_dir / name, text, fsync=False))
    return out


def _console(cfg, nodes: dict[str, Node], runs: dict[str, StepRun], records: list[dict], appended: int,
             seconds: float, overrides: list[str], files: list[Path]) -> None:
    from musicexp.engine.config import launch_dir

    lines = ["", f"{'step':<8} {'status':<8} {'hash':<12} {'seconds':>8}  summary"]
    for r in runs.values():
        summ = r.artifact.meta.get("summary", {}) if r.artifact else {}
        brief = ", ".join(f"{k}={v}" for k, v in summ.items() if not isinstance(v, (dict, list)))
        lines.append(f"{r.name:<8} {r.status:<8} {r.hash[:10]:<12} {r.seconds:>8.2f}  {brief}")
    for name, node in nodes.items():
        if node.step.problems is None:
            continue
        problems = node.step.problems(runs[name].artifact)
        if problems:
            lines.append(f"{len(problems)} {node.step.problem_kind} (listed in the {name} artifact):")
            lines.extend(f"  {e['file']}: {e['reason']}" for e in problems[:10])
            lines.extend([f"  ... and {len(problems) - 10} more"] if len(problems) > 10 else [])
    target = list(nodes)[-1]
    if _multirun() and overrides:  # a sweep job's headline names its values
        lines.append(f"job: {' '.join(overrides)}")
    if nodes[target].step.report is not None:
        lines.extend(nodes[target].step.report(runs[target].artifact, records, cfg.verbose))
    shown = [str(f.relative_to(launch_dir())) if f.is_relative_to(launch_dir()) else str(f) for f in files]
    lines.append(f"records appended: {appended} | total {seconds:.1f} s" + (f" | {', '.join(shown)}" if shown else ""))
    log.info("\n".join(lines))


def _multirun() -> bool:
    from hydra.core.hydra_config import HydraConfig

    return HydraConfig.initialized() and HydraConfig.get().mode.name == "MULTIRUN"
