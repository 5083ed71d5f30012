"""Multiruns as a user starts them: joblib / basic / submitit launchers, Optuna, the sweep report.

Every sweep runs the real console command in a subprocess on a tiny dataset the test writes,
with ``-m`` and ``hydra.sweep.dir`` under the test's tmp folder.
"""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import make_dataset, run_cli, tiny_overrides
from musicexp.evaluation import statistics as st
from musicexp.engine.results import read_jsonl

STEPS = ("notes", "labels", "sgt", "train")
# optuna 2.x's SQLite storage uses SQLAlchemy 1.4 APIs that 2.0 dropped (hence the pin)
pytestmark = pytest.mark.filterwarnings("ignore:Deprecated API features detected")


def multirun_cmd(tmp_path: Path, data: Path, sweep: Path, *extra: str) -> list[str]:
    """``musicexp -m`` (Hydra wants the flag before the overrides) on the tiny dataset.

    tiny_overrides' fixed ``steps.sgt.top_vocab=12`` is left out: the sweeps vary it (and the
    Optuna sweeper would take a command-line value as a fixed parameter, not searched).
    """
    base = [o for o in tiny_overrides(data, tmp_path) if not o.startswith("steps.sgt.top_vocab=")]
    return [sys.executable, "-m", "musicexp", "-m", f"hydra.sweep.dir={sweep}", *base, *extra]


def run(cmd: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"musicexp failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def multirun(tmp_path: Path, data: Path, sweep: Path, *extra: str) -> subprocess.CompletedProcess:
    return run(multirun_cmd(tmp_path, data, sweep, *extra), tmp_path)


def jsonl_lines(path: Path) -> list[dict]:
    """Every line of the results log, each a whole JSON object ending with a newline."""
    raw = path.read_text()
    assert raw.endswith("\n"), "torn last line"
    return [json.loads(line) for line in raw.splitlines()]


def csv_rows(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def override(rec: dict, key: str, default: str | None = None) -> str:
    """The value a record's job was given for ``key`` on the command line (the last one wins)."""
    vals = [o.split("=", 1)[1] for o in rec["overrides"] if o.split("=", 1)[0] == key]
    return vals[-1] if vals else default


def artifacts_per_step(work: Path) -> dict[str, list[dict]]:
    """The finished artifacts of the tiny dataset, read from their meta.json (not from timings)."""
    out = {}
    for step in STEPS:
        step_dir = work / "artifacts" / "tiny" / step
        folders = [p for p in step_dir.iterdir() if not p.name.startswith(".")]
        metas = []
        for f in folders:
            meta = json.loads((f / "meta.json").read_text())
            assert meta["hash"] == f.name and meta["step"] == step
            metas.append(meta)
        out[step] = metas
    return out


def assert_summary_matches(summary: Path, records: list[dict]) -> list[dict]:
    rows = csv_rows(summary)
    assert len(rows) == len(records)
    by_id = {r["record_id"]: r for r in records}
    assert {r["record_id"] for r in rows} == set(by_id)
    for row in rows:
        rec = by_id[row["record_id"]]
        assert row["job_status"] == "COMPLETED"
        assert float(row["score"]) == rec["score"]
        assert float(row["macro_f1_mean"]) == rec["overall_f1_mean"]
        assert float(row["macro_f1_std"]) == rec["overall_f1_std"]
        assert float(row["steps.sgt.alpha"]) == float(override(rec, "steps.sgt.alpha", "0.8"))  # conf default
        assert int(row["steps.sgt.top_vocab"]) == int(override(rec, "steps.sgt.top_vocab", "64"))
        assert row["train_hash"] == rec["step_hashes"]["train"][:10]
    return rows


def assert_png(path: Path) -> None:
    assert path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path


def test_joblib_2x2_multirun_computes_shared_steps_once(tmp_path):
    """Two workers, four jobs: notes/labels once, sgt once per alpha, train four times."""
    data = make_dataset(tmp_path / "midi")
    sweep = tmp_path / "sweep"
    proc = multirun(tmp_path, data, sweep, "hydra/launcher=parallel", "hydra.launcher.n_jobs=2",
                    "steps.sgt.alpha=0.5,1.2", "steps.sgt.top_vocab=8,12")
    assert "Joblib.Parallel(n_jobs=2" in proc.stdout + proc.stderr

    records = jsonl_lines(tmp_path / "results" / "results.jsonl")
    assert len(records) == 4
    combos = {(override(r, "steps.sgt.alpha"), override(r, "steps.sgt.top_vocab")) for r in records}
    assert combos == {("0.5", "8"), ("0.5", "12"), ("1.2", "8"), ("1.2", "12")}
    assert len({r["record_id"] for r in records}) == 4
    # the results CSV is the JSONL's view
    assert [r["record_id"] for r in csv_rows(tmp_path / "results" / "results.csv")] == [r["record_id"] for r in records]

    arts = artifacts_per_step(tmp_path)
    assert {s: len(m) for s, m in arts.items()} == {"notes": 1, "labels": 1, "sgt": 2, "train": 4}
    for step in STEPS:  # every job used exactly those artifacts
        assert {r["step_hashes"][step] for r in records} == {m["hash"] for m in arts[step]}
    assert sorted(m["params"]["alpha"] for m in arts["sgt"]) == [0.5, 1.2]

    rows = assert_summary_matches(sweep / "summary.csv", records)
    # what each job did, as the report saw it: one job computed notes, the others reused it
    for step, computed in (("notes", 1), ("labels", 1), ("sgt", 2), ("train", 4)):
        assert sum(r[f"{step}_status"] == "ran" for r in rows) == computed, step
        assert sum(r[f"{step}_status"] == "cached" for r in rows) == 4 - computed, step
    assert_png(sweep / "heatmap_f1_steps.sgt.alpha_x_steps.sgt.top_vocab.png")
    assert len(list(sweep.glob("*/musicexp_job.json"))) == 4
    assert "sweep report: 4 jobs (4 completed, 0 failed)" in proc.stdout + proc.stderr

    # the same report for the results file, with filters
    from musicexp.tools.report import cli

    out = tmp_path / "report"
    assert cli.main(["--results", str(tmp_path / "results" / "results.jsonl"), "--out", str(out),
                     "--dataset", "tiny", "--mode", "sgt_only"]) == 0
    rep = csv_rows(out / "summary.csv")
    assert {(r["steps.sgt.alpha"], r["steps.sgt.top_vocab"]) for r in rep} == {("0.5", "8"), ("0.5", "12"), ("1.2", "8"),
                                                                            ("1.2", "12")}
    assert {r["record_id"]: float(r["score"]) for r in rep} == {r["record_id"]: r["score"] for r in records}
    assert_png(out / "heatmap_f1_steps.sgt.alpha_x_steps.sgt.top_vocab.png")
    assert_png(out / "modes_f1.png")
    assert cli.main(["--results", str(tmp_path / "results" / "results.jsonl"), "--out", str(out),
                     "--mode", "emb_only"]) == 1


def test_killed_multirun_rerun_appends_only_the_missing_records(tmp_path):
    """SIGKILL a sequential (basic launcher) sweep part-way; the same command finishes it."""
    data = make_dataset(tmp_path / "midi")
    sweep = tmp_path / "sweep"
    cmd = multirun_cmd(tmp_path, data, sweep, "steps.sgt.alpha=0.5,0.8,1.2", "steps.sgt.top_vocab=8,12")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    jsonl = tmp_path / "results" / "results.jsonl"
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 300
    while len(read_jsonl(jsonl)) < 2 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)  # the sweep and any worker it started
    proc.wait()
    before = jsonl_lines(jsonl)
    assert 2 <= len(before) < 6, "the sweep must be killed part-way"
    print(f"killed after {len(before)} of 6 records")

    # the killed sweep's partial report, rebuilt from the job files that were written
    from musicexp.tools.report import cli

    assert cli.main(["--sweep", str(sweep), "--out", str(tmp_path / "partial")]) == 0
    assert 1 <= len(csv_rows(tmp_path / "partial" / "summary.csv")) <= len(before)

    again = run(cmd, tmp_path)
    records = jsonl_lines(jsonl)
    assert records[: len(before)] == before  # nothing rewritten
    assert len(records) == 6 and len({r["record_id"] for r in records}) == 6
    combos = {(override(r, "steps.sgt.alpha"), override(r, "steps.sgt.top_vocab")) for r in records}
    assert len(combos) == 6
    assert [r["record_id"] for r in csv_rows(tmp_path / "results" / "results.csv")] == [r["record_id"] for r in records]

    rows = assert_summary_matches(sweep / "summary.csv", records)
    done_before = {r["record_id"] for r in before}
    for row in rows:
        if row["record_id"] in done_before:  # finished before the kill: nothing recomputed
            assert row["train_status"] == "cached" and row["cache_hits"] == "4", row
    assert sum(r["train_status"] == "ran" for r in rows) <= 6 - len(before)
    assert "sweep report: 6 jobs (6 completed, 0 failed)" in again.stdout + again.stderr
    leftovers = [p for p in (tmp_path / "artifacts").rglob(".tmp-*")]
    assert leftovers == []


def test_optuna_sweep_best_value_is_the_best_record_and_the_study_resumes(tmp_path):
    data = make_dataset(tmp_path / "midi")
    sweep = tmp_path / "opt"
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    multirun(tmp_path, data, sweep, "experiment=optuna_sgt", "hydra.sweeper.n_trials=4",
             f"hydra.sweeper.storage={storage}", "hydra.sweeper.study_name=t")
    records = jsonl_lines(tmp_path / "results" / "results.jsonl")
    assert len(records) == 4 and {r["experiment"] for r in records} == {"optuna_sgt"}

    import yaml

    best = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert best["best_value"] == max(r["score"] for r in records)
    top = max(records, key=lambda r: r["score"])
    assert float(override(top, "steps.sgt.alpha")) == pytest.approx(best["best_params"]["steps.sgt.alpha"])
    assert int(override(top, "steps.sgt.top_vocab")) == best["best_params"]["steps.sgt.top_vocab"]
    assert_summary_matches(sweep / "summary.csv", records)

    # the study lives in SQLite: the same command with another sweep folder adds trials to it
    multirun(tmp_path, data, tmp_path / "opt2", "experiment=optuna_sgt", "hydra.sweeper.n_trials=2",
             f"hydra.sweeper.storage={storage}", "hydra.sweeper.study_name=t")
    import optuna

    study = optuna.load_study(study_name="t", storage=storage)
    assert len(study.trials) == 6
    records = jsonl_lines(tmp_path / "results" / "results.jsonl")
    assert study.best_value == max(r["score"] for r in records)


def test_submitit_local_launcher(tmp_path):
    """The SLURM path (submitit: pickled jobs, one process each) with local processes."""
    data = make_dataset(tmp_path / "midi")
    sweep = tmp_path / "sweep"
    multirun(tmp_path, data, sweep, "hydra/launcher=slurm_local", "steps.sgt.alpha=0.5,1.2")
    records = jsonl_lines(tmp_path / "results" / "results.jsonl")
    assert len(records) == 2
    assert_summary_matches(sweep / "summary.csv", records)
    assert {s: len(m) for s, m in artifacts_per_step(tmp_path).items()} == {"notes": 1, "labels": 1, "sgt": 2,
                                                                           "train": 2}
    assert list((sweep / ".submitit").glob("*/*_log.out"))  # really went through submitit
    jobs = [json.loads(p.read_text()) for p in sweep.glob("*/musicexp_job.json")]
    assert len({j["pid"] for j in jobs}) == 2  # one process per job
    assert_png(sweep / "line_f1_steps.sgt.alpha.png")


def test_single_run_writes_its_record_but_no_report_and_cached_rerun_skips_matplotlib(tmp_path):
    data = make_dataset(tmp_path / "midi", per_class=4)
    args = tiny_overrides(data, tmp_path)
    run_cli(args, tmp_path)
    second = run_cli(args, tmp_path, python_flags=("-X", "importtime"))
    assert "records appended: 0" in second.stdout
    assert "matplotlib" not in second.stderr and "tensorflow" not in second.stderr
    job = json.loads((tmp_path / "outputs" / "musicexp_job.json").read_text())  # the run folder's own record
    assert job["step_status"] == dict(notes="cached", labels="cached", sgt="cached", train="cached")
    assert job["records"][0]["record_id"] == jsonl_lines(tmp_path / "results" / "results.jsonl")[0]["record_id"]
    assert job["settings"]["steps.sgt.alpha"] == 0.8 and job["appended"] == 0
    assert not list(tmp_path.rglob("summary.csv"))  # no sweep report; the PNGs are the first run's own figures
    assert {p.name for p in tmp_path.rglob("*.png")} == {"modes_per_task.png", "confusion_composer.png",
                                                         "confusion_era.png"}


def test_a_failed_job_is_listed_in_the_rebuilt_report(tmp_path):
    """Hydra stops a multirun whose job failed before the end-of-sweep callback; the job files
    are there all the same, and musicexp-report --sweep turns them into the report."""
    data = make_dataset(tmp_path / "midi", per_class=4)
    sweep = tmp_path / "sweep"
    proc = subprocess.run(multirun_cmd(tmp_path, data, sweep, "steps.train.task=composer,mood"), cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode != 0
    from musicexp.tools.report import cli

    assert cli.main(["--sweep", str(sweep)]) == 0
    rows = {r["swept"]: r for r in csv_rows(sweep / "summary.csv")}
    assert rows["steps.train.task=composer"]["job_status"] == "COMPLETED"
    assert rows["steps.train.task=composer"]["record_id"]
    bad = rows["steps.train.task=mood"]
    assert bad["job_status"] == "FAILED" and "mood" in bad["error"] and not bad["record_id"]


@pytest.mark.parametrize("swept, built, expect", [
    ([], False, 1),                                   # build once in the main process
    ([], True, 0),                                    # already built: nothing to do
    (["dataset=data,data_100"], False, 0),            # each job builds its own dataset
    (["dataset.data_root=a,b"], False, 0),
])
def test_multirun_builds_the_embedded_dataset_once_before_the_jobs(compose, monkeypatch, swept, built, expect):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module
    from omegaconf import open_dict

    from musicexp.data import corpus, dataset
    from musicexp.tools.report import callback

    with initialize_config_module(config_module="musicexp.conf", version_base="1.3"):
        cfg = hydra_compose(config_name="config", overrides=["dataset=data_100"], return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.overrides.task = ["dataset=data_100", *swept]
    calls = []
    monkeypatch.setattr(corpus, "is_built", lambda *a, **k: built)
    monkeypatch.setattr(dataset, "open_dataset", lambda c, root, progress=True: calls.append(root))
    callback.SweepReport().on_multirun_start(cfg)
    assert len(calls) == expect


def test_a_sweep_chooses_by_cv_and_confirms_on_a_part_no_cv_saw(tmp_path):
    """Every job keeps the same held-out works out of its CV; the report names the job the CV
    score chose and that job's score on the held-out part; the other jobs are compared with it by
    the corrected t-test on the same folds, Holm-adjusted."""
    data = make_dataset(tmp_path / "midi", per_class=12, groups=True)
    sweep = tmp_path / "sweep"
    proc = multirun(tmp_path, data, sweep, "dataset.labels.group_column=group", "steps.sgt.top_vocab=12",
                    "steps.train.holdout=0.34", "steps.sgt.alpha=0.3,0.8,2.0")
    records = jsonl_lines(tmp_path / "results" / "results.jsonl")
    assert len(records) == 3
    held = set()
    for art in artifacts_per_step(tmp_path)["train"]:
        folder = tmp_path / "artifacts" / "tiny" / "train" / art["hash"]
        import numpy as np

        with np.load(folder / "predictions.npz") as z:
            cv_pieces, ho_pieces = set(z["piece"].tolist()), set(z["holdout_piece"].tolist())
        assert ho_pieces and not cv_pieces & ho_pieces  # no CV of the sweep saw them
        held.add(frozenset(ho_pieces))
    assert len(held) == 1  # one held-out part for every job
    chosen = max(records, key=lambda r: r["score"])
    out = proc.stdout + proc.stderr
    assert (f"chosen by the CV score (tiny, task=both): job" in out
            and f"confirmed on the held-out part no CV saw: {chosen['holdout_score']:.3f}" in out)
    rows = {r["record_id"]: r for r in csv_rows(sweep / "summary.csv")}
    assert rows[chosen["record_id"]]["chosen"] == "True"
    others = [r for r in records if r is not chosen]
    raw = [st.corrected_resampled_ttest([a - b for a, b in zip(r["fold_f1"], chosen["fold_f1"])],
                                        chosen["fold_train_mean"], chosen["fold_test_mean"]).p for r in others]
    for rec, p in zip(others, st.holm(raw)):
        assert float(rows[rec["record_id"]]["p_vs_chosen"]) == pytest.approx(p, rel=1e-9)
        assert rows[rec["record_id"]]["below_chosen"] == str(bool(p < 0.05))
    same = sum(p >= 0.05 for p in st.holm(raw))
    assert (f"{same} other record(s) not significantly below it" in out) == (same > 0)
    assert_png(sweep / "line_f1_steps.sgt.alpha.png")  # top_vocab is the same in every job: one axis


def test_a_sweep_over_a_non_sgt_key_is_reported_over_that_key(tmp_path):
    """The report's axes are the keys the multirun swept (here the embedding size), not SGT's."""
    data = make_dataset(tmp_path / "midi", per_class=4)
    sweep = tmp_path / "sweep"
    proc = multirun(tmp_path, data, sweep, "steps.train.modes=[emb_only]", "steps.embed.num_walks=10",
                    "steps.embed.epochs=2", "steps.embed.workers=1", "steps.embed.dim=16,24")
    assert "swept: steps.embed.dim" in proc.stdout + proc.stderr
    rows = csv_rows(sweep / "summary.csv")
    assert sorted(r["steps.embed.dim"] for r in rows) == ["16", "24"]
    assert "alpha" not in rows[0] and "top_vocab" not in rows[0]  # no SGT axis columns of their own
    assert_png(sweep / "line_f1_steps.embed.dim.png")
    assert not list(sweep.glob("heatmap_*.png"))


def test_the_report_axes_are_the_swept_keys(tmp_path, caplog):
    """Two swept keys: a heatmap named after them; a third: the first two, and a warning."""
    from musicexp.tools.report.plots import plot_sweep
    from musicexp.tools.report.summary import swept_keys

    runs = [[f"steps.embed.dim={d}", f"steps.graph.max_groups={g}", "steps.train.modes=[emb_only]", "hydra.x=1"]
            for d in (16, 24) for g in (100, 600)]
    assert swept_keys(runs) == ["steps.embed.dim", "steps.graph.max_groups"]
    assert swept_keys([["a=1", "b=2"], ["a=1"]]) == ["b"]  # set in some runs only: varied too
    rows = [{"dataset_id": "tiny", "mode": "emb_only", "task": "both", "model": "logreg", "record_id": str(i),
             "score": 0.5 + i / 10, "score_low": 0.4, "score_high": 0.9, "steps.embed.dim": d,
             "steps.graph.max_groups": g, "steps.embed.seed": s}
            for i, (d, g, s) in enumerate([(16, 100, 1), (16, 600, 1), (24, 100, 2), (24, 600, 2)])]
    path = plot_sweep(rows, tmp_path, ["steps.embed.dim", "steps.graph.max_groups"])
    assert path == tmp_path / "heatmap_f1_steps.embed.dim_x_steps.graph.max_groups.png"
    assert_png(path)
    with caplog.at_level("WARNING", logger="musicexp"):
        path = plot_sweep(rows, tmp_path, ["steps.embed.dim", "steps.graph.max_groups", "steps.embed.seed"])
    assert path.name == "heatmap_f1_steps.embed.dim_x_steps.graph.max_groups.png"
    assert "3 keys were swept" in caplog.text
