"""The real console command in a subprocess, as a user runs it."""

import json
import re
import signal
import subprocess
import sys
import time

from helpers import make_dataset, run_cli, tiny_overrides
from musicexp.engine.results import read_jsonl


def _imported(stderr: str) -> set[str]:
    """Top-level packages imported, from ``python -X importtime``'s report."""
    mods = re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s+(\S+)", stderr, flags=re.M)
    return {m.split(".")[0] for m in mods}


def test_mlp_run_then_cached_rerun_never_imports_tensorflow(tmp_path):
    data = make_dataset(tmp_path / "midi")
    args = tiny_overrides(data, tmp_path, "steps.train.model=mlp", "steps.train.epochs=5", "resume=true")
    first = run_cli(args, tmp_path, python_flags=("-X", "importtime"))
    assert "tensorflow" in _imported(first.stderr)  # the check below can fail
    assert re.search(r"train\s+ran", first.stdout)
    second = run_cli(args, tmp_path, python_flags=("-X", "importtime"))
    for step in ("notes", "labels", "sgt", "train"):
        assert re.search(rf"{step}\s+cached", second.stdout), second.stdout
    # nothing heavy at all: the cached path needs no numpy, and no lock when nothing is appended
    assert {"numpy", "filelock"} <= _imported(first.stderr)
    heavy = {"tensorflow", "keras", "sklearn", "music21", "symusic", "pandas", "gensim", "numpy", "filelock"}
    assert _imported(second.stderr) & heavy == set()
    recs = read_jsonl(tmp_path / "results" / "results.jsonl")
    assert len(recs) == 1 and recs[0]["model"] == "mlp"
    assert "records appended: 0" in second.stdout


def test_results_record_has_the_promised_fields(tmp_path):
    data = make_dataset(tmp_path / "midi")
    run_cli(tiny_overrides(data, tmp_path, "experiment=quick"), tmp_path)
    (rec,) = read_jsonl(tmp_path / "results" / "results.jsonl")
    for key in ("run_id", "dataset_id", "experiment", "mode", "task", "seed", "config_hash", "step_hashes",
                "overrides", "started_at", "finished_at", "duration_s", "packages", "composer_acc_mean",
                "composer_f1_std", "era_baseline_f1", "overall_f1_mean", "overall_baseline_f1", "score"):
        assert key in rec, key
    assert rec["experiment"] == "quick" and rec["dataset_id"] == "tiny"
    assert "experiment=quick" in rec["overrides"]
    assert set(rec["step_hashes"]) == {"notes", "labels", "sgt", "train"}
    header = (tmp_path / "results" / "results.csv").read_text().splitlines()[0].split(",")
    assert header[:6] == ["run_id", "dataset_id", "experiment", "mode", "task", "seed"]


def test_bad_config_fails_before_any_work(tmp_path):
    data = make_dataset(tmp_path / "midi", per_class=3)
    for bad, needle in [
        ("steps.sgt.alpha=0", "steps.sgt.alpha"),
        ("steps.sgt.nope=1", "unknown config key 'steps.sgt.nope'"),
        ("steps.sgt.token_mode=chords", "expected one of [pitch_class, prog_pitch, pitch, interval, melodic_interval, duration, ioi, "
         "pitch_class_duration, interval_ioi]"),
        ("steps.sgt.top_vocab=0", "steps.sgt.top_vocab"),
        ("dataset.data_root=/nonexistent/folder", "is not a folder"),
        ("skip=[embedz]", "step names are"),
    ]:
        proc = run_cli(tiny_overrides(data, tmp_path, bad), tmp_path, check=False)
        assert proc.returncode != 0, bad
        assert needle in proc.stderr + proc.stdout, (bad, proc.stderr)
        assert not (tmp_path / "artifacts").exists(), bad
        assert "Traceback" not in proc.stderr, proc.stderr


def test_sigkill_during_training_leaves_nothing_half_written(tmp_path):
    """Kill the real process while `train` runs; the rerun finishes and trusts nothing broken."""
    data = make_dataset(tmp_path / "midi")
    args = tiny_overrides(data, tmp_path, "steps.train.model=mlp", "steps.train.epochs=30", "steps.train.patience=30")
    cmd = [sys.executable, "-m", "musicexp", f"hydra.run.dir={tmp_path / 'outputs'}", *args]
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    for line in proc.stdout:
        if re.search(r"train \w+: running", line):
            break
    time.sleep(3.0)  # inside TensorFlow's import or the first folds
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    train_dir = tmp_path / "artifacts" / "tiny" / "train"
    finals = [p for p in train_dir.iterdir() if not p.name.startswith(".")]
    assert finals == []  # no trusted train artifact
    assert not (tmp_path / "results" / "results.jsonl").exists()
    again = run_cli(args, tmp_path)
    assert re.search(r"sgt\s+cached", again.stdout) and re.search(r"train\s+ran", again.stdout)
    assert [p.name for p in train_dir.iterdir() if p.name.startswith(".tmp-")] == []
    recs = read_jsonl(tmp_path / "results" / "results.jsonl")
    assert len(recs) == 1 and json.dumps(recs[0])


def test_relative_paths_resolve_against_the_launch_directory(tmp_path):
    """Even when Hydra changes into its run folder, data, artifacts and results stay where the user is."""
    make_dataset(tmp_path / "midi")
    args = [a for a in tiny_overrides(tmp_path / "midi", tmp_path) if not a.startswith(("paths.", "dataset.data_root"))]
    run_cli(args + ["dataset.data_root=midi", "hydra.job.chdir=true"], tmp_path)
    assert (tmp_path / "artifacts" / "tiny" / "train").is_dir()
    assert len(read_jsonl(tmp_path / "results" / "results.jsonl")) == 1
    assert not list((tmp_path / "outputs").glob("**/artifacts"))
