"""End-to-end on the embedded music21 dataset, with the real console command (slow: minutes).

The converted MIDI folder is built once per session (about 80 s on 2 cores for data_100).
"""

import re

import pytest

from helpers import run_cli
from musicexp.engine.results import read_jsonl

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("e2e")


def test_data_100_default_pipeline_then_cached_rerun(work):
    args = ["dataset=data_100", f"dataset.data_root={work / 'data' / 'Data_100'}", "resume=true", "progress=false"]
    first = run_cli(args, work, timeout=1800)
    for step in ("notes", "labels", "graph", "embed", "sgt", "stats", "train"):
        assert re.search(rf"{step}\s+ran", first.stdout), first.stdout
    recs = {r["mode"]: r for r in read_jsonl(work / "results" / "results.jsonl")}
    assert set(recs) == {"sgt_only", "emb_only", "stats_only", "early_fusion", "late_fusion"}
    assert all(r["reference_mode"] == "stats_only" for r in recs.values())
    for mode in ("sgt_only", "emb_only", "stats_only"):  # both feature kinds clearly beat the majority class
        assert recs[mode]["overall_f1_mean"] > recs[mode]["overall_baseline_f1"] + 0.2, recs[mode]
    rec = recs["sgt_only"]
    assert rec["dataset_id"] == "data_100" and rec["n_pieces"] == 100 and rec["tasks"] == ["composer", "era"]
    assert rec["model"] == "mlp" and rec["n_splits"] == 5 and rec["grouped"] is True
    second = run_cli(args, work, python_flags=("-X", "importtime"), timeout=600)
    for step in ("notes", "labels", "graph", "embed", "sgt", "stats", "train"):
        assert re.search(rf"{step}\s+cached", second.stdout), second.stdout
    assert not re.search(r"^import time:.*\|\s+tensorflow\b", second.stderr, flags=re.M)
    assert len(read_jsonl(work / "results" / "results.jsonl")) == 5
