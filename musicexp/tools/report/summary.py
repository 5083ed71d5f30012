"""Summary rows of results records, and the report of a sweep folder or a results file.

A sweep job's own record (``musicexp_job.json`` in its Hydra folder) is written by the run
itself (musicexp.engine.job): its records, the settings it ran with, and which steps it
computed or reused. The callback adds the job's number and status; this module only reads.
"""

from __future__ import annotations

import json
import logging
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from musicexp.engine.job import JOB_FILE
from musicexp.evaluation.headline import fmt_ci, fmt_diff, fmt_mdd, fmt_p, fmt_ref
from musicexp.tools.report.plots import MODES_PNG, SETTINGS, plot_modes, plot_sweep

log = logging.getLogger("musicexp")

SUMMARY_CSV = "summary.csv"


def swept_keys(override_lists: list[list[str]]) -> list[str]:
    """The keys a sweep varied: those whose command-line value is not the same in every run
    (a key set in some runs only counts too), in the order they were first given. Hydra's own
    keys are left out. The axes of the report's figure, and a column of summary.csv each."""
    def given(overrides) -> dict[str, str]:
        out = {}
        for o in overrides or []:
            key, _, value = str(o).lstrip("+~").partition("=")
            if not key.startswith("hydra"):
                out[key] = value  # (the last one wins, as in Hydra)
        return out

    runs = [given(o) for o in override_lists]
    keys = list(dict.fromkeys(k for r in runs for k in r))
    return [k for k in keys if len({r.get(k) for r in runs}) > 1]


def filter_records(recs: list[dict], dataset=None, experiment=None, mode=None, task=None) -> list[dict]:
    """The records whose dataset, experiment, mode and task are among those asked (None: any)."""
    for key, want in (("dataset_id", dataset), ("experiment", experiment), ("mode", mode), ("task", task)):
        if want:
            recs = [r for r in recs if str(r.get(key)) in set(want)]
    return recs


def setting(rec: dict, key: str) -> Any:
    """A setting of a record: its own column, else (records made before settings were recorded)
    the command-line override it was made with, else None."""
    if key in rec:
        return rec[key]
    for o in rec.get("overrides") or []:
        if o.lstrip("+").split("=", 1)[0] == key:
            v = o.split("=", 1)[1]
            return None if v == "null" else v
    return None


def per_fold(rec: dict) -> tuple[Any, Any]:
    """(mean, std) over folds of the overall macro-F1 (the single task's with one task)."""
    if "overall_f1_mean" in rec:
        return rec.get("overall_f1_mean"), rec.get("overall_f1_std")
    return rec.get("f1_mean"), rec.get("f1_std")


def record_row(rec: dict, axes: list[str], step_status: dict | None = None) -> dict:
    """One summary row for one results record, with a column per swept key in ``axes``
    (records written before intervals existed give their score without one)."""
    mean, std = per_fold(rec)
    row: dict[str, Any] = {k: rec.get(k) for k in ("dataset_id", "experiment", "mode", "task", "model")}
    row.update({key: setting(rec, key) for key in axes})
    row["overrides"] = " ".join(rec.get("overrides") or [])
    row.update(score=rec.get("score", mean), score_low=rec.get("score_low"), score_high=rec.get("score_high"),
               holdout_score=rec.get("holdout_score"), holdout_score_low=rec.get("holdout_score_low"),
               holdout_score_high=rec.get("holdout_score_high"), macro_f1_mean=mean, macro_f1_std=std,
               baseline_f1=rec.get("baseline_score", rec.get("overall_baseline_f1", rec.get("baseline_f1"))))
    for k, v in rec.items():
        if (k.endswith(("_mean", "_std")) or k.startswith(SETTINGS)) and k not in row:
            row[k] = v
    for o in rec.get("overrides") or []:  # (records made before settings were recorded: from the command line)
        key = str(o).lstrip("+~").partition("=")[0]
        if key.startswith("steps.") and key not in row:
            row[key] = setting(rec, key)
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
    # what the paired comparison with the chosen row needs (mark_best)
    row.update({k: rec.get(k) for k in ("is_objective", "folds_id", "fold_f1", "fold_train_mean", "fold_test_mean")})
    return row


def job_rows(job: dict, axes: list[str]) -> list[dict]:
    """Summary rows of one sweep job (one per record; one row with the error if it failed)."""
    head = {"job": job.get("job_num"), "job_status": job.get("status"), "overrides": " ".join(job.get("overrides", [])),
            "job_seconds": job.get("job_seconds")}
    if not job.get("records"):
        settings = job.get("settings") or {}
        return [{**head, **{key: settings.get(key, setting(job, key)) for key in axes},
                 "error": job.get("error") or "no results record found for this job"}]
    rows = []
    for rec in job["records"]:
        row = record_row(rec, axes, job.get("step_status"))
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


def mark_best(rows: list[dict]) -> list[dict]:
    """Per (dataset, task) the row with the highest CV score is ``chosen`` (among the runs'
    objective rows, ``is_objective``, when the records say which they are: what the sweep
    optimised). Every other row on the same folds is compared with it by the corrected
    resampled t-test on the paired per-fold scores, Holm-adjusted over those comparisons:
    ``p_vs_chosen`` (adjusted) and ``below_chosen`` (adjusted p < 0.05); rows on other folds, or
    without per-fold scores, get None (not paired)."""
    from musicexp.evaluation.protocol import ALPHA
    from musicexp.evaluation.statistics import corrected_resampled_ttest, holm

    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        if r.get("score") is not None:
            groups[(r.get("dataset_id"), r.get("task"))].append(r)
    for g in groups.values():
        pool = [r for r in g if r.get("is_objective")] or g
        best = max(pool, key=lambda r: r["score"])
        paired = []
        for r in g:
            r["chosen"] = r is best
            r["p_vs_chosen"] = r["below_chosen"] = None
            if r is not best and r.get("fold_f1") and best.get("fold_f1") and r.get("folds_id") == best.get("folds_id"):
                paired.append(r)
        if paired:
            diffs = [[a - b for a, b in zip(r["fold_f1"], best["fold_f1"])] for r in paired]
            raw = [corrected_resampled_ttest(d, best["fold_train_mean"], best["fold_test_mean"]).p for d in diffs]
            for r, p in zip(paired, holm(raw)):
                r["p_vs_chosen"], r["below_chosen"] = float(p), bool(p < ALPHA)
    return rows


def best_lines(rows: list[dict], name) -> list[str]:
    """What chose (the CV score), what confirms (the held-out score), and what the data cannot
    tell apart, per (dataset, task)."""
    lines = []
    for r in [r for r in rows if r.get("chosen")]:
        peers = [x for x in rows if x is not r and (x.get("dataset_id"), x.get("task")) == (r.get("dataset_id"), r.get("task"))]
        same = [x for x in peers if x.get("below_chosen") is False]
        unpaired = [x for x in peers if x.get("below_chosen") is None]
        line = (f"chosen by the CV score ({r.get('dataset_id')}, task={r.get('task')}): {name(r)} {r.get('mode')} "
                f"{fmt_ci(r)}")
        if r.get("holdout_score") is not None:
            line += f"; confirmed on the held-out part no CV saw: {fmt_ci(r, 'holdout_score')}"
        else:
            line += "; no held-out part (steps.train.holdout=0): this score also chose it, so it is optimistic"
        lines.append(line)
        if same:
            lines.append(f"  {len(same)} other record(s) not significantly below it (corrected t on the same folds, "
                         "Holm-adjusted p >= 0.05): this data does not separate them from it")
        if unpaired:
            lines.append(f"  {len(unpaired)} other record(s) on other folds (another seed, n_splits or repeats): not "
                         "compared")
    return lines


def write_rows_csv(rows: list[dict], path: Path) -> Path:
    from musicexp.engine.results import write_csv

    path.parent.mkdir(parents=True, exist_ok=True)
    write_csv(rows, path)  # the results log's CSV writer: union header, atomic replace
    return path


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
        for step, h in (j.get("step_hashes") or {}).items():
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


def _figures(rows: list[dict], out_dir: Path, axes: list[str], modes_chart: bool) -> dict[str, Path]:
    written = {"summary": write_rows_csv(rows, out_dir / SUMMARY_CSV)}
    ok = [r for r in rows if r.get("score") is not None]
    figure = plot_sweep(ok, out_dir, axes)
    if figure:
        written["heatmap" if len(axes) > 1 else "line"] = figure
    if ok and modes_chart:
        written["modes"] = plot_modes(ok, out_dir / MODES_PNG)
    return written


def sweep_report(sweep_dir: Path, token: str | None = None, out_dir: Path | None = None) -> dict[str, Path]:
    """Write summary.csv (+ heatmap, + modes chart with several modes) for a sweep folder."""
    jobs = load_jobs(sweep_dir, token)
    if not jobs:
        log.warning("sweep report: no %s under %s (did the jobs run musicexp?)", JOB_FILE, sweep_dir)
        return {}
    axes = swept_keys([j.get("overrides") or [] for j in jobs])
    rows = mark_best(mark_swept([r for j in jobs for r in job_rows(j, axes)]))
    ok = [r for r in rows if r.get("score") is not None]
    written = _figures(rows, out_dir or sweep_dir, axes, len({r.get("mode") for r in ok}) > 1)
    failed = [j for j in jobs if j.get("status") != "COMPLETED"]
    lines = [f"sweep report: {len(jobs)} jobs ({len(jobs) - len(failed)} completed, {len(failed)} failed), "
             f"{len(ok)} records; swept: {', '.join(axes) or 'nothing'}", format_step_table(step_table(jobs))]
    lines.extend(best_lines(ok, lambda r: f"job {r.get('job')} [{r.get('swept')}]"))
    lines.extend(f"  {k}: {v}" for k, v in written.items())
    log.info("\n".join(lines))
    return written


def report_results(results: Path, out_dir: Path, dataset=None, experiment=None, mode=None,
                   task=None) -> tuple[dict[str, Path], list[dict], list[str]]:
    """summary.csv, the figure over the keys the runs varied, and the modes chart for a results
    file; returns (files written, rows, the varied keys)."""
    from musicexp.engine.results import read_jsonl

    recs = filter_records(read_jsonl(results), dataset, experiment, mode, task)
    axes = swept_keys([r.get("overrides") or [] for r in recs])
    rows = mark_best(mark_swept([record_row(r, axes) for r in recs]))
    if not rows:
        return {}, rows, axes
    return _figures(rows, out_dir, axes, True), rows, axes


def select(recs: list[dict], ref: str) -> list[dict]:
    """The records of one run or configuration: ``ref`` is a run_id or config_hash (or a prefix)."""
    return [r for r in recs if str(r.get("run_id", "")).startswith(ref) or str(r.get("config_hash", "")).startswith(ref)]


#: run-to-run spread of a mode that reads a gensim embedding: gensim's word2vec with 2 threads is
#: not bit-reproducible, and the same config moved emb_only by up to this much (docs/evaluation.md,
#: "Run-to-run noise"); `--compare` calls no such difference a difference. The default engine
#: (sgns) and gensim with one thread are exact: every difference between their records counts.
EMBED_NOISE = 0.02


def _noisy_embedding(rec: dict) -> bool:
    """Whether the record's embedding came from gensim with more than one thread: its settings
    column ``steps.embed.engine`` is gensim or missing (records from before the option: gensim),
    and its overrides do not set ``steps.embed.workers=1`` (the unhashed thread count is not a
    settings column; its default is 2)."""
    if rec.get("steps.embed.engine", "gensim") != "gensim":
        return False
    workers = [str(o).split("=", 1)[1] for o in rec.get("overrides") or []
               if str(o).lstrip("+~").startswith("steps.embed.workers=")]
    return not (workers and workers[-1].strip() == "1")


def _reads_embedding(mode: str) -> bool:
    import musicexp.steps  # noqa: F401  (registers the blocks the modes name, when nothing else has)
    from musicexp.evaluation.modes import parse

    try:
        return "emb" in parse(mode).blocks
    except ValueError:
        return False


def compare(recs: list[dict], a: str, b: str) -> list[dict]:
    """Pair the records of ``a`` and ``b`` by (dataset, mode, task): the difference of their CV
    scores and the corrected resampled t-test on their per-fold scores (only on the same folds).
    A mode that reads an embedding of gensim with several threads (in either record) is not called
    different within ``EMBED_NOISE``."""
    from musicexp.evaluation.statistics import corrected_resampled_ttest

    first = {(r.get("dataset_id"), r.get("mode"), r.get("task")): r for r in select(recs, a)}
    out = []
    for r2 in select(recs, b):
        key = (r2.get("dataset_id"), r2.get("mode"), r2.get("task"))
        r1 = first.get(key)
        if r1 is None:
            continue
        row = {"dataset_id": key[0], "mode": key[1], "task": key[2], "a": r1.get("score"), "b": r2.get("score"),
               "diff": (r2.get("score") or 0) - (r1.get("score") or 0), "p_t": None, "note": ""}
        if not (r1.get("fold_f1") and r2.get("fold_f1")):
            row["note"] = "no per-fold scores in these records (written before they were kept)"
        elif r1.get("folds_id") != r2.get("folds_id"):
            row["note"] = "different folds (dataset, seed, n_splits or repeats differ): not paired"
        else:
            diffs = [y - x for x, y in zip(r1["fold_f1"], r2["fold_f1"])]
            row["p_t"] = corrected_resampled_ttest(diffs, r1["fold_train_mean"], r1["fold_test_mean"]).p
        if (_reads_embedding(str(key[1])) and abs(row["diff"]) <= EMBED_NOISE
                and (_noisy_embedding(r1) or _noisy_embedding(r2))):
            row["note"] = (f"within the run-to-run noise of the 2-thread embedding (+-{EMBED_NOISE}): not a difference"
                           + (f"; {row['note']}" if row["note"] else ""))
        out.append(row)
    return out


def markdown_table(recs: list[dict]) -> list[str]:
    """The modes of the latest run of each (dataset, task, model) as a Markdown table: CV score
    with interval, per task, the difference to the best mode with its corrected t p-value, the
    minimum detectable difference (MDD) and McNemar's p-values, the difference to the
    metadata-only control with its p-value, the difference to the reference mode (``stats_only``
    by default) with its paired interval and p-values, then the reference rows (the control, the majority
    baseline) and a line per derived task (the README's results tables are made with this)."""
    latest: dict[tuple, str] = {}
    for r in recs:  # one table per dataset, task, model and dataset settings (neutralize, labels ...)
        if r.get("score_low") is not None:
            ds_settings = tuple(sorted((k, v if isinstance(v, str) else json.dumps(v)) for k, v in r.items()
                                       if k.startswith("dataset.")))
            latest[(r.get("dataset_id"), r.get("task"), r.get("model"), ds_settings)] = r.get("run_id")
    out = []
    for (ds, task, model, ds_settings), run_id in latest.items():
        rows = [r for r in recs if r.get("run_id") == run_id]
        others = {s for (d, t, m, s) in latest if (d, t, m) == (ds, task, model) and s != ds_settings}
        differ = [f"{k}={v}" for k, v in ds_settings if any(dict(o).get(k) != v for o in others)]
        tasks = rows[0]["tasks"]
        pre = (lambda k: f"{k}_") if len(tasks) > 1 else (lambda k: "")
        ctrl = "p_t_vs_control" in rows[0]
        ref = rows[0].get("reference_mode") if any("diff_to_reference" in r for r in rows) else None
        blank = " | | | | | |" + (" |" if ctrl else "") + (" |" if ref else "")
        out += [f"{ds}, task={task}, {model}" + (f" ({', '.join(differ)})" if differ else "")
                + f": {rows[0]['n_pieces']} pieces, {rows[0]['n_splits']} folds x {rows[0]['repeats']} repeat(s) "
                f"(run {run_id})", "",
                "| mode | CV score [95% CI] | " + " | ".join(f"{k} macro-F1" for k in tasks)
                + " | vs best [95% paired CI] | p (corrected t) | p (Holm) | MDD | p (McNemar) |"
                + (" vs control, p (Holm) |" if ctrl else "")
                + (f" vs reference {ref} [95% paired CI], p (corrected t, Holm) |" if ref else ""),
                "|---|---|" + "---|" * len(tasks) + "---|---|---|---|---|" + ("---|" if ctrl else "")
                + ("---|" if ref else "")]
        for r in rows:
            best = r["mode"] == r.get("best_mode")
            mc = ", ".join(fmt_p(r.get(f"{pre(k)}p_mcnemar_vs_best")) for k in tasks)
            mdd = r.get("mdd_vs_best")
            line = (f"| {r['mode']} | {fmt_ci(r)} | " + " | ".join(fmt_ci(r, f'{pre(k)}f1') for k in tasks)
                    + (" | best | | | | |" if best else
                       f" | {fmt_diff(r)} | {fmt_p(r.get('p_t_vs_best'))} | {fmt_p(r.get('p_t_vs_best_holm'))} | "
                       f"{fmt_mdd(mdd)} | {mc} |"))
            if ctrl:
                line += f" {r['diff_to_control']:+.3f}, {fmt_p(r.get('p_t_vs_control_holm'))} |"
            if ref:
                line += " reference |" if r["mode"] == ref else f" {fmt_ref(r)} |"
            out.append(line)
        base = rows[0]
        if "metadata_score" in base:
            out.append(f"| metadata-only control | {fmt_ci(base, 'metadata_score')} | "
                       + " | ".join(f"{base[pre(k) + 'metadata_f1']:.3f}" for k in tasks) + blank)
        out.append(f"| majority baseline | {base['baseline_score']:.3f} | "
                   + " | ".join(f"{base[pre(k) + 'baseline_f1']:.3f}" for k in tasks) + blank)
        out.append("")
        out += [f"{b} is a function of {a} on these pieces: the score (their average) counts {a}'s distinctions twice."
                for b, a in (base.get("derived_tasks") or {}).items()]
        out += [""] if base.get("derived_tasks") else []
    return out
