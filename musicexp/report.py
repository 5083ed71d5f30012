"""Sweep reports: ``summary.csv`` + a heatmap of overall macro-F1 over alpha x top_vocab.

Two ways in:

* :class:`SweepReport`, a Hydra callback registered in ``conf/config.yaml``. In a multirun
  each job (in whatever process the launcher runs it: the main one for ``basic``, a loky
  worker for ``joblib``, a submitit process on any node for ``submitit_*``) writes one small
  file ``musicexp_job.json`` into its own Hydra job folder: its overrides, status, SGT
  parameters, its results records, and which steps it computed itself versus found cached.
  At the end of the multirun the main process gathers those files and writes
  ``summary.csv`` and the heatmap into the sweep folder, and logs how many artifacts each
  step produced. Single runs are untouched (the callback returns at once).
* ``musicexp-report``: the same report for any results file (filters: dataset, experiment,
  mode, task) plus a bar chart of modes with error bars; ``--sweep DIR`` rebuilds a sweep
  folder's report from its job files (e.g. after a multirun that was killed).

matplotlib is imported only when a figure is drawn, so a (cached) single run never loads it.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import math
import os
import socket
import sys
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Iterable

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

log = logging.getLogger("musicexp")

JOB_FILE = "musicexp_job.json"
SUMMARY_CSV = "summary.csv"
HEATMAP_PNG = "heatmap_f1_alpha_top_vocab.png"
MODES_PNG = "modes_f1.png"
#: the SGT parameters every row carries (the heatmap's axes and the usual search space)
PARAMS = {"alpha": "steps.sgt.alpha", "max_dt_beats": "steps.sgt.max_dt_beats", "top_vocab": "steps.sgt.top_vocab"}
MODE_ORDER = ("sgt_only", "emb_only", "early_fusion", "late_fusion")
LEAD = ("job", "job_status", "swept", "overrides", "dataset_id", "experiment", "mode", "task", "model", "alpha",
        "max_dt_beats", "top_vocab", "score", "macro_f1_mean", "macro_f1_std", "baseline_f1")
#: above this many distinct values on an axis the heatmap becomes a scatter plot (Optuna)
MAX_HEATMAP_VALUES = 12


# --------------------------------------------------------------------------- the callback

class SweepReport(Callback):
    """Hydra callback: per-job record files during a multirun, the sweep report at its end."""

    def __init__(self, enabled: bool = True, prebuild_dataset: bool = True) -> None:
        self.enabled = enabled
        self.prebuild_dataset = prebuild_dataset
        # made once in the main process and pickled to every worker: tells this multirun's
        # job files from older ones left in a reused sweep folder
        self.token = uuid.uuid4().hex
        self._job: dict | None = None

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
        try:
            sweep_report(Path(str(config.hydra.sweep.dir)), token=self.token)
        except Exception as exc:  # a report must never turn a finished sweep into a failure
            log.warning("sweep report failed: %s: %s", type(exc).__name__, exc)

    # -- the job's own process (any launcher)
    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._job = None
        if not (self.enabled and _is_multirun(config)):
            return
        try:
            root, dsid = _artifact_root(config), str(config.dataset.id)
            self._job = {"t0": time.time(), "snapshot": _snapshot(root, dsid)}
        except Exception as exc:
            log.warning("sweep report: no artifact snapshot for this job: %s", exc)
            self._job = {"t0": time.time(), "snapshot": None}

    def on_job_end(self, config: DictConfig, job_return: Any, **kwargs: Any) -> None:
        if not (self.enabled and _is_multirun(config)):
            return
        try:
            job = self._job_record(config, job_return)
            out = Path(str(config.hydra.runtime.output_dir)) / JOB_FILE
            _write_json(out, job)
        except Exception as exc:
            log.warning("sweep report: could not write %s: %s: %s", JOB_FILE, type(exc).__name__, exc)
        finally:
            self._job = None

    def _job_record(self, config: DictConfig, job_return: Any) -> dict:
        from musicexp.results import read_jsonl

        state = self._job or {"t0": None, "snapshot": None}
        status = getattr(job_return.status, "name", str(job_return.status))
        overrides = [str(o) for o in (job_return.overrides or [])]
        task_cfg = job_return.cfg if job_return.cfg is not None else _task_config(config)
        job = {
            "token": self.token,
            "job_num": int(config.hydra.job.num),
            "job_id": str(OmegaConf.select(config, "hydra.job.id", default="")),
            "status": status,
            "overrides": overrides,
            "output_dir": str(config.hydra.runtime.output_dir),
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "job_seconds": round(time.time() - state["t0"], 3) if state["t0"] else None,
            "params": {k: OmegaConf.select(task_cfg, key) for k, key in PARAMS.items()},
            "return_value": None,
            "error": None,
            "records": [],
            "step_status": {},
        }
        if status != "COMPLETED":
            job["error"] = f"{type(job_return._return_value).__name__}: {job_return._return_value}"
            return job
        rv = job_return.return_value
        job["return_value"] = float(rv) if isinstance(rv, (int, float)) else rv
        base = Path(str(config.hydra.runtime.cwd))
        records = read_jsonl(_resolve(str(task_cfg.paths.results_jsonl), base))
        job["records"] = find_job_records(records, task_cfg, overrides, base)
        if job["records"]:
            job["step_status"] = _job_step_status(task_cfg, job["records"][0]["step_hashes"], state["snapshot"],
                                                  _artifact_root(config))
        return job


def _is_multirun(config: DictConfig) -> bool:
    mode = OmegaConf.select(config, "hydra.mode")
    return getattr(mode, "name", str(mode)) == "MULTIRUN"


def _task_config(config: DictConfig) -> DictConfig:
    """The job's config as the task function saw it (without the ``hydra`` node)."""
    cfg = copy.deepcopy(config)
    with read_write(cfg), open_dict(cfg):
        cfg.pop("hydra", None)
    return cfg


def _resolve(p: str, base: Path) -> Path:
    path = Path(os.path.expanduser(p))
    return path if path.is_absolute() else base / path


def _artifact_root(config: DictConfig) -> Path:
    return _resolve(str(config.paths.artifacts_root), Path(str(config.hydra.runtime.cwd)))


def _store(root: Path):
    from musicexp.cache import ArtifactStore

    return ArtifactStore(root)


def _snapshot(root: Path, dataset_id: str) -> dict[str, dict[str, int]]:
    """step -> {hash: inode} of the finished artifacts present when the job starts."""
    from musicexp.config import STEP_NAMES

    store, snap = _store(root), {}
    for step in STEP_NAMES:
        step_dir = store.folder(dataset_id, step, "_").parent
        snap[step] = {}
        if step_dir.is_dir():
            for entry in os.scandir(step_dir):
                if not entry.name.startswith(".") and entry.is_dir():
                    snap[step][entry.name] = entry.inode()
    return snap


def _job_step_status(cfg: DictConfig, hashes: dict[str, str], snapshot: dict | None, root: Path) -> dict[str, str]:
    """What this job did per step: ran / forced (it committed the artifact) or cached / skipped.

    A step counts as computed by this job when its artifact was not there (or was another
    folder: force) when the job started and its meta.json names this process as its maker.
    An artifact another job computed while this one waited for its lock counts as cached.
    """
    if snapshot is None:
        return {}
    from musicexp.pipeline import downstream, step_deps

    store, host, pid = _store(root), socket.gethostname(), os.getpid()
    order = list(hashes)
    forced = set(order) if not cfg.resume else downstream(list(cfg.force), {n: step_deps(n, cfg) for n in order})
    out = {}
    for step, h in hashes.items():
        if step in cfg.skip:
            out[step] = "skipped"
            continue
        art = store.get(str(cfg.dataset.id), step, h)
        before = snapshot.get(step, {}).get(h)
        made_here = (art is not None and art.meta.get("pid") == pid and art.meta.get("host", host) == host
                     and (before is None or before != os.stat(art.path).st_ino))
        out[step] = ("forced" if step in forced else "ran") if made_here else "cached"
    return out


def find_job_records(records: list[dict], cfg: DictConfig, overrides: list[str], base: Path | None = None) -> list[dict]:
    """This job's records: the latest per (mode, task) with the job's config hash, else with its
    train hash (record_id), else with its overrides."""
    from musicexp.pipeline import config_digest

    ch = config_digest(cfg)
    mine = [r for r in records if r.get("config_hash") == ch]
    if not mine:  # train was cached and its record came from another config (e.g. unhashed keys)
        prefix = _train_hash(cfg, base)[:16] if base is not None else None
        mine = [r for r in records if prefix and str(r.get("record_id", "")).startswith(prefix + ":")]
    if not mine:
        mine = [r for r in records if list(r.get("overrides") or []) == list(overrides)]
    latest: dict[tuple, dict] = {}
    for r in mine:
        latest[(r.get("mode"), r.get("task"))] = r
    return list(latest.values())


def _train_hash(cfg: DictConfig, base: Path) -> str:
    """The job's train hash, computed as the pipeline does (needs the dataset's fingerprint)."""
    from musicexp.dataset import open_dataset
    from musicexp.hashing import digest
    from musicexp.pipeline import step_hashes

    ds = open_dataset(cfg.dataset, _resolve(str(cfg.dataset.data_root), base), progress=False)
    return digest(step_hashes(cfg, ds)["train"])


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
    from musicexp import corpus
    from musicexp.dataset import open_dataset

    root = _resolve(str(config.dataset.data_root), Path(os.getcwd()))
    if not corpus.is_built(root, corpus.manifest_path(config.dataset.build), config.dataset.program):
        log.info("building dataset %s under %s once, before the jobs start", config.dataset.id, root)
        task_cfg = _task_config(config)
        open_dataset(task_cfg.dataset, root, progress=bool(task_cfg.progress))


# --------------------------------------------------------------------------- rows

def _headline(rec: dict) -> tuple[Any, Any]:
    """(mean, std) over folds of the overall macro-F1 (the single task's with one task)."""
    if "overall_f1_mean" in rec:
        return rec.get("overall_f1_mean"), rec.get("overall_f1_std")
    return rec.get("f1_mean"), rec.get("f1_std")


def record_row(rec: dict, params: dict | None = None, step_status: dict | None = None) -> dict:
    """One summary row for one results record."""
    mean, std = _headline(rec)
    row: dict[str, Any] = {k: rec.get(k) for k in ("dataset_id", "experiment", "mode", "task", "model")}
    row.update({k: (params or {}).get(k) for k in PARAMS})
    row["overrides"] = " ".join(rec.get("overrides") or [])
    row.update(score=rec.get("score"), macro_f1_mean=mean, macro_f1_std=std,
               baseline_f1=rec.get("overall_baseline_f1", rec.get("baseline_f1")))
    for k, v in rec.items():
        if k.endswith(("_mean", "_std")) and k not in row:
            row[k] = v
    status = step_status or rec.get("step_status") or {}
    row["cache_hits"] = sum(1 for s in status.values() if s == "cached")
    row["steps_computed"] = sum(1 for s in status.values() if s in ("ran", "forced"))
    row["duration_s"] = rec.get("duration_s")
    row["train_seconds"] = rec.get("train_seconds")
    for step, s in status.items():
        row[f"{step}_status"] = s
    for step, h in (rec.get("step_hashes") or {}).items():
        row[f"{step}_hash"] = str(h)[:10]
    row.update({k: rec.get(k) for k in ("n_pieces", "n_splits", "seed", "run_id", "record_id", "started_at")})
    return row


def job_rows(job: dict) -> list[dict]:
    """Summary rows of one sweep job (one per record; one row with the error if it failed)."""
    head = {"job": job.get("job_num"), "job_status": job.get("status"), "overrides": " ".join(job.get("overrides", [])),
            "job_seconds": job.get("job_seconds")}
    if not job.get("records"):
        return [{**head, **{k: v for k, v in (job.get("params") or {}).items()},
                 "error": job.get("error") or "no results record found for this job"}]
    rows = []
    for rec in job["records"]:
        row = record_row(rec, job.get("params"), job.get("step_status"))
        row.update(head)  # the job's own overrides: the record may have been written by an earlier run
        rows.append(row)
    return rows


def mark_swept(rows: list[dict]) -> list[dict]:
    """Add ``swept``: each row's overrides that not every row shares (what the sweep varied)."""
    sets = [set((r.get("overrides") or "").split()) for r in rows]
    common = set.intersection(*sets) if sets else set()
    for r in rows:
        r["swept"] = " ".join(o for o in (r.get("overrides") or "").split() if o not in common)
    return rows


def write_rows_csv(rows: list[dict], path: Path) -> Path:
    from musicexp.results import write_csv

    path.parent.mkdir(parents=True, exist_ok=True)
    write_csv(rows, path)  # the results log's CSV writer: union header, atomic replace
    return path


def _cell(v: Any) -> str:
    if isinstance(v, (dict, list)):
        return json.dumps(v, sort_keys=True)
    return "" if v is None else str(v)


def _write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.write_text(json.dumps(obj, indent=1, default=str))
    os.replace(tmp, path)


# --------------------------------------------------------------------------- sweep folders

def load_jobs(sweep_dir: Path, token: str | None = None) -> list[dict]:
    """The job files of a sweep folder, one per job number (the newest), sorted by job number.

    With ``token``, only this multirun's files count (if it wrote any): a reused sweep folder
    may still hold files of an earlier multirun with other jobs.
    """
    found = []
    for p in sorted(sweep_dir.rglob(JOB_FILE)):
        try:
            found.append((p.stat().st_mtime, json.loads(p.read_text())))
        except (OSError, json.JSONDecodeError):
            log.warning("unreadable job file %s", p)
    if token and any(j.get("token") == token for _, j in found):
        found = [(t, j) for t, j in found if j.get("token") == token]
    latest: dict[Any, dict] = {}
    for _, j in sorted(found, key=lambda tj: tj[0]):
        latest[j.get("job_num")] = j
    return [latest[k] for k in sorted(latest, key=lambda x: (x is None, x))]


def step_table(jobs: list[dict]) -> list[dict]:
    """Per step: distinct artifacts used, and how many jobs computed / reused / skipped one."""
    hashes: dict[str, set] = defaultdict(set)
    counts: dict[str, Counter] = defaultdict(Counter)
    for j in jobs:
        if not j.get("records"):
            continue
        for step, h in j["records"][0].get("step_hashes", {}).items():
            hashes[step].add(h)
            counts[step][(j.get("step_status") or {}).get(step, "unknown")] += 1
    return [{"step": s, "artifacts": len(hashes[s]), "computed": counts[s]["ran"] + counts[s]["forced"],
             "cached": counts[s]["cached"], "skipped": counts[s]["skipped"], "unknown": counts[s]["unknown"]}
            for s in hashes]


def format_step_table(table: list[dict]) -> str:
    lines = [f"{'step':<8} {'artifacts':>9} {'computed':>9} {'cached':>7} {'skipped':>8}"]
    for t in table:
        lines.append(f"{t['step']:<8} {t['artifacts']:>9} {t['computed']:>9} {t['cached']:>7} {t['skipped']:>8}")
    return "\n".join(lines)


def sweep_report(sweep_dir: Path, token: str | None = None, out_dir: Path | None = None) -> dict[str, Path]:
    """Write summary.csv (+ heatmap, + modes chart with several modes) for a sweep folder."""
    out_dir = out_dir or sweep_dir
    jobs = load_jobs(sweep_dir, token)
    if not jobs:
        log.warning("sweep report: no %s under %s (did the jobs run musicexp?)", JOB_FILE, sweep_dir)
        return {}
    rows = mark_swept([r for j in jobs for r in job_rows(j)])
    written = {"summary": write_rows_csv(rows, out_dir / SUMMARY_CSV)}
    ok = [r for r in rows if r.get("macro_f1_mean") is not None]
    heat = plot_heatmap(ok, out_dir / HEATMAP_PNG)
    if heat:
        written["heatmap"] = heat
    if len({r.get("mode") for r in ok}) > 1:
        written["modes"] = plot_modes(ok, out_dir / MODES_PNG)
    failed = [j for j in jobs if j.get("status") != "COMPLETED"]
    best = max(ok, key=lambda r: r["macro_f1_mean"], default=None)
    lines = [f"sweep report: {len(jobs)} jobs ({len(jobs) - len(failed)} completed, {len(failed)} failed), "
             f"{len(ok)} records", format_step_table(step_table(jobs))]
    if best:
        lines.append(f"best: job {best.get('job')} [{best.get('swept')}] {best.get('mode')} "
                     f"macro-F1 {best['macro_f1_mean']:.3f} ± {best.get('macro_f1_std') or 0:.3f}")
    lines.extend(f"  {k}: {v}" for k, v in written.items())
    log.info("\n".join(lines))
    return written


# --------------------------------------------------------------------------- figures

def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _num(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _fmt(v: float) -> str:
    return f"{v:g}" if abs(v - round(v)) > 1e-9 else str(int(round(v)))


def _dedupe(rows: Iterable[dict]) -> list[dict]:
    """One row per record (the last one) for figures; rows without a record_id stay."""
    seen: dict[Any, dict] = {}
    for i, r in enumerate(rows):
        seen[r.get("record_id") or ("row", i)] = r
    return list(seen.values())


def _groups(rows: list[dict]) -> dict[tuple, list[dict]]:
    g: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        g[(r.get("dataset_id"), r.get("mode"), r.get("task"), r.get("model"))].append(r)
    return dict(sorted(g.items(), key=lambda kv: (str(kv[0][0]), _mode_rank(kv[0][1]), str(kv[0][2:]))))


def _mode_rank(mode: Any) -> tuple:
    return (MODE_ORDER.index(mode), "") if mode in MODE_ORDER else (len(MODE_ORDER), str(mode))


def plot_heatmap(rows: list[dict], path: Path, max_panels: int = 6) -> Path | None:
    """Overall macro-F1 over alpha (rows) x top_vocab (columns), one panel per (dataset, mode, task,
    model) whose alpha or top_vocab varies; cells annotated "mean ± std" over folds (cells holding
    several records, e.g. other parameters varied, show their average and n)."""
    pts = []
    for r in _dedupe(rows):
        a, v, m = _num(r.get("alpha")), _num(r.get("top_vocab")), _num(r.get("macro_f1_mean"))
        if a is not None and v is not None and m is not None:
            pts.append({**r, "_a": round(a, 6), "_v": v, "_m": m, "_s": _num(r.get("macro_f1_std")) or 0.0})
    panels = [(k, g) for k, g in _groups(pts).items()
              if len({p["_a"] for p in g}) > 1 or len({p["_v"] for p in g}) > 1]
    if not panels:
        return None
    if len(panels) > max_panels:
        log.warning("heatmap: %d groups vary alpha/top_vocab; drawing the first %d (filter to see others)",
                    len(panels), max_panels)
        panels = panels[:max_panels]
    plt = _pyplot()
    vals = [p["_m"] for _, g in panels for p in g]
    vmin, vmax = min(vals), max(vals)
    if vmax - vmin < 0.02:  # don't let colour blow up differences of a few thousandths
        mid = (vmin + vmax) / 2
        vmin, vmax = mid - 0.01, mid + 0.01
    sizes = []
    for _, g in panels:
        na, nv = len({p["_a"] for p in g}), len({p["_v"] for p in g})
        sizes.append((max(3.2, 1.25 * nv + 1.4), max(2.6, 0.85 * na + 1.4)))
    fig, axes = plt.subplots(1, len(panels), figsize=(sum(w for w, _ in sizes) + 1.2, max(h for _, h in sizes) + 0.9),
                             squeeze=False)
    im = None
    for ax, ((ds, mode, task, model), g) in zip(axes[0], panels):
        alphas, vocabs = sorted({p["_a"] for p in g}), sorted({p["_v"] for p in g})
        if len(alphas) > MAX_HEATMAP_VALUES or len(vocabs) > MAX_HEATMAP_VALUES:
            im = _scatter_panel(ax, g, vmin, vmax)
        else:
            im = _heat_panel(ax, g, alphas, vocabs, vmin, vmax)
        ax.set_title(f"{ds} | {mode} | task={task} | {model}", fontsize=9)
    fig.colorbar(im, ax=list(axes[0]), shrink=0.9, label="overall macro-F1 (mean over folds)")
    fig.suptitle("overall macro-F1 over alpha x top_vocab (cell: mean ± std over folds; box: best)", fontsize=10)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def _heat_panel(ax, g: list[dict], alphas: list, vocabs: list, vmin: float, vmax: float):
    import numpy as np

    cells: dict[tuple, list[dict]] = defaultdict(list)
    for p in g:
        cells[(alphas.index(p["_a"]), vocabs.index(p["_v"]))].append(p)
    mean = np.full((len(alphas), len(vocabs)), np.nan)
    for (i, j), ps in cells.items():
        mean[i, j] = sum(p["_m"] for p in ps) / len(ps)
    im = ax.imshow(np.ma.masked_invalid(mean), cmap="viridis", vmin=vmin, vmax=vmax, aspect="auto", origin="lower")
    mid = (vmin + vmax) / 2
    for (i, j), ps in cells.items():
        s = sum(p["_s"] for p in ps) / len(ps)
        txt = f"{mean[i, j]:.3f}\n± {s:.3f}" + (f"\n(n={len(ps)})" if len(ps) > 1 else "")
        ax.text(j, i, txt, ha="center", va="center", fontsize=8, color="black" if mean[i, j] > mid else "white")
    bi, bj = np.unravel_index(np.nanargmax(mean), mean.shape)
    ax.add_patch(_rect((bj - 0.48, bi - 0.48), 0.96, 0.96))
    ax.set_xticks(range(len(vocabs)), [_fmt(v) for v in vocabs])
    ax.set_yticks(range(len(alphas)), [_fmt(a) for a in alphas])
    ax.set_xlabel("top_vocab")
    ax.set_ylabel("alpha")
    return im


def _rect(xy, w, h):
    from matplotlib.patches import Rectangle

    return Rectangle(xy, w, h, fill=False, edgecolor="red", linewidth=2)


def _scatter_panel(ax, g: list[dict], vmin: float, vmax: float):
    im = ax.scatter([p["_v"] for p in g], [p["_a"] for p in g], c=[p["_m"] for p in g], cmap="viridis",
                    vmin=vmin, vmax=vmax, s=90, edgecolors="k")
    best = max(g, key=lambda p: p["_m"])
    ax.annotate(f"{best['_m']:.3f} ± {best['_s']:.3f}", (best["_v"], best["_a"]), textcoords="offset points",
                xytext=(6, 6), fontsize=8, color="red")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("top_vocab")
    ax.set_ylabel("alpha")
    return im


def plot_modes(rows: list[dict], path: Path) -> Path:
    """Bar chart: per mode the best record's overall macro-F1 ± std over folds, one bar colour per
    (dataset, task); the black tick is that record's majority-class baseline."""
    import numpy as np

    plt = _pyplot()
    rows = [r for r in _dedupe(rows) if _num(r.get("macro_f1_mean")) is not None]
    modes = sorted({r.get("mode") for r in rows}, key=_mode_rank)
    hues = sorted({(str(r.get("dataset_id")), str(r.get("task"))) for r in rows})
    best: dict[tuple, dict] = {}
    count: Counter = Counter()
    for r in rows:
        key = (str(r.get("dataset_id")), str(r.get("task")), r.get("mode"))
        count[key] += 1
        if key not in best or float(r["macro_f1_mean"]) > float(best[key]["macro_f1_mean"]):
            best[key] = r
    width = 0.8 / max(1, len(hues))
    fig, ax = plt.subplots(figsize=(max(4.5, 1.6 * len(modes) * max(1, len(hues)) ** 0.5 + 2), 4.2))
    for h, (ds, task) in enumerate(hues):
        xs, ys, es, bs, ns = [], [], [], [], []
        for m_i, mode in enumerate(modes):
            r = best.get((ds, task, mode))
            if r is None:
                continue
            xs.append(m_i + (h - (len(hues) - 1) / 2) * width)
            ys.append(float(r["macro_f1_mean"]))
            es.append(_num(r.get("macro_f1_std")) or 0.0)
            bs.append(_num(r.get("baseline_f1")))
            ns.append(count[(ds, task, mode)])
        ax.bar(xs, ys, width * 0.92, yerr=es, capsize=4, label=f"{ds} | task={task}")
        for x, y, e, b, n in zip(xs, ys, es, bs, ns):
            ax.text(x, y + e + 0.01, f"{y:.3f}" + (f"\n(best of {n})" if n > 1 else ""), ha="center",
                    va="bottom", fontsize=7)
            if b is not None:
                ax.hlines(b, x - width * 0.4, x + width * 0.4, colors="black", linestyles="--", linewidth=1.2)
    ax.set_xticks(np.arange(len(modes)), modes)
    ax.set_ylabel("macro-F1, overall over tasks (mean ± std over folds)")
    ax.set_ylim(0, min(1.2, max((float(r["macro_f1_mean"]) + (_num(r.get("macro_f1_std")) or 0)) for r in rows) + 0.15))
    ax.set_title("macro-F1 per mode (best record; dashed: majority baseline)", fontsize=10)
    if hues:
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=min(4, len(hues)), frameon=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


# --------------------------------------------------------------------------- results files

def params_from_artifacts(rec: dict, store) -> dict:
    """alpha / max_dt_beats (the sgt artifact's params) and top_vocab (the train artifact's)."""
    out: dict[str, Any] = {}
    hashes, ds = rec.get("step_hashes") or {}, str(rec.get("dataset_id"))
    if store is not None and hashes.get("sgt"):
        art = store.get(ds, "sgt", hashes["sgt"])
        if art is not None:
            p = art.meta.get("params", {})
            out.update(alpha=p.get("alpha"), max_dt_beats=p.get("max_dt_beats"))
    if store is not None and hashes.get("train"):
        art = store.get(ds, "train", hashes["train"])
        if art is not None:
            out["top_vocab"] = art.meta.get("params", {}).get("top_vocab")
    for k, key in PARAMS.items():  # else from the command line the record was made with
        if out.get(k) is None:
            for o in rec.get("overrides") or []:
                if o.lstrip("+").split("=", 1)[0] == key:
                    v = o.split("=", 1)[1]
                    out[k] = None if v == "null" else v
    return out


def report_results(results: Path, out_dir: Path, artifacts: Path | None = None, dataset=None, experiment=None,
                   mode=None, task=None) -> tuple[dict[str, Path], list[dict]]:
    """summary.csv, heatmap (if alpha / top_vocab vary) and modes chart for a results file."""
    from musicexp.results import read_jsonl

    recs = read_jsonl(results)
    for key, want in (("dataset_id", dataset), ("experiment", experiment), ("mode", mode), ("task", task)):
        if want:
            recs = [r for r in recs if str(r.get(key)) in set(want)]
    store = _store(artifacts) if artifacts is not None and artifacts.is_dir() else None
    rows = mark_swept([record_row(r, params_from_artifacts(r, store)) for r in recs])
    written: dict[str, Path] = {}
    if not rows:
        return written, rows
    written["summary"] = write_rows_csv(rows, out_dir / SUMMARY_CSV)
    ok = [r for r in rows if r.get("macro_f1_mean") is not None]
    heat = plot_heatmap(ok, out_dir / HEATMAP_PNG)
    if heat:
        written["heatmap"] = heat
    if ok:
        written["modes"] = plot_modes(ok, out_dir / MODES_PNG)
    return written, rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="musicexp-report",
        description="Write summary.csv, a heatmap of overall macro-F1 over alpha x top_vocab (when they vary) "
                    "and a bar chart of modes with error bars, for a results file or a sweep folder.")
    p.add_argument("--results", type=Path, default=Path("results/results.jsonl"),
                   help="results JSONL (default: results/results.jsonl)")
    p.add_argument("--out", type=Path, default=None,
                   help="output folder (default: <results folder>/report, or the sweep folder with --sweep)")
    p.add_argument("--artifacts", type=Path, default=Path("artifacts"),
                   help="artifact store, to read alpha / top_vocab of each record (default: artifacts)")
    p.add_argument("--sweep", type=Path, default=None,
                   help="rebuild the report of a multirun folder from its job files instead")
    for flag, help_ in (("dataset", "dataset id"), ("experiment", "experiment name"), ("mode", "mode"),
                        ("task", "task")):
        p.add_argument(f"--{flag}", action="append", metavar="X", help=f"keep only this {help_} (repeatable)")
    a = p.parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(message)s")
    if a.sweep is not None:
        if not a.sweep.is_dir():
            p.error(f"--sweep {a.sweep}: not a folder")
        written = sweep_report(a.sweep, out_dir=a.out)
        if not written:
            print(f"no {JOB_FILE} under {a.sweep}", file=sys.stderr)
            return 1
        return 0
    if not a.results.is_file():
        p.error(f"--results {a.results}: no such file (run musicexp first, or pass --results)")
    out = a.out or a.results.parent / "report"
    written, rows = report_results(a.results, out, a.artifacts, a.dataset, a.experiment, a.mode, a.task)
    if not rows:
        print(f"no records in {a.results} match the filters", file=sys.stderr)
        return 1
    best = max((r for r in rows if r.get("macro_f1_mean") is not None), key=lambda r: r["macro_f1_mean"], default=None)
    print(f"{len(rows)} records from {a.results}")
    if best:
        print(f"best: {best['dataset_id']} | {best['experiment']} | {best['mode']} | task={best['task']} | "
              f"alpha={best.get('alpha')} top_vocab={best.get('top_vocab')}: macro-F1 "
              f"{best['macro_f1_mean']:.3f} ± {best.get('macro_f1_std') or 0:.3f}")
    for k, v in written.items():
        print(f"{k}: {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
