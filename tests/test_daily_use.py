"""Daily use, as a new user meets it: a quiet and short console, a dry run, help and typo hints,
records comparable by their settings, one embedded dataset per user, MLflow tracking, and the
bugs a new user hit (the task that empties another, experiment=quick)."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from helpers import make_dataset, run_cli, tiny_overrides, write_midi, style_notes
from musicexp.engine.runner import run

NOISE = ("E0000", "I0000", "W0000", "absl", "retracing")


def test_an_mlp_run_prints_no_tensorflow_noise_and_a_cached_rerun_is_short(tiny_data, tmp_path):
    args = tiny_overrides(tiny_data, tmp_path, "steps.train.model=mlp", "steps.train.epochs=3")
    env = {"TF_CPP_MIN_LOG_LEVEL": "0"}  # as a user's shell has it: unset or 0
    first = run_cli(args, tmp_path, env=env)
    out = first.stdout + first.stderr
    assert "train    ran" in out
    assert not [n for n in NOISE if n in out], out
    second = run_cli(args, tmp_path, env=env)
    lines = (second.stdout + second.stderr).strip().splitlines()
    assert "records appended: 0" in lines[-1] and len(lines) <= 20, "\n".join(lines)
    assert (tmp_path / "outputs" / "reports.txt").read_text().count("pooled test-fold predictions") == 2
    verbose = run_cli(args + ["verbose=1"], tmp_path, env=env)
    assert "pooled test-fold predictions" in verbose.stdout  # the reports on the console on request


def test_a_real_error_still_reaches_the_console(tiny_data, tmp_path):
    proc = run_cli(tiny_overrides(tiny_data, tmp_path, "dataset.labels.columns=[mood]"), tmp_path, check=False)
    assert proc.returncode == 2 and "dataset.labels.columns names ['mood']" in proc.stdout + proc.stderr


def test_dry_run_says_what_would_run_and_computes_nothing(tiny_data, tmp_path):
    args = tiny_overrides(tiny_data, tmp_path)
    dry = run_cli(args + ["--dry-run"], tmp_path)
    assert re.search(r"notes\s+run\s+[0-9a-f]{10}", dry.stdout) and "4 step(s) would run" in dry.stdout
    assert not (tmp_path / "artifacts").exists() and not (tmp_path / "results").exists()
    run_cli(args, tmp_path)
    dry = run_cli(args + ["steps.sgt.alpha=1.5", "--dry-run"], tmp_path)
    assert re.search(r"notes\s+reused", dry.stdout) and re.search(r"sgt\s+run", dry.stdout)
    assert re.search(r"train\s+run", dry.stdout) and "2 step(s) would run: sgt, train" in dry.stdout


def test_help_lists_groups_and_keys_and_a_typo_gets_the_nearest_key(tmp_path):
    out = subprocess.run([sys.executable, "-m", "musicexp", "--help"], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0
    assert re.search(r"dataset\s+data, data_100", out.stdout) and "steps.sgt.alpha [0.8]  decay per beat" in out.stdout
    bad = subprocess.run([sys.executable, "-m", "musicexp", "steps.sgt.alpa=0.5"], capture_output=True, text=True,
                         cwd=tmp_path)
    assert bad.returncode == 2 and "did you mean steps.sgt.alpha?" in bad.stderr


def test_a_sweep_writes_its_settings_as_columns_and_names_them_per_job(tiny_data, tmp_path):
    base = [o for o in tiny_overrides(tiny_data, tmp_path) if not o.startswith("steps.sgt.top_vocab=")]
    proc = subprocess.run([sys.executable, "-m", "musicexp", "-m", f"hydra.sweep.dir={tmp_path / 'sweep'}", *base,
                           "steps.sgt.alpha=0.5,1.5", "steps.sgt.top_vocab=8,12"], capture_output=True, text=True,
                          cwd=tmp_path, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader(open(tmp_path / "results" / "results.csv")))
    assert {(r["steps.sgt.alpha"], r["steps.sgt.top_vocab"]) for r in rows} == {
        ("0.5", "8"), ("0.5", "12"), ("1.5", "8"), ("1.5", "12")}
    assert all(r["steps.train.model"] == "logreg" and json.loads(r["choices"])["dataset"] == "data_100" for r in rows)
    assert "job: " in proc.stdout and "steps.sgt.alpha=1.5 steps.sgt.top_vocab=12" in proc.stdout


def test_the_report_keeps_models_and_datasets_apart(compose, tmp_path, capsys):
    from musicexp.tools.report import cli

    a = make_dataset(tmp_path / "a", per_class=6)
    b = make_dataset(tmp_path / "b", per_class=6, seed=1)
    for data, ds in ((a, "set_a"), (b, "set_b")):
        for model, extra in (("logreg", ()), ("mlp", ("steps.train.epochs=2",))):
            run(compose(tiny_overrides(data, tmp_path, f"dataset.id={ds}", f"steps.train.model={model}", *extra)))
    out = tmp_path / "rep"
    assert cli.main(["--results", str(tmp_path / "results" / "results.jsonl"), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "chosen by the CV score (set_a" in printed and "chosen by the CV score (set_b" in printed
    rows = list(csv.DictReader(open(out / "summary.csv")))
    chosen = [(r["dataset_id"], r["task"]) for r in rows if r["chosen"] == "True"]
    assert sorted(chosen) == [("set_a", "both"), ("set_b", "both")]  # one per dataset and task
    from musicexp.tools.report.plots import _groups

    keys = _groups([{**r, "score": float(r["score"])} for r in rows], [])
    assert len(keys) == 4 and all(len({r["model"] for r in g}) == 1 for g in keys.values())


def test_a_second_folder_reuses_the_embedded_dataset_of_the_first(tmp_path):
    """The embedded datasets live in one per-user folder ($MUSICEXP_DATA here), not in the
    folder musicexp runs from: a run from a second, empty folder builds nothing."""
    manifest = tmp_path / "tiny.csv"
    manifest.write_text("id,source,composer,composer_detail,era,collection,group\n"
                        "bach__bwv66.6,bach/bwv66.6.mxl,bach,J.S. Bach,baroque,bach,bwv66\n"
                        "bach__bwv281,bach/bwv281.krn,bach,J.S. Bach,baroque,bach,bwv281\n")
    env = {"MUSICEXP_DATA": str(tmp_path / "shared")}
    args = ["dataset=data_100", f"dataset.build={manifest}", "dataset.id=tiny", "steps.train.n_splits=2",
            "steps.train.model=logreg", "steps.train.modes=[sgt_only]", "steps.train.task=composer",
            "steps.train.min_class_count=1", "progress=false", "--dry-run"]
    for i, folder in enumerate(("first", "second")):
        (tmp_path / folder).mkdir()
        proc = run_cli(args, tmp_path / folder, env=env)
        built = tmp_path / "shared" / "Data_100" / "dataset.json"
        if i == 0:
            stamp = built.stat().st_mtime_ns
        assert built.stat().st_mtime_ns == stamp  # not rebuilt
    assert sorted(p.name for p in (tmp_path / "shared" / "Data_100").glob("*.mid")) == ["bach__bwv281.mid",
                                                                                     "bach__bwv66.6.mid"]
    assert not (tmp_path / "second" / "data").exists()


@pytest.mark.filterwarnings("ignore:The filesystem tracking backend:FutureWarning")
def test_a_run_is_tracked_in_mlflow_and_read_back(tiny_data, tmp_path):
    import mlflow  # a dev dependency: a missing install must fail, not skip
    uri = (tmp_path / "mlruns").as_uri()
    run_cli(tiny_overrides(tiny_data, tmp_path, "tracking.enabled=true", f"tracking.uri={uri}",
                           "tracking.experiment=daily"), tmp_path)
    client = mlflow.tracking.MlflowClient(tracking_uri=uri)
    (found,) = client.search_runs([client.get_experiment_by_name("daily").experiment_id])
    rec = json.loads((tmp_path / "results" / "results.jsonl").read_text().splitlines()[0])
    assert found.data.params["steps.sgt.alpha"] == "0.8" and found.data.tags["musicexp.run_id"] == rec["run_id"]
    assert found.data.metrics["sgt_only.score"] == pytest.approx(rec["score"])
    assert found.data.metrics["sgt_only.score_low"] == pytest.approx(rec["score_low"])
    assert {a.path for a in client.list_artifacts(found.info.run_id)} >= {
        "reports.txt", "summary.txt", "modes_per_task.png", "confusion_composer.png", "confusion_era.png"}
    png = client.download_artifacts(found.info.run_id, "modes_per_task.png", str(tmp_path))
    assert Path(png).read_bytes().startswith(b"\x89PNG")
    run_cli(tiny_overrides(tiny_data, tmp_path, "tracking.enabled=true", f"tracking.uri={uri}",
                           "tracking.experiment=daily"), tmp_path)  # cached: no new results, no new run
    assert len(client.search_runs([found.info.experiment_id])) == 1


def test_a_regex_group_that_is_not_a_label_is_blamed_by_name(compose, tmp_path):
    """Every named group becomes a task when no columns are named: an `id` group (one piece per
    class) empties the real task, and the error says so and how to fix it."""
    import numpy as np

    rng = np.random.default_rng(0)
    root = tmp_path / "midi"
    for region in ("north", "south"):
        for i in range(8):
            write_midi(root / f"{region}_{i:03d}.mid", style_notes("alpha" if region == "north" else "beta", rng))
    from musicexp.evaluation.folds import TrainError

    over = tiny_overrides(root, tmp_path, "dataset.labels.source=regex",
                          "dataset.labels.pattern='^(?P<region>[a-z]+)_(?P<id>[0-9]+)'", "dataset.labels.columns=[]")
    with pytest.raises(TrainError, match=r"task 'id' has 8 of 8 classes with fewer than 3 pieces .* no piece for "
                                         r"task 'region'.*dataset.labels.columns=\[region\]"):
        run(compose(over))
    r = run(compose(over[:-1] + ["dataset.labels.columns=[region]"]))
    assert r.records[0]["n_pieces_region"] == 16


def test_experiment_quick_builds_no_graph_or_embedding(compose, tiny_data, tmp_path):
    over = [o for o in tiny_overrides(tiny_data, tmp_path) if not o.startswith(("steps.train.modes", "steps.sgt"))]
    r = run(compose(over + ["experiment=quick"]))
    assert set(r.status()) == {"notes", "labels", "sgt", "train"} and r.records[0]["mode"] == "sgt_only"


@pytest.mark.filterwarnings("ignore:The filesystem tracking backend:FutureWarning")
def test_every_hashed_dataset_setting_is_a_column_and_an_mlflow_param(tiny_data, tmp_path):
    """Two runs that differ only in dataset.neutralize differ in their records' columns, in
    results.csv too, and the tracked run logs it; the columns come from the dataset schema."""
    import mlflow

    from musicexp.core.registry import UNHASHED
    from musicexp.data.dataset import DatasetConf, LabelsConf
    from musicexp.engine.schema import schema_keys

    uri = (tmp_path / "mlruns").as_uri()
    run_cli(tiny_overrides(tiny_data, tmp_path), tmp_path)
    run_cli(tiny_overrides(tiny_data, tmp_path, "dataset.neutralize=[velocity]", "tracking.enabled=true",
                           f"tracking.uri={uri}", "tracking.experiment=neutral"), tmp_path)
    first, second = (json.loads(line) for line in (tmp_path / "results" / "results.jsonl").read_text().splitlines())
    assert (first["dataset.neutralize"], second["dataset.neutralize"]) == ([], ["velocity"])
    hashed = {f"dataset.{k}" for k, f in schema_keys(DatasetConf).items() if f.metadata["hash"] is not UNHASHED}
    assert "dataset.on_error" not in hashed and {"dataset.labels.pattern", "dataset.fingerprint"} <= hashed
    assert len(hashed) == len(schema_keys(DatasetConf)) - 1 and len(schema_keys(LabelsConf)) == 8
    assert hashed <= set(first) and "dataset.on_error" not in first
    assert (second["dataset.labels.pattern"], second["dataset.fingerprint"]) == (None, "stat")
    rows = list(csv.DictReader(open(tmp_path / "results" / "results.csv")))
    assert [r["dataset.neutralize"] for r in rows] == ["[]", '["velocity"]']
    assert rows[0]["dataset.extensions"] == '[".mid", ".midi"]'
    client = mlflow.tracking.MlflowClient(tracking_uri=uri)
    (found,) = client.search_runs([client.get_experiment_by_name("neutral").experiment_id])
    assert found.data.params["dataset.neutralize"] == '["velocity"]'
    assert found.data.params["dataset.labels.source"] == "csv" and found.data.params["dataset.data_root"] == str(tiny_data)


def test_help_lists_the_options_of_the_users_config_dir(tmp_path):
    """Every way of naming a config folder adds its options to --help, marked with the folder."""
    for group, name in (("dataset", "mine"), ("experiment", "x"), ("model", "big"), ("dataset", "data_100")):
        (tmp_path / "myconf" / group).mkdir(parents=True, exist_ok=True)
        (tmp_path / "myconf" / group / f"{name}.yaml").write_text("# @package _global_\n")
    for given in (["--config-dir", "myconf"], ["-cd", "myconf"], ["--config-dir=myconf"]):
        out = subprocess.run([sys.executable, "-m", "musicexp", *given, "--help"], capture_output=True, text=True,
                             cwd=tmp_path)
        assert out.returncode == 0, out.stderr
        assert re.search(r"dataset\s+data, data_100 \(myconf: not read, the packaged one is\), .*mine \(myconf\)\n",
                         out.stdout), out.stdout  # (Hydra reads the packaged data_100)
        assert re.search(r"experiment\s+default, .*quick, x \(myconf\)\n", out.stdout)
        assert re.search(r"model\s+big \(myconf\)\n", out.stdout) and "steps/sgt        default, legacy" in out.stdout
    searched = subprocess.run([sys.executable, "-m", "musicexp", "hydra.searchpath=[file://myconf]", "--help"],
                              capture_output=True, text=True, cwd=tmp_path)
    assert re.search(r"dataset\s+data, .*mine \(file://myconf\)\n", searched.stdout), searched.stdout
    plain = subprocess.run([sys.executable, "-m", "musicexp", "--help"], capture_output=True, text=True, cwd=tmp_path)
    assert "myconf" not in plain.stdout and not re.search(r"^  model ", plain.stdout, re.M)


def test_an_unquoted_regex_is_explained_and_the_readme_quoting_works_in_bash(tmp_path):
    """A regex Hydra's grammar cannot read stops with our message (exit 2, no traceback); the
    README's command, run by bash as written there, labels the pieces by the regex."""
    bad = subprocess.run([sys.executable, "-m", "musicexp", "dataset.labels.pattern=^XMIDI_(?P<region>[^_]+)_"],
                         capture_output=True, text=True, cwd=tmp_path)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and "LexerNoViableAlt" not in bad.stderr
    assert "cannot read the override 'dataset.labels.pattern=^XMIDI_(?P<region>[^_]+)_'" in bad.stderr
    assert """'dataset.labels.pattern="^XMIDI_(?P<region>[^_]+)_"'""" in bad.stderr
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    (command,) = [b for b in re.findall(r"```bash\n(.*?)```", readme, re.S) if "dataset.labels.pattern=" in b]
    command = re.sub(r"^\s+", "", command, flags=re.M)  # (indented in a list item)
    rng = np.random.default_rng(0)
    data = tmp_path / "xmidi"
    for style, genre in (("alpha", "old"), ("beta", "old"), ("gamma", "new")):
        for k in range(6):
            write_midi(data / f"XMIDI_{style}_{genre}_{k:02d}.midi", style_notes(style, rng))
    (tmp_path / "myconf" / "dataset").mkdir(parents=True)
    (tmp_path / "myconf" / "dataset" / "mine.yaml").write_text(f"id: mine\ndata_root: {data}\n")
    settings = " ".join(o for o in tiny_overrides(data, tmp_path) if o.startswith(("paths.", "steps.", "progress")))
    musicexp = f'musicexp() {{ "{sys.executable}" -m musicexp "$@" hydra.run.dir=outputs {settings}; }}\n'
    proc = subprocess.run(["bash", "-c", musicexp + command], capture_output=True, text=True, cwd=tmp_path,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert proc.returncode == 0, proc.stderr
    recs = [json.loads(line) for line in (tmp_path / "results" / "results.jsonl").read_text().splitlines()]
    assert recs[0]["dataset.labels.pattern"] == r"^XMIDI_(?P<emotion>[^_]+)_(?P<genre>[^_]+)_(?P<id>.+)\.midi?$"
    assert recs[0]["dataset.labels.columns"] == ["emotion", "genre"] and recs[0]["dataset_id"] == "mine"
    assert recs[0]["tasks"] == ["emotion", "genre"] and recs[0]["n_pieces"] == 18  # every file labelled
    assert (recs[0]["emotion_n_classes"], recs[0]["genre_n_classes"]) == (3, 2)
