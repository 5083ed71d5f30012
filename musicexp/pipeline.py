"""The step graph: hashes, resume / skip / force, the run summary and the results records.

Every step's hash is computed before anything runs (it is a pure function of the config, the
data files' fingerprint and the upstream hashes), so a skipped step can still be found in the
cache, and a fully cached run touches no heavy library: step modules import numpy and their
kernels inside the functions that compute, so reading a step's VERSION / params() is free,
and the pre-flight label checks are skipped when the train artifact is already there.
"""

from __future__ import annotations

import copy
import importlib
import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from musicexp import faults, results
from musicexp.cache import Artifact, ArtifactStore
from musicexp.config import STEP_NAMES, validate
from musicexp.errors import UserError
from musicexp.hashing import canonical, digest

log = logging.getLogger("musicexp")

#: step -> module; the order is a topological order of the graph
STEP_MODULES = {name: f"musicexp.steps.{name}" for name in STEP_NAMES}
#: keys that change no output, kept out of every hash
UNHASHED = ("progress", "resume", "skip", "force")
PACKAGES = ("musicexp", "numpy", "pandas", "scikit-learn", "tensorflow", "keras", "symusic", "music21",
            "hydra-core", "omegaconf")


class MissingArtifactError(UserError):
    pass


@dataclass
class StepRun:
    name: str
    hash: str
    status: str = "pending"  # ran | cached | forced | skipped
    seconds: float = 0.0
    artifact: Artifact | None = None
    summary: dict = field(default_factory=dict)


def package_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out


def base_dir() -> Path:
    """Where the user ran musicexp from: relative paths resolve here, not in Hydra's run folder."""
    from hydra.core.hydra_config import HydraConfig  # (hydra.utils would import instantiate: slow)

    if HydraConfig.initialized():
        return Path(HydraConfig.get().runtime.cwd)
    return Path.cwd()


def resolve_path(p: str, base: Path) -> Path:
    path = Path(os.path.expanduser(p))
    return path if path.is_absolute() else base / path


def step_module(name: str):
    return importlib.import_module(STEP_MODULES[name])


def step_deps(name: str, cfg: DictConfig) -> tuple[str, ...]:
    """Upstream steps of ``name`` under ``cfg`` (train reads only what its modes need)."""
    mod = step_module(name)
    return tuple(mod.deps(cfg)) if hasattr(mod, "deps") else tuple(mod.DEPS)


def needed_steps(cfg: DictConfig, target: str = "train") -> list[str]:
    """``target`` and everything it reads, in graph order."""
    need, todo = set(), [target]
    while todo:
        n = todo.pop()
        if n not in need:
            need.add(n)
            todo.extend(step_deps(n, cfg))
    return [n for n in STEP_NAMES if n in need]


def step_hashes(cfg: DictConfig, ds) -> dict[str, dict]:
    """The identity record of every needed step (what its hash is the digest of)."""
    idents: dict[str, dict] = {}
    hashes: dict[str, str] = {}
    for name in needed_steps(cfg):
        mod = step_module(name)
        ident = {
            "step": name,
            "version": mod.VERSION,
            "params": canonical(mod.params(cfg)),
            "upstream": {d: hashes[d] for d in step_deps(name, cfg)},
        }
        if name == "notes":
            ident["data"] = canonical(ds.notes_identity())
        elif name == "labels":
            ident["data"] = canonical(ds.labels_identity())
        idents[name] = ident
        hashes[name] = digest(ident)
    return idents


def downstream(names, graph: dict[str, tuple]) -> set[str]:
    out = set(names)
    changed = True
    while changed:
        changed = False
        for step, deps in graph.items():
            if step not in out and out.intersection(deps):
                out.add(step)
                changed = True
    return out


def config_digest(cfg: DictConfig) -> str:
    c = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
    for k in UNHASHED:
        c.pop(k, None)
    c.get("steps", {}).get("notes", {}).pop("n_jobs", None)
    c.get("steps", {}).get("train", {}).pop("verbose", None)
    return digest(c)


@dataclass
class RunResult:
    steps: dict[str, StepRun]
    records: list[dict]
    appended: int

    @property
    def score(self) -> float | None:
        """The headline (overall macro-F1 of the first mode): what a sweeper maximises."""
        return self.records[0]["score"] if self.records else None

    def status(self) -> dict[str, str]:
        return {n: r.status for n, r in self.steps.items()}


def run(cfg: DictConfig, overrides: list[str] | None = None) -> RunResult:
    """Run the step graph for ``cfg`` and append its results records."""
    started, t0 = time.strftime("%Y-%m-%dT%H:%M:%S%z"), time.perf_counter()
    validate(cfg)
    base = base_dir()
    store = ArtifactStore(resolve_path(cfg.paths.artifacts_root, base))
    from musicexp.dataset import open_dataset

    ds = open_dataset(cfg.dataset, resolve_path(cfg.dataset.data_root, base), progress=cfg.progress)
    cfg = _drop_unavailable_modes(cfg, ds, store)
    idents = step_hashes(cfg, ds)
    order = list(idents)
    graph = {n: step_deps(n, cfg) for n in order}
    forced = downstream(cfg.force, graph) if cfg.resume else set(order)
    if "train" in forced or cfg.dataset.on_error.value == "raise" or store.get(
            ds.id, "train", digest(idents["train"])) is None:
        # (a cached train artifact passed these checks on the same labels, files and settings)
        preflight(cfg, ds)
    skipped = set(cfg.skip)
    runs: dict[str, StepRun] = {}
    for name in order:
        h = digest(idents[name])
        sr = runs[name] = StepRun(name, h)
        if name in skipped:
            sr.artifact, sr.status = store.get(ds.id, name, h, verify=True), "skipped"
            if sr.artifact is None:
                raise MissingArtifactError(
                    f"skip=[{name}] but no cached {name} artifact matches this config "
                    f"(hash {h[:12]}); run once without skipping {name}."
                )
        elif name not in forced and (art := store.get(ds.id, name, h, verify=True)) is not None:
            sr.artifact, sr.status = art, "cached"
        else:
            _compute(store, ds, cfg, sr, idents[name], {d: runs[d].artifact for d in graph[name]},
                     replace=name in forced)
            continue
        if name == "notes":  # reused, not computed: the notes step's own on_error check did not run
            _raise_on_listed_bad_files(cfg, ds, sr.artifact)
    train = runs["train"]
    records = _records(cfg, train, runs, overrides or [], started, time.perf_counter() - t0)
    appended = results.append(
        records,
        resolve_path(cfg.paths.results_jsonl, base),
        resolve_path(cfg.paths.results_csv, base),
        only_missing=train.status != "ran" and train.status != "forced",
    )
    _report(cfg, runs, records, appended, time.perf_counter() - t0)
    return RunResult(runs, records, appended)


def preflight(cfg: DictConfig, ds) -> None:
    """The checks that need the labels but not the notes, before any step runs.

    Labels come from the CSV, the folder names or the file names, so a task that is not a
    label column, classes too small for ``n_splits``, too few groups or (with
    ``dataset.on_error=raise``) an unlabeled file fail here: no artifact is written. The
    `labels` and `train` steps run the same functions again on the files that did parse.
    Not run when the train artifact is cached (it passed them on the same inputs): a fully
    cached run then imports no numpy.
    """
    from musicexp.steps import labels as labels_step
    from musicexp.steps import train as train_step

    lab = cfg.dataset.labels
    got = labels_step.collect(ds, lab, list(ds.files), bad={f for f, _ in ds.rejected})
    if cfg.dataset.on_error.value == "raise":
        labels_step.raise_first(ds, got["problems"])
    train_step.plan(labels_step.make_table(got, lab), got["columns"], cfg.steps.train)


def _raise_on_listed_bad_files(cfg: DictConfig, ds, notes: Artifact) -> None:
    """dataset.on_error=raise with a notes artifact made under on_error=skip (the setting is in
    no hash: it changes what stops a run, not what a step outputs): stop at the first bad file
    it lists, as the notes step would have."""
    if cfg.dataset.on_error.value != "raise":
        return
    bad = notes.load("errors")
    if bad:
        from musicexp.steps.notes import BadFileError

        raise BadFileError(
            f"{ds.path(bad[0]['file'])}: {bad[0]['reason']} (one of {len(bad)} bad file(s) listed by the cached "
            "notes artifact). Fix or remove the file, or set dataset.on_error=skip to list it and go on."
        )


def _skip_list(cfg) -> str:
    return "[" + ",".join(cfg.skip) + "]"


def _drop_unavailable_modes(cfg: DictConfig, ds, store: ArtifactStore) -> DictConfig:
    """skip=[embed] (or [sgt]) with nothing cached: run the modes that don't need it, and say so."""
    from musicexp.config import MODE_NEEDS

    skipped = set(cfg.skip) & {"embed", "sgt", "graph"}
    if not skipped:
        return cfg
    idents = step_hashes(cfg, ds)
    missing = {n for n in skipped if n in idents and store.get(ds.id, n, digest(idents[n]), verify=True) is None}
    if "graph" in missing:
        missing.add("embed")
    modes = [m.value for m in cfg.steps.train.modes]
    keep = [m for m in modes if not missing.intersection(MODE_NEEDS[m])]
    if keep == modes:
        return cfg
    if not keep:
        raise MissingArtifactError(
            f"skip={_skip_list(cfg)} but no cached {'/'.join(sorted(missing))} artifact matches this config, and "
            f"every mode in steps.train.modes={modes} needs one; run once without skipping."
        )
    log.warning("skip=%s and no cached %s artifact: running modes %s only (dropped %s)", _skip_list(cfg),
                "/".join(sorted(missing)), keep, [m for m in modes if m not in keep])
    cfg = copy.deepcopy(cfg)
    cfg.steps.train.modes = keep
    return cfg


def _compute(store: ArtifactStore, ds, cfg, sr: StepRun, ident: dict, upstream: dict, replace: bool) -> None:
    """Run one step under its hash lock and commit its artifact atomically."""
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
                return
        log.info("%s %s: running", sr.name, sr.hash[:10])
        faults.point("step.start", sr.name)  # the hash lock is held
        inputs: dict[str, Any] = {"dataset": ds, **upstream}
        t = time.perf_counter()
        outputs, summary = step_module(sr.name).run(inputs, cfg)
        sr.seconds = time.perf_counter() - t
        faults.point("step.done", sr.name)  # outputs built, nothing written yet
        meta = {
            **ident,
            "dataset_id": ds.id,
            "summary": summary,
            "seconds": round(sr.seconds, 3),
            "config": OmegaConf.to_container(cfg, resolve=True, enum_to_str=True),
            "packages": package_versions(),
            "host": socket.gethostname(),
            "pid": os.getpid(),
        }
        sr.artifact = store.commit(ds.id, sr.name, sr.hash, outputs, meta, replace=replace)
        sr.status = "forced" if replace else "ran"
    finally:
        lock.release()


def _records(cfg, train: StepRun, runs: dict, overrides: list[str], started: str, seconds: float) -> list[dict]:
    run_id = time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
    common = {
        "run_id": run_id,
        "dataset_id": cfg.dataset.id,
        "experiment": cfg.experiment.name,
        "seed": cfg.seed,
    }
    meta = {
        "config_hash": config_digest(cfg),
        "step_hashes": {n: r.hash for n, r in runs.items()},
        "step_status": {n: r.status for n, r in runs.items()},
        "overrides": list(overrides),
        "started_at": started,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "duration_s": round(seconds, 3),
        "train_seconds": train.artifact.meta.get("seconds"),
        "packages": train.artifact.meta.get("packages", {}),
    }
    out = []
    for rec in train.artifact.load("records"):
        r = {**common, **rec, **meta}
        r["record_id"] = f"{train.hash[:16]}:{rec['mode']}:{rec['task']}"
        out.append(r)
    return out


def _report(cfg, runs: dict[str, StepRun], records: list[dict], appended: int, seconds: float) -> None:
    lines = ["", f"{'step':<8} {'status':<8} {'hash':<12} {'seconds':>8}  summary"]
    for r in runs.values():
        summ = r.artifact.meta.get("summary", {}) if r.artifact else {}
        brief = ", ".join(f"{k}={v}" for k, v in summ.items() if not isinstance(v, (dict, list)))
        lines.append(f"{r.name:<8} {r.status:<8} {r.hash[:10]:<12} {r.seconds:>8.2f}  {brief}")
    bad = runs["notes"].artifact.load("errors")
    if bad:
        lines.append(f"{len(bad)} file(s) could not be parsed and were left out (listed in the notes artifact):")
        lines.extend(f"  {e['file']}: {e['reason']}" for e in bad[:10])
        lines.extend([f"  ... and {len(bad) - 10} more"] if len(bad) > 10 else [])
    problems = runs["labels"].artifact.load("report").get("problems", [])
    if problems:
        lines.append(f"{len(problems)} labelling problem(s), pieces left out (listed in the labels artifact):")
        lines.extend(f"  {e['file']}: {e['reason']}" for e in problems[:10])
        lines.extend([f"  ... and {len(problems) - 10} more"] if len(problems) > 10 else [])
    train = runs["train"].artifact
    reports, confusion = train.load("reports"), train.load("confusion")
    for key in reports:
        lines.append(f"\n== {key}: pooled test-fold predictions ==\n{reports[key]}")
        cm = confusion[key]
        w = max(len(c) for c in cm["classes"])
        lines.append("confusion (row-normalised; rows = true):")
        lines.append(" " * (w + 1) + " ".join(f"{c[:6]:>6}" for c in cm["classes"]))
        for c, row in zip(cm["classes"], cm["row_normalised"]):
            lines.append(f"{c:>{w}} " + " ".join(f"{v:6.2f}" for v in row))
    lines.append("")
    for rec in records:
        tasks = rec["tasks"]
        head = f"{rec['dataset_id']} | {rec['experiment']} | {rec['mode']} | task={rec['task']} | {rec['model']}"
        lines.append(head)
        for k in tasks + (["overall"] if len(tasks) > 1 else []):
            p = f"{k}_" if len(tasks) > 1 else ""
            lines.append(
                f"  {k:<10} acc {rec[p + 'acc_mean']:.3f} ± {rec[p + 'acc_std']:.3f}   "
                f"macro-F1 {rec[p + 'f1_mean']:.3f} ± {rec[p + 'f1_std']:.3f}   "
                f"(majority baseline: acc {rec[p + 'baseline_acc']:.3f}, F1 {rec[p + 'baseline_f1']:.3f})"
            )
    lines.append(f"records appended: {appended} | total {seconds:.1f} s")
    log.info("\n".join(lines))
