"""musicexp-cache ls / verify / gc on a store the tests fill with real runs."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import tiny_overrides
from musicexp.core import fsutil
from musicexp.engine.cache import ArtifactStore
from musicexp.tools.cache_cli import main
from musicexp.engine.runner import run

CLI = str(Path(sys.executable).with_name("musicexp-cache"))


@pytest.fixture
def store(compose, tmp_path, tiny_data):
    """Two runs (alpha 0.8, then 1.5): notes, labels shared; sgt and train twice."""
    runs = [run(compose(tiny_overrides(tiny_data, tmp_path, f"steps.sgt.alpha={a}"))) for a in (0.8, 1.5)]
    return {"root": tmp_path / "artifacts", "results": tmp_path / "results" / "results.jsonl", "runs": runs,
            "work": tmp_path, "data": tiny_data}


def cache(store, *args) -> int:
    return main(["--artifacts", str(store["root"]), *args])


def _hashes(store) -> dict:
    return {(a.meta["step"], a.meta["hash"]) for a in ArtifactStore(store["root"]).iter_artifacts()}


def test_ls_shows_step_hash_size_age_and_config(store, capsys):
    assert cache(store, "ls") == 0
    out = capsys.readouterr().out
    lines = [x for x in out.splitlines() if x.startswith("tiny")]
    assert [x.split()[1] for x in lines] == ["labels", "notes", "sgt", "sgt", "train", "train"]
    old, new = store["runs"]
    # each artifact shows the options that differ from the step's defaults
    assert any(old.steps["sgt"].hash[:12] in x and "(default options)" in x for x in lines)
    assert any(new.steps["sgt"].hash[:12] in x and "alpha=1.5" in x and "token_mode" not in x for x in lines)
    assert any(new.steps["train"].hash[:12] in x and "model=logreg" in x and "n_splits=3" in x for x in lines)
    assert all(("KB" in x or " B " in x) and x.split()[5].endswith("s") for x in lines)  # size, age
    assert "6 artifact(s)" in out
    assert cache(store, "ls", "--step", "sgt", "--json") == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 2 and {r["kind"] for r in rows} == {"artifact"} and all(r["size"] > 0 for r in rows)


def test_verify_finds_damage_the_pipeline_refuses_it_and_remove_deletes_it(store, compose, capsys):
    assert cache(store, "verify") == 0
    assert "6 intact, 0 damaged" in capsys.readouterr().out
    old = store["runs"][0]
    pairs = old.steps["sgt"].artifact.path / "pairs.npz"
    data = bytearray(pairs.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped bit: same size, wrong checksum
    pairs.write_bytes(bytes(data))
    records = store["runs"][1].steps["train"].artifact.path / "records.json"
    records.write_text(records.read_text()[:10])  # truncated
    assert cache(store, "verify") == 1
    out = capsys.readouterr().out
    assert f"DAMAGED  tiny/sgt/{old.steps['sgt'].hash}: pairs.npz: checksum mismatch" in out
    assert "records.json: size" in out and "4 intact, 2 damaged (--remove deletes them)" in out
    # the pipeline never trusts a damaged artifact: it recomputes and replaces it
    again = run(compose(tiny_overrides(store["data"], store["work"], "steps.sgt.alpha=0.8")))
    assert again.status() == dict(notes="cached", labels="cached", sgt="ran", train="cached")
    assert again.score == old.score
    assert cache(store, "verify", "--remove") == 0
    out = capsys.readouterr().out
    assert f"removed  tiny/train/{store['runs'][1].steps['train'].hash}" in out and "5 intact, 1 damaged" in out
    assert cache(store, "verify") == 0


def test_gc_dry_run_by_default_then_removes_what_the_last_run_did_not_use(store, compose, capsys):
    before = _hashes(store)
    old, new = store["runs"]
    assert cache(store, "gc", "--results", str(store["results"]), "--keep-last", "1", "--min-age-hours", "0") == 0
    out = capsys.readouterr().out
    assert out.count("would remove") == 3 and "dry run: add --yes" in out  # 2 lines + the total
    assert f"tiny/sgt/{old.steps['sgt'].hash}" in out and f"tiny/train/{old.steps['train'].hash}" in out
    assert _hashes(store) == before  # nothing removed
    assert cache(store, "gc", "--results", str(store["results"]), "--keep-last", "1", "--min-age-hours", "0",
                 "--yes") == 0
    assert _hashes(store) == {(s, new.steps[s].hash) for s in ("notes", "labels", "sgt", "train")}
    r = run(compose(tiny_overrides(store["data"], store["work"], "steps.sgt.alpha=1.5")))
    assert set(r.status().values()) == {"cached"}  # what the last run used is intact
    assert cache(store, "gc", "--results", str(store["results"]), "--keep-last", "2", "--min-age-hours", "0") == 0
    assert "would remove 0 folder(s)" in capsys.readouterr().out


def test_gc_older_than_a_date_and_young_artifacts_are_safe(store, capsys):
    tomorrow = (dt.date.today() + dt.timedelta(days=1)).isoformat()
    assert cache(store, "gc", "--older-than", "2000-01-01", "--min-age-hours", "0") == 0
    assert "would remove 0 folder(s)" in capsys.readouterr().out
    assert cache(store, "gc", "--older-than", tomorrow, "--min-age-hours", "0") == 0
    assert "would remove 6 folder(s)" in capsys.readouterr().out
    assert cache(store, "gc", "--older-than", tomorrow) == 0  # default: nothing younger than an hour
    assert "would remove 0 folder(s)" in capsys.readouterr().out
    # both criteria: unused by the last run AND older than the date
    assert cache(store, "gc", "--results", str(store["results"]), "--keep-last", "1", "--older-than", tomorrow,
                 "--min-age-hours", "0") == 0
    assert "would remove 2 folder(s)" in capsys.readouterr().out


def test_gc_collects_dead_leftovers_and_refuses_vague_orders(store, capsys):
    sgt_dir = store["root"] / "tiny" / "sgt"
    dead = sgt_dir / f".tmp-0123456789abcdef-999999999-deadbeef-{fsutil.HOST}"  # pid 999999999 of this host
    dead.mkdir()
    (dead / "pairs.npz").write_bytes(b"half")
    incomplete = sgt_dir / ("f" * 64)
    incomplete.mkdir()
    assert cache(store, "gc", "--older-than", "2000-01-01") == 0
    out = capsys.readouterr().out
    assert "temporary folder of dead process 999999999" in out and "incomplete: no readable meta.json" in out
    assert cache(store, "gc", "--older-than", "2000-01-01", "--yes") == 0
    assert not dead.exists() and not incomplete.exists()
    assert cache(store, "gc") == 2  # no criterion
    assert "--keep-last N and/or --older-than" in capsys.readouterr().err
    assert cache(store, "gc", "--keep-last", "1", "--results", str(store["work"] / "nope.jsonl")) == 2
    assert cache(store, "gc", "--older-than", "yesterday") == 2


def test_gc_never_removes_an_artifact_whose_lock_is_held(store):
    """The console script, while this process holds the lock of one unused artifact."""
    old = store["runs"][0]
    lock = ArtifactStore(store["root"]).lock("tiny", "sgt", old.steps["sgt"].hash)
    lock.acquire()
    try:
        proc = subprocess.run([CLI, "--artifacts", str(store["root"]), "gc", "--results", str(store["results"]),
                               "--keep-last", "1", "--min-age-hours", "0", "--yes"],
                              capture_output=True, text=True, timeout=60)
    finally:
        lock.release()
    assert proc.returncode == 0, proc.stderr
    assert f"in use, kept  tiny/sgt/{old.steps['sgt'].hash}" in proc.stdout
    assert f"removed  tiny/train/{old.steps['train'].hash}" in proc.stdout
    assert ("sgt", old.steps["sgt"].hash) in _hashes(store)
