"""Concurrency, proven: 8 processes appending results at once; two runs racing for one artifact."""

from __future__ import annotations

import csv
import json
import multiprocessing as mp
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from helpers import make_dataset, tiny_overrides
from musicexp.engine.cache import ArtifactStore
from musicexp.engine.results import append, cell, read_jsonl

N_PROCS, N_APPENDS = 8, 15


def _appender(args) -> None:
    j, c, k, start = args
    while time.time() < start:  # every process starts appending at the same moment
        time.sleep(0.001)
    for i in range(N_APPENDS):
        recs = [{"run_id": f"w{k}-{i}", "record_id": f"w{k}-{i}:{m}", "mode": m, "worker": k, "i": i,
                 "score": k + i / 100, f"only_{k}": "x" * (1000 * (k + 1)), "nested": {"k": k, "l": [i]}}
                for m in ("a", "b")]  # two lines per append, several KB each
        append(recs, j, c)


def test_eight_processes_append_at_once_nothing_torn_csv_matches(tmp_path):
    j, c = tmp_path / "results" / "r.jsonl", tmp_path / "results" / "r.csv"
    start = time.time() + 2.0
    with mp.get_context("spawn").Pool(N_PROCS) as pool:
        pool.map(_appender, [(j, c, k, start) for k in range(N_PROCS)])
    lines = j.read_bytes().decode().splitlines()
    recs = [json.loads(x) for x in lines]  # every JSONL line parses
    assert len(recs) == N_PROCS * N_APPENDS * 2
    for k in range(N_PROCS):  # each writer's lines are whole, in its order, each append's two together
        mine = [(r["i"], r["mode"]) for r in recs if r["worker"] == k]
        assert mine == [(i, m) for i in range(N_APPENDS) for m in ("a", "b")]
    pos = {r["record_id"]: n for n, r in enumerate(recs)}
    assert all(pos[f"w{k}-{i}:b"] == pos[f"w{k}-{i}:a"] + 1 for k in range(N_PROCS) for i in range(N_APPENDS))
    with open(c, newline="") as fh:
        reader = csv.DictReader(fh)
        header, rows = reader.fieldnames, list(reader)
    assert set(header) == set().union(*recs) and len(header) == len(set(header))
    assert header[0] == "run_id"
    assert rows == [{k: cell(r.get(k)) for k in header} for r in recs]  # the CSV is exactly the JSONL
    assert not list(j.parent.glob(".tmp-*"))


def _musicexp(args, cwd: Path, env_extra: dict) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MUSICEXP_")}
    env.update(TF_CPP_MIN_LOG_LEVEL="2", **env_extra)
    cmd = [sys.executable, "-m", "musicexp", f"hydra.run.dir={cwd / 'outputs'}", *args]
    return subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _status(out: str) -> dict:
    return dict(re.findall(r"^(notes|labels|sgt|train)\s+(ran|cached)\s", out, flags=re.M))


def test_two_runs_racing_build_each_artifact_once(tmp_path):
    """Both start together; each step sleeps inside its lock (MUSICEXP_SLEEP_AT), so the second
    run certainly finds the lock held, waits, and then reuses what the first built."""
    data = make_dataset(tmp_path / "midi")
    args = tiny_overrides(data, tmp_path)
    slow = {"MUSICEXP_SLEEP_AT": "step.start:notes=1.0,step.start:sgt=0.5,step.start:train=0.5"}
    procs = [_musicexp(args, tmp_path, slow) for _ in range(2)]
    outs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    statuses = [_status(o) for o in outs]
    for step in ("notes", "labels", "sgt", "train"):
        assert sorted(s[step] for s in statuses) == ["cached", "ran"], (step, statuses)
    assert any("another process is computing it; waiting" in o for o in outs)
    store = ArtifactStore(tmp_path / "artifacts")
    entries = list(store.entries())
    assert sorted(e.step for e in entries) == ["labels", "notes", "sgt", "train"]  # one folder per step
    builders = {e.meta["pid"] for e in entries}
    assert len(builders) == 1 and builders <= {p.pid for p in procs}  # the first run built all of them
    assert all(a.verify() == [] for a in store.iter_artifacts())
    recs = read_jsonl(tmp_path / "results" / "results.jsonl")
    assert len(recs) == 1  # the run that reused the cached train appended nothing new


def test_runs_racing_with_different_configs_share_what_they_can(tmp_path):
    """Two sweeps' jobs at once: alpha differs, so notes/labels are built once, sgt/train twice."""
    data = make_dataset(tmp_path / "midi")
    slow = {"MUSICEXP_SLEEP_AT": "step.start:notes=1.0"}
    procs = [_musicexp(tiny_overrides(data, tmp_path, f"steps.sgt.alpha={a}"), tmp_path, slow) for a in (0.5, 1.5)]
    outs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    statuses = [_status(o) for o in outs]
    assert sorted(s["notes"] for s in statuses) == ["cached", "ran"]
    assert [s["sgt"] for s in statuses] == ["ran", "ran"]
    store = ArtifactStore(tmp_path / "artifacts")
    counts = {}
    for a in store.iter_artifacts():
        counts[a.meta["step"]] = counts.get(a.meta["step"], 0) + 1
    assert counts == {"notes": 1, "labels": 1, "sgt": 2, "train": 2}
    recs = read_jsonl(tmp_path / "results" / "results.jsonl")
    assert len(recs) == 2 and len({r["record_id"] for r in recs}) == 2
