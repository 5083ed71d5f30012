"""Crash safety, proven: SIGKILL a real `musicexp` run at many points, re-run with resume=true.

Each case starts the real console command in a subprocess and kills it with SIGKILL, either at
a named fault point (``MUSICEXP_KILL_AT``, see musicexp/core/faults.py: the process kills itself
there, exactly as the kernel would) or after a fixed delay. Then:

* right after the kill: every folder under a final hash name is a complete, verified artifact
  (no folder without its completion record, no artifact that fails its checksums), complete
  JSONL lines parse, and no parsing process outlived the run;
* the re-run with ``resume=true`` finishes (a stale lock of the dead process would hang it:
  it has a timeout), leaves no temporary folder, and every artifact verifies;
* the final results equal those of an uninterrupted run: one record, the same metrics to the
  last digit, the same step hashes; the CSV matches the JSONL.

The whole matrix (about 40 kills) is marked slow; a representative few run in the quick suite.
Set MUSICEXP_HARNESS_LOG=<file> to get one JSON line per case (the table in the README).
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from filelock import FileLock

from helpers import make_dataset, run_cli, tiny_overrides
from musicexp.engine.cache import Artifact, ArtifactStore
from musicexp.engine.results import read_jsonl

#: record fields that differ between two runs of the same experiment
RUN_SPECIFIC = {"run_id", "started_at", "finished_at", "duration_s", "train_seconds", "step_status", "overrides",
                "config_hash"}
STEPS = ("notes", "labels", "sgt", "train")
COMMIT = ("after_files", "after_meta", "before_rename", "after_rename")
QUICK = {"step.start:sgt", "cache.commit.after_meta:train", "results.append.torn",
         "force sgt: cache.commit.before_rename:sgt"}


def metrics(rec: dict) -> dict:
    return {k: v for k, v in rec.items() if k not in RUN_SPECIFIC}


def musicexp(args: list[str], cwd: Path, env_extra: dict | None = None, timeout: float = 180,
             kill_after: float | None = None) -> subprocess.CompletedProcess:
    """Run the console command; its output goes to files (a leftover child holding a pipe open
    must make the test fail, not hang it)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MUSICEXP_")}
    env.update(TF_CPP_MIN_LOG_LEVEL="2", **(env_extra or {}))
    cmd = [sys.executable, "-m", "musicexp", f"hydra.run.dir={cwd / 'outputs'}", *args]
    stem = cwd / f"musicexp-{uuid.uuid4().hex[:8]}"
    with open(f"{stem}.out", "w") as out, open(f"{stem}.err", "w") as err:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=err, text=True)
        try:
            proc.wait(timeout=kill_after if kill_after is not None else timeout)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            if kill_after is None:
                raise AssertionError(f"musicexp did not finish in {timeout} s (a stale lock?)") from None
    return subprocess.CompletedProcess(cmd, proc.returncode, Path(f"{stem}.out").read_text(),
                                       Path(f"{stem}.err").read_text())


def survivors(tag: str) -> list[int]:
    """Processes whose environment carries ``tag`` (a killed run's parsing workers)."""
    found = []
    for d in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if d.isdigit() and int(d) != os.getpid():
            try:
                if tag.encode() in Path(f"/proc/{d}/environ").read_bytes():
                    found.append(int(d))
            except OSError:
                pass
    return found


def store_state(work: Path) -> dict:
    """Artifacts (all verified), incomplete folders and temporaries under work/artifacts."""
    store = ArtifactStore(work / "artifacts")
    state = {"artifacts": set(), "incomplete": [], "temporary": [], "damaged": []}
    for e in store.entries():
        if e.kind == "artifact":
            problems = Artifact(e.path, e.meta).verify()
            if problems:
                state["damaged"].append((e.step, e.name, problems))
            state["artifacts"].add((e.step, e.name))
        else:
            state[e.kind].append(f"{e.step}/{e.name}")
    return state


def check_results(work: Path, reference: list[dict]) -> None:
    jsonl, csv_path = work / "results" / "results.jsonl", work / "results" / "results.csv"
    raw = jsonl.read_bytes()
    assert raw.endswith(b"\n"), "a torn line was left at the end of the JSONL"
    recs = [json.loads(line) for line in raw.decode().splitlines()]  # every line parses
    assert [metrics(r) for r in recs] == [metrics(r) for r in reference]
    with open(csv_path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["run_id"] for r in rows] == [r["run_id"] for r in recs]
    assert [r["score"] for r in rows] == [str(r["score"]) for r in recs]
    assert not list(csv_path.parent.glob(".tmp-*")), "a CSV temporary of the dead process was left"


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("crash") / "midi")


@pytest.fixture(scope="module")
def reference(data, tmp_path_factory) -> dict:
    """An uninterrupted run: its records and artifact hashes."""
    work = tmp_path_factory.mktemp("reference")
    run_cli(tiny_overrides(data, work), work)
    return {"records": read_jsonl(work / "results" / "results.jsonl"), "state": store_state(work), "work": work}


def _log(row: dict) -> None:
    path = os.environ.get("MUSICEXP_HARNESS_LOG")
    if path:
        with open(path, "a") as fh:
            fh.write(json.dumps(row) + "\n")


def _cases():
    points = [f"step.{w}:{s}" for s in STEPS for w in ("start", "done")]
    points += [f"cache.commit.{c}:{s}" for s in STEPS for c in COMMIT]
    points += ["notes.parsed_chunk", "notes.worker:alpha_03.mid", "results.append.locked", "results.append.torn",
               "results.append.after_jsonl", "results.csv.before_replace"]
    cases = [(p, p, ()) for p in points]
    # a forced recomputation killed while the old artifact is moved aside: the old one comes back
    cases += [(f"force {s}: cache.commit.before_rename:{s}", f"cache.commit.before_rename:{s}", (f"force=[{s}]",))
              for s in ("sgt", "train")]
    cases += [("force sgt: cache.commit.after_rename:sgt", "cache.commit.after_rename:sgt", ("force=[sgt]",))]
    out = []
    for cid, point, extra in cases:
        marks = () if cid in QUICK else (pytest.mark.slow,)
        out.append(pytest.param(point, extra, id=cid, marks=marks))
    return out


@pytest.mark.parametrize("point, extra", _cases())
def test_killed_at_a_fault_point_then_resumed(point, extra, data, reference, tmp_path):
    args = tiny_overrides(data, tmp_path, *extra)
    if "notes.worker" in point:
        args.append("steps.notes.n_jobs=1")  # in-process parsing: the run itself dies mid-notes
    if extra:  # a forced run needs something to force: first an uninterrupted run
        run_cli(tiny_overrides(data, tmp_path), tmp_path)
    tag = uuid.uuid4().hex
    killed = musicexp(args, tmp_path, {"MUSICEXP_KILL_AT": point, "MUSICEXP_TEST_TAG": tag})
    assert killed.returncode == -signal.SIGKILL, f"never reached {point}:\n{killed.stdout}\n{killed.stderr}"
    status = _check_and_resume(f"{point} ({' '.join(extra)})" if extra else point, data, tmp_path, reference, tag)
    if extra and "before_rename" in point:  # the intact old artifact was put back, not recomputed
        assert status[point.split(":")[1]] == "cached"


@pytest.mark.parametrize("delay", [
    pytest.param(0.4, marks=pytest.mark.slow), pytest.param(0.8, marks=pytest.mark.slow),
    pytest.param(1.2, marks=pytest.mark.slow), pytest.param(1.6, marks=pytest.mark.slow),
    pytest.param(2.0, marks=pytest.mark.slow), pytest.param(2.4, marks=pytest.mark.slow),
    pytest.param(2.8, marks=pytest.mark.slow),
])
def test_killed_after_a_delay_then_resumed(delay, data, reference, tmp_path):
    tag = uuid.uuid4().hex
    killed = musicexp(tiny_overrides(data, tmp_path), tmp_path, {"MUSICEXP_TEST_TAG": tag}, kill_after=delay)
    assert killed.returncode in (0, -signal.SIGKILL)
    _check_and_resume(f"timer {delay}s" + (" (finished first)" if killed.returncode == 0 else ""),
                      data, tmp_path, reference, tag)


def _check_and_resume(point: str, data: Path, work: Path, reference: dict, tag: str) -> dict:
    deadline = time.time() + 5
    while survivors(tag) and time.time() < deadline:
        time.sleep(0.1)
    assert survivors(tag) == [], "a process of the killed run is still alive"
    after_kill = store_state(work)
    assert after_kill["damaged"] == [] and after_kill["incomplete"] == []
    assert after_kill["artifacts"] <= reference["state"]["artifacts"]  # nothing else was ever trusted
    locks = [*(work / "artifacts").glob("*/*/.locks/*.lock"), *(work / "results").glob(".*.lock")]
    for lock_file in locks:  # no lock outlives its holder
        with FileLock(str(lock_file), timeout=0):
            pass
    jsonl = work / "results" / "results.jsonl"
    torn = jsonl.is_file() and not jsonl.read_bytes().endswith(b"\n") and jsonl.stat().st_size > 0
    records_after_kill = len(read_jsonl(jsonl))
    again = musicexp(tiny_overrides(data, work, "resume=true"), work)
    assert again.returncode == 0, again.stdout + again.stderr
    final = store_state(work)
    assert final["damaged"] == [] and final["incomplete"] == [] and final["temporary"] == []
    assert final["artifacts"] == reference["state"]["artifacts"]
    check_results(work, reference["records"])
    status = _statuses(again.stdout)
    _log({"case": point, "killed_with": "SIGKILL", "left_after_kill": {
        "artifacts": sorted(s for s, _ in after_kill["artifacts"]), "temporary": after_kill["temporary"],
        "torn_jsonl_line": torn, "records": records_after_kill}, "rerun": status, "recovered": True})
    return status


def _statuses(stdout: str) -> dict:
    out = {}
    for line in stdout.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] in STEPS and parts[1] in ("ran", "cached", "forced", "skipped"):
            out[parts[0]] = parts[1]
    return out


def test_a_parser_crash_costs_one_file_not_the_run(data, tmp_path):
    """A parsing process that dies (a segfault in the parser, the OOM killer) is survived: the
    culprit is found by re-parsing one file at a time and listed as a bad file."""
    proc = musicexp(tiny_overrides(data, tmp_path), tmp_path, {"MUSICEXP_KILL_AT": "notes.worker:beta_05.mid"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (errors,) = [json.loads((p / "errors.json").read_text()) for p in (tmp_path / "artifacts" / "tiny" / "notes").iterdir()
                 if not p.name.startswith(".")]
    assert errors == [{"file": "beta_05.mid", "reason": "the parser crashed on this file (its process died)"}]
    assert "1 file(s) could not be parsed" in proc.stdout


def test_an_exception_inside_a_step_leaves_no_artifact_and_upstream_is_reused(compose, data, tmp_path, replace_step):
    """In-process: a step that raises (a bug, MemoryError...) commits nothing; what finished stays."""
    from musicexp.core import registry
    from musicexp.engine.runner import run

    def boom(inputs, params, ctx):
        raise RuntimeError("crash inside train")

    train = registry.get("train")
    replace_step("train", run=boom)
    with pytest.raises(RuntimeError, match="crash inside train"):
        run(compose(tiny_overrides(data, tmp_path)))
    registry.register_step(train)
    train_dir = tmp_path / "artifacts" / "tiny" / "train"
    assert [p.name for p in train_dir.iterdir() if p.name != ".locks"] == []
    assert not (tmp_path / "results" / "results.jsonl").exists()
    r = run(compose(tiny_overrides(data, tmp_path)))
    assert r.status() == dict(notes="cached", labels="cached", sgt="cached", train="ran")
    assert all(r.steps[s].artifact.verify() == [] for s in STEPS)
