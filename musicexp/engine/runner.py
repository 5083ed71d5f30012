"""Run the registered steps for one config: resume / skip / force, ``on_error``, the run loop.

The runner knows no step by name: :mod:`.plan` orders the steps the records step needs, each
step is reused from the cache or computed under its hash lock, and ``dataset.on_error`` is
applied here, in one place, to the problems a step lists, whether its artifact was just
computed or reused. Step modules import numpy and their kernels inside ``run``, so a fully
cached run touches no heavy library; the pre-flight checks are skipped when the records
step's artifact is already there (it passed them on the same inputs). What the run leaves
(records, job file, reports) is :mod:`.job`'s; what it prints, :mod:`.table`'s and :mod:`.dry_run`'s.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from musicexp.core import faults
from musicexp.core.errors import UserError
from musicexp.core.registry import Context
from musicexp.engine import dry_run, job, plan, results, table
from musicexp.engine.cache import Artifact, ArtifactStore
from musicexp.engine.domain import domain
from musicexp.engine.paths import Launch, resolve_paths
from musicexp.engine.plan import Node
from musicexp.engine.validate import validate

log = logging.getLogger("musicexp")


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
        """The run's score, what a sweeper maximises: that of the record flagged ``is_objective``
        (else the first record's)."""
        if not self.records:
            return None
        return next((r for r in self.records if r.get("is_objective")), self.records[0])["score"]

    def status(self) -> dict[str, str]:
        return {n: r.status for n, r in self.steps.items()}


def show_bars(cfg: Any) -> bool:
    """Progress bars: asked for (``progress``) and stdout is a terminal (never into a log file)."""
    return bool(cfg.progress) and sys.stdout.isatty()


def run(cfg: Any, launch: Launch | None = None) -> RunResult:
    """Run the steps ``cfg`` needs and append its results records (``launch``: how it was started,
    from the app; default: a run outside Hydra from the current folder)."""
    launch = launch or Launch()
    started, t0 = time.strftime("%Y-%m-%dT%H:%M:%S%z"), time.perf_counter()
    validate(cfg)
    paths = resolve_paths(cfg, launch)
    store = ArtifactStore(paths.artifacts)
    bars = show_bars(cfg)
    ds = domain().open_dataset(cfg.dataset, launch.cwd, bars)
    nodes = plan.plan(cfg, ds)
    order = list(nodes)
    target = order[-1]
    forced = plan.downstream(cfg.force, {n: nodes[n].deps for n in order}) if cfg.resume else set(order)
    if cfg.dry_run:
        status = dry_run.would_be(cfg, store, ds.id, nodes, forced)
        log.info("\n".join(dry_run.lines(nodes, status, ds.root)))
        return RunResult({n: StepRun(n, nodes[n].hash, s) for n, s in status.items()}, [], 0)
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
    settings = plan.settings_columns(nodes, cfg.dataset)
    records = job.records(cfg, nodes, runs, settings, launch, started, time.perf_counter() - t0)
    appended = results.append(records, paths.results_jsonl, paths.results_csv,
                              only_missing=runs[target].status not in ("ran", "forced"))
    job.write_job(paths, cfg, runs, records, settings, launch, appended)
    files = job.write_files(paths, nodes, runs, records)
    log.info("\n".join(table.run_lines(cfg, nodes, runs, records, appended, time.perf_counter() - t0, launch, files)))
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
                "settings": node.settings.plain(), "packages": job.package_versions(domain().packages),
                "host": socket.gethostname(), "pid": os.getpid()}
        sr.artifact = store.commit(ds.id, sr.name, sr.hash, outputs, meta, replace=replace)
        sr.status = "forced" if replace else "ran"
    finally:
        lock.release()
