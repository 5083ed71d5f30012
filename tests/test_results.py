"""results.jsonl / results.csv: consistent header, locked appends, torn lines repaired."""

import csv
import json
import multiprocessing as mp

from musicexp.core import fsutil
from musicexp.engine.results import append, read_jsonl


def _read_csv(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_csv_header_covers_rows_with_new_columns(tmp_path):
    j, c = tmp_path / "r.jsonl", tmp_path / "r.csv"
    append([{"run_id": "a", "mode": "sgt_only", "f1_mean": 0.5}], j, c)
    append([{"run_id": "b", "mode": "emb_only", "f1_mean": 0.6, "emb_dim": 100}], j, c)
    rows = _read_csv(c)
    assert [r["run_id"] for r in rows] == ["a", "b"]
    assert rows[0]["emb_dim"] == "" and rows[1]["emb_dim"] == "100"
    assert len(read_jsonl(j)) == 2


def test_only_missing_appends_each_record_once(tmp_path):
    j, c = tmp_path / "r.jsonl", tmp_path / "r.csv"
    recs = [{"record_id": "x:1", "v": 1}, {"record_id": "x:2", "v": 2}]
    assert append(recs[:1], j, c) == 1
    assert append(recs, j, c, only_missing=True) == 1
    assert append(recs, j, c, only_missing=True) == 0
    assert [r["record_id"] for r in read_jsonl(j)] == ["x:1", "x:2"]


def test_nothing_to_add_takes_no_lock_and_writes_nothing_unless_the_csv_lags(tmp_path):
    import os

    j, c = tmp_path / "r.jsonl", tmp_path / "r.csv"
    recs = [{"record_id": "x:1", "v": 1}]
    append(recs, j, c)
    lock = tmp_path / ".r.jsonl.lock"
    lock.unlink(missing_ok=True)  # (filelock may leave it; only a new lock would recreate it)
    t = j.stat().st_mtime_ns
    os.utime(c, ns=(t + 10**9, t + 10**9))  # the CSV was replaced after the JSONL: current
    assert append(recs, j, c, only_missing=True) == 0
    assert c.stat().st_mtime_ns == t + 10**9 and not lock.exists()  # nothing written, no lock
    # a CSV left behind by a killed append (older than the JSONL) is rebuilt by the no-op call
    j.write_text(j.read_text() + json.dumps({"record_id": "x:2", "v": 2}) + "\n")
    os.utime(c, ns=(t - 10**9, t - 10**9))
    assert append(recs, j, c, only_missing=True) == 0
    assert [r["record_id"] for r in _read_csv(c)] == ["x:1", "x:2"]
    # so is one with a CSV temporary left over (swept) or a torn JSONL tail (cut)
    t = j.stat().st_mtime_ns
    os.utime(c, ns=(t + 10**9, t + 10**9))
    stale = tmp_path / f".tmp-r.csv-999999999-deadbeef-{fsutil.HOST}"  # a dead writer's
    stale.write_text("half")
    assert append(recs, j, c, only_missing=True) == 0
    assert not stale.exists()
    with open(j, "a") as fh:
        fh.write('{"record_id": "to')
    os.utime(c, ns=(j.stat().st_mtime_ns + 10**9,) * 2)
    assert append(recs, j, c, only_missing=True) == 0
    assert j.read_text().endswith("}\n")


def test_a_torn_last_line_is_cut_before_the_next_append(tmp_path):
    j, c = tmp_path / "r.jsonl", tmp_path / "r.csv"
    append([{"run_id": "a"}], j, c)
    with open(j, "a") as fh:
        fh.write('{"run_id": "tor')  # a process killed mid-write
    assert [r["run_id"] for r in read_jsonl(j)] == ["a"]
    append([{"run_id": "b"}], j, c)
    lines = j.read_text().splitlines()
    assert [json.loads(x)["run_id"] for x in lines] == ["a", "b"]
    assert [r["run_id"] for r in _read_csv(c)] == ["a", "b"]


def _writer(args):
    j, c, k = args
    for i in range(10):
        append([{"run_id": f"{k}-{i}", "worker": k, "payload": "x" * 5000, f"col_{k}": i}], j, c)


def test_eight_processes_appending_at_once(tmp_path):
    j, c = tmp_path / "r.jsonl", tmp_path / "r.csv"
    with mp.get_context("spawn").Pool(8) as pool:
        pool.map(_writer, [(j, c, k) for k in range(8)])
    lines = j.read_text().splitlines()
    assert len(lines) == 80
    recs = [json.loads(x) for x in lines]  # every line parses: nothing interleaved
    rows = _read_csv(c)
    assert [r["run_id"] for r in rows] == [r["run_id"] for r in recs]
    assert all(f"col_{k}" in rows[0] for k in range(8))
