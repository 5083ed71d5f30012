"""Determinism: the same seed gives identical metrics, to the last digit, across two runs,
across the basic and joblib launchers, and with 1 or 2 parsing processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from helpers import make_dataset, run_cli, tiny_overrides
from musicexp.engine.cache import ArtifactStore
from musicexp.engine.results import read_jsonl

#: record fields that differ between two runs of the same experiment (time, ids, paths)
RUN_SPECIFIC = {"run_id", "started_at", "finished_at", "duration_s", "train_seconds", "step_status", "overrides",
                "config_hash"}


def metrics(work: Path) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in RUN_SPECIFIC}
            for r in read_jsonl(work / "results" / "results.jsonl")]


def outputs(work: Path) -> dict:
    """Every array and JSON output of every artifact, by (step, name)."""
    out = {}
    for a in ArtifactStore(work / "artifacts").iter_artifacts():
        for name in a.names():
            out[(a.meta["step"], name)] = a.load(name)
    return out


def assert_same_outputs(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        x, y = a[key], b[key]
        if isinstance(x, dict) and all(isinstance(v, np.ndarray) for v in x.values()):
            assert x.keys() == y.keys(), key
            for k in x:
                assert np.array_equal(x[k], y[k]) and x[k].dtype == y[k].dtype, (key, k)
        elif isinstance(x, np.ndarray):
            assert np.array_equal(x, y), key
        else:
            assert x == y, key


def multirun(work: Path, data: Path, *extra: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HYDRA_FULL_ERROR", "MUSICEXP_"))}
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    cmd = [sys.executable, "-m", "musicexp", "-m", f"hydra.sweep.dir={work / 'multirun'}",
           *tiny_overrides(data, work, *extra)]
    proc = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    if "hydra/launcher=joblib" in extra:  # the job really ran in a loky worker process
        assert "backend=loky" in proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("det") / "midi")


@pytest.fixture(scope="module")
def basic(data, tmp_path_factory) -> Path:
    """The reference: the basic launcher, steps.notes.n_jobs=2 (the default)."""
    work = tmp_path_factory.mktemp("basic")
    run_cli(tiny_overrides(data, work), work)
    return work


def test_two_runs_with_the_same_seed_are_identical(data, basic, tmp_path):
    run_cli(tiny_overrides(data, tmp_path), tmp_path)
    assert metrics(tmp_path) == metrics(basic) and len(metrics(basic)) == 1
    assert_same_outputs(outputs(tmp_path), outputs(basic))  # predictions, SGT pair sums, note table, ...


def test_one_or_two_parsing_processes_give_identical_results(data, basic, tmp_path):
    run_cli(tiny_overrides(data, tmp_path, "steps.notes.n_jobs=1"), tmp_path)
    assert metrics(tmp_path) == metrics(basic)
    assert_same_outputs(outputs(tmp_path), outputs(basic))


def test_joblib_launcher_gives_the_basic_launchers_numbers(data, basic, tmp_path):
    multirun(tmp_path, data, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "seed=42")
    assert metrics(tmp_path) == metrics(basic)
    assert_same_outputs(outputs(tmp_path), outputs(basic))


def test_a_different_seed_changes_the_numbers(data, basic, tmp_path):
    """The check above can fail: the seed reaches the folds."""
    run_cli(tiny_overrides(data, tmp_path, "seed=7"), tmp_path)
    (a,), (b,) = metrics(tmp_path), metrics(basic)
    assert a["seed"] == 7 and a["step_hashes"]["train"] != b["step_hashes"]["train"]
    assert a["step_hashes"]["sgt"] == b["step_hashes"]["sgt"]


@pytest.mark.slow
def test_mlp_is_deterministic_across_processes_and_launchers(data, tmp_path):
    """The Keras MLP with deterministic_tf=true (the default): same numbers in two processes and
    under the joblib launcher."""
    mlp = ("steps.train.model=mlp", "steps.train.epochs=8")
    works = [tmp_path / n for n in ("a", "b", "c")]
    for w in works:
        w.mkdir()
    run_cli(tiny_overrides(data, works[0], *mlp), works[0])
    run_cli(tiny_overrides(data, works[1], *mlp), works[1])
    multirun(works[2], data, "hydra/launcher=joblib", *mlp)
    assert metrics(works[0]) == metrics(works[1]) == metrics(works[2])
    assert_same_outputs(outputs(works[0]), outputs(works[1]))
