"""Bad MIDI: a corpus of hostile files (tests/hostile.py). With the default on_error=skip the run
completes, the `notes` artifact lists every bad file with its reason and the summary counts
them; with on_error=raise the first one stops the run, naming it. Labelling problems alike."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest

from helpers import make_dataset, run_cli, style_notes, tiny_overrides, write_midi
from hostile import N_BIG, make_hostile_corpus, write_big, write_tempo_storm
from musicexp.engine.cache import ArtifactStore
from musicexp.data.dataset import discover_all
from musicexp.core.errors import UserError
from musicexp.data.midi import read_notes
from musicexp.engine.runner import run

FOLDER_LABELS = ("dataset.labels.source=folder", "dataset.labels.folder_column=genre", "dataset.labels.columns=[]")
SMALL_EMBED = ("steps.train.modes=[sgt_only,emb_only]", "steps.embed.dim=8", "steps.embed.num_walks=2",
               "steps.embed.epochs=1", "steps.embed.workers=1")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile") / "midi"
    return root, make_hostile_corpus(root)


def _artifact(work: Path, step: str):
    (art,) = [a for a in ArtifactStore(work / "artifacts").iter_artifacts() if a.meta["step"] == step]
    return art


def test_hostile_corpus_run_completes_and_lists_every_bad_file(corpus, tmp_path):
    root, expect = corpus
    proc = run_cli(tiny_overrides(root, tmp_path, *FOLDER_LABELS, *SMALL_EMBED), tmp_path, timeout=300)
    bad = {k: v[1] for k, v in expect.items() if v[0] == "bad"}
    errors = {e["file"]: e["reason"] for e in _artifact(tmp_path, "notes")["errors"]}
    assert set(errors) == set(bad)  # every bad file listed, nothing else
    for name, reason in bad.items():
        assert reason in errors[name], (name, errors[name])
    assert re.search(rf"^notes\s+ran\s+\w+\s+[\d.]+\s+pieces=\d+, notes=\d+, bad_files={len(bad)}$", proc.stdout, re.M)
    assert f"{len(bad)} file(s) could not be parsed" in proc.stdout
    pieces = {p["id"]: p for p in _artifact(tmp_path, "notes")["pieces"]}
    ok = [k for k, v in expect.items() if v[0] in ("ok", "unlabeled")]
    assert set(ok) <= set(pieces)
    assert pieces["alpha/huge_200k_notes.mid"]["n_notes"] == N_BIG
    assert len(pieces["beta/tempo_storm.mid"]["time_signatures"]) > 10
    notes = _artifact(tmp_path, "notes")["notes"]
    assert (notes["duration"] >= 0).all() and (notes["duration_s"] >= 0).all()
    assert np.isfinite(notes["onset_s"]).all()
    report = _artifact(tmp_path, "labels")["report"]
    assert report["problems"] == [{"file": "no_folder_no_label.mid", "reason": report["problems"][0]["reason"]}]
    assert "not inside a sub-folder" in report["problems"][0]["reason"]
    assert "1 labelling problem(s)" in proc.stdout and "no_folder_no_label.mid" in proc.stdout
    sgt = _artifact(tmp_path, "sgt")
    assert sgt.meta["summary"]["pieces"] == len(pieces)  # the 200k-note piece, drums only ... all flow through
    assert _artifact(tmp_path, "graph").meta["summary"]["nodes"] > 0
    recs = [json.loads(x) for x in (tmp_path / "results" / "results.jsonl").read_text().splitlines()]
    assert [r["mode"] for r in recs] == ["sgt_only", "emb_only"]
    assert all(r["n_pieces"] == len(pieces) - 1 for r in recs)  # every parsed piece with a label


def test_on_error_raise_stops_at_the_first_bad_file_naming_it(corpus, compose, tmp_path):
    root, _ = corpus
    with pytest.raises(UserError, match=re.escape(str(root / "alpha" / "loop_to_parent")) + ": symlinked folder"):
        run(compose(tiny_overrides(root, tmp_path, *FOLDER_LABELS, "dataset.on_error=raise")))
    assert not (tmp_path / "artifacts").exists()


def test_on_error_raise_on_a_file_that_does_not_parse(compose, tmp_path):
    data = make_dataset(tmp_path / "midi")
    (data / "zz_truncated.mid").write_bytes((data / "alpha_00.mid").read_bytes()[:40])
    (data / "aa_empty.mid").write_bytes(b"")
    with open(data / "labels.csv", "a") as fh:  # labelled, so only the MIDI is wrong
        fh.write("zz_truncated.mid,alpha,old\naa_empty.mid,beta,old\n")
    with pytest.raises(UserError, match=re.escape(str(data / "aa_empty.mid")) + ": unreadable MIDI"):
        run(compose(tiny_overrides(data, tmp_path, "dataset.on_error=raise", "steps.notes.n_jobs=1")))
    assert list(ArtifactStore(tmp_path / "artifacts").entries()) == []
    r = run(compose(tiny_overrides(data, tmp_path)))  # skip (the default): both listed, the run completes
    assert [e["file"] for e in r.steps["notes"].artifact["errors"]] == ["aa_empty.mid", "zz_truncated.mid"]
    assert r.steps["notes"].artifact.meta["summary"]["bad_files"] == 2
    # on_error is in no hash: with the notes now cached, raise still stops at the first bad file
    with pytest.raises(UserError, match=re.escape(str(data / "aa_empty.mid")) + ": unreadable MIDI"):
        run(compose(tiny_overrides(data, tmp_path, "dataset.on_error=raise")))


def _csv_problems(root: Path) -> Path:
    """tiny dataset + a labelled file that does not exist, a file without a row, an empty label."""
    make_dataset(root)
    rng = np.random.default_rng(3)
    write_midi(root / "unlisted.mid", style_notes("alpha", rng))
    rows = list(csv.DictReader(open(root / "labels.csv")))
    rows[0]["era"] = "  "
    rows.append({"file": "ghost.mid", "composer": "alpha", "era": "old"})
    rows.append({"file": "", "composer": "short row", "era": ""})
    with open(root / "labels.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["file", "composer", "era"])
        w.writeheader()
        w.writerows(rows)
    return root


def test_labelling_problems_are_listed_with_their_reason(compose, tmp_path):
    data = _csv_problems(tmp_path / "midi")
    r = run(compose(tiny_overrides(data, tmp_path)))
    report = r.steps["labels"].artifact["report"]
    reasons = {p["file"]: p["reason"] for p in report["problems"]}
    assert set(reasons) == {"alpha_00.mid", "ghost.mid", "unlisted.mid"}
    assert reasons["alpha_00.mid"] == "empty label for 'era'"
    assert "no such MIDI file" in reasons["ghost.mid"] and "no row in labels.csv" in reasons["unlisted.mid"]
    assert report["unlabeled_pieces"] == ["alpha_00.mid", "unlisted.mid"] and report["labels_without_file"] == ["ghost.mid"]
    summ = r.steps["labels"].artifact.meta["summary"]
    assert (summ["unlabeled"], summ["labels_without_file"], summ["pieces"]) == (2, 1, 23)


def test_labelling_problems_with_on_error_raise_stop_before_any_work(compose, tmp_path):
    data = _csv_problems(tmp_path / "midi")
    with pytest.raises(UserError, match=re.escape(str(data / "alpha_00.mid")) + ": empty label for 'era'"):
        run(compose(tiny_overrides(data, tmp_path, "dataset.on_error=raise")))
    assert not (tmp_path / "artifacts").exists()


def test_discovery_survives_loops_and_non_files(corpus):
    root, expect = corpus
    files, rejected = discover_all(root, [".mid", ".midi"])
    assert not any("loop_to_parent" in f for f in files)  # the loop is not followed (and is listed)
    assert {r for r, _ in rejected} == {k for k, v in expect.items()
                                        if v[0] == "bad" and not v[1].startswith(("unreadable", "no notes", "invalid"))}
    assert len(files) == len(set(files))


def test_zero_and_negative_durations_never_go_below_zero(tmp_path):
    import symusic

    s = symusic.Score(480)
    tr = symusic.Track("t", 0, False)
    for on, dur in [(0, 0), (480, -240), (960, 480), (960, -960)]:
        tr.notes.append(symusic.Note(on, dur, 60, 80))
    s.tracks.append(tr)
    s.dump_midi(str(tmp_path / "d.mid"))
    cols = read_notes(tmp_path / "d.mid")["columns"]
    assert (cols["duration"] >= 0).all() and (cols["duration_s"] >= 0).all()


def test_tempo_storm_and_200k_notes_parse(tmp_path):
    """(Their speed is a benchmark row, not a test: `make bench`.)"""
    cols = read_notes(write_tempo_storm(tmp_path / "storm.mid"))["columns"]
    assert np.all(np.diff(cols["onset_s"]) >= 0) and np.isfinite(cols["onset_s"]).all()
    big = read_notes(write_big(tmp_path / "big.mid"))
    assert len(big["columns"]["pitch"]) == N_BIG
