"""Tests for the embedded `folk` benchmark: its manifests (made from the installed music21
corpus by musicexp.data.corpus.folk_manifest), its labels and groups, and the conversion of
ABC tunes as written. Quick tests read ABC text or convert a handful of tunes; the full build
of folk_300 is marked slow.
"""

from __future__ import annotations

import csv
import json
import random
import re
from collections import Counter

import pytest

from helpers import abc_entry as _entry, abc_field as _field
from musicexp.data import corpus
from musicexp.data.corpus import convert
from musicexp.data.corpus import folk_manifest as fm

FOLK = corpus.read_manifest("folk")
FOLK300 = corpus.read_manifest("folk300")
BY_ID = {r["id"]: r for r in FOLK}
#: the R: spellings of the kept types in the two books, normalised by hand
RHYTHMS = {"reel": "reel", "jig": "jig", "double jig": "jig", "hornpipe": "hornpipe",
           "slip jig": "slip_jig", "slipjig": "slip_jig"}




def _written_notes(source: str, number: int) -> int:
    import music21

    score = music21.corpus.parse(source, number=number, forceSource=True)
    return sum(len(n.pitches) if n.isChord else 1 for n in score.recurse().notes)


def _midi_notes(path) -> int:
    import symusic

    return sum(len(t.notes) for t in symusic.Score(str(path)).tracks)


# --------------------------------------------------------------------------- manifests

def test_manifests_are_what_the_script_makes_from_the_installed_corpus():
    texts = fm.manifests()
    for name in ("folk", "folk300"):
        assert corpus.manifest_path(name).read_text(encoding="utf-8") == texts[name], name


def test_classes_sizes_and_subset():
    counts = Counter(r["tune_type"] for r in FOLK)
    assert counts == {"reel": 715, "jig": 514, "hornpipe": 462, "slip_jig": 97}
    assert {r["collection"] for r in FOLK} == {"oneills1850", "ryansMammoth"}
    # every kept type is in both books; left out: types of one book only
    for t in counts:
        assert {r["collection"] for r in FOLK if r["tune_type"] == t} == {"oneills1850", "ryansMammoth"}, t
    assert len(FOLK300) == 300 and all(BY_ID[r["id"]] == r for r in FOLK300)
    sub = Counter(r["tune_type"] for r in FOLK300)
    for t, n in counts.items():  # stratified: each class in proportion, within one tune
        assert abs(sub[t] - 300 * n / len(FOLK)) < 1, (t, sub[t])


def test_labels_agree_with_the_abc_fields_of_a_sample_of_tunes():
    rng = random.Random(30)
    for row in rng.sample(FOLK, 30) + [BY_ID["oneills1850__1031-1115__1046"]]:
        entry = _entry(row["source"], row["number"])
        header = entry.split("\nK:")[0]
        assert RHYTHMS[_field(header, "R").lower()] == row["tune_type"], row["id"]
        assert _field(entry, "T") == row["title"], row["id"]
        assert row["id"] == f"{row['collection']}__{row['source'].split('/')[1][:-4]}__{row['number']}"


def test_the_label_follows_r_not_the_title():
    # Ryan files some tunes titled "... -- Jig" under R:reel: the label is the R: field
    disagree = [r for r in FOLK if r["collection"] == "ryansMammoth"
                and r["title"].lower().rstrip(". ").endswith("-- jig") and r["tune_type"] == "reel"]
    assert disagree
    for row in disagree[:5]:
        assert _field(_entry(row["source"], row["number"]), "R").lower() == "reel"


def test_two_settings_of_one_tune_share_a_group():
    # Morgan Rattler: O'Neill's "Morgan Rattler" and Ryan's "MORGAN RATTLER -- JIG"
    assert BY_ID["oneills1850__1031-1115__1046"]["group"] == BY_ID["ryansMammoth__MorganRattlerJig__1"]["group"]
    # two transcriptions of O'Neill's No. 1586, "Trumpet Hornpipe, The" / "The Trumpet Hornpipe"
    assert BY_ID["oneills1850__1556-1624__1586"]["group"] == BY_ID["oneills1850__1577-1624__1586"]["group"]
    # No. 1556 under two titles, "Chief O'Neill's Hornpipe." / "Chief O'Neill's Favorite"
    assert BY_ID["oneills1850__1556-1576__1556"]["group"] == BY_ID["oneills1850__1556-1624__1556"]["group"]
    # ... and different tunes do not
    assert BY_ID["oneills1850__1031-1115__1046"]["group"] != BY_ID["oneills1850__1556-1624__1586"]["group"]
    # settings of one tune number in the two books' overlapping files always share a group
    groups: dict[str, set] = {}
    for r in FOLK:
        if r["collection"] == "oneills1850":
            groups.setdefault(r["number"], set()).add(r["group"])
    assert all(len(g) == 1 for g in groups.values())


@pytest.mark.parametrize("a, b", [
    ("Trumpet Hornpipe", "Trumpet -- Hornpipe"),
    ("The Trumpet Hornpipe", "Trumpet Hornpipe, The"),
    ("Bashful Lover., The", "The Bashful Lover"),
    ("The Humours of Glin", "HUMORS OF GLIN -- JIG"),
    ("Bonnie Kate", "BONNIE KATE'S -- REEL"),
    ("The Cock and the Hen", "Cock and Hen., The"),
    ('"All the Go" -- Reel', "All the Go"),
])
def test_tune_identity_unifies_the_title_styles(a, b):
    assert fm.tune_identity(a) == fm.tune_identity(b)


def test_tune_identity_keeps_different_tunes_apart():
    assert fm.tune_identity("Miss McLeod's Reel") != fm.tune_identity("Miss Monaghan")
    assert fm.tune_identity("Miss Johnson") == "miss_johnson"  # "miss" keeps its s


def test_tune_type_normalisation():
    assert [fm.tune_type(r) for r in ("Reel", "REEL", "double jig", "slipjig", "Slip Jig", "fling", "")] == \
        ["reel", "reel", "jig", "slip_jig", "slip_jig", "highland_fling", ""]


# --------------------------------------------------------------------------- conversion

def test_tunes_are_written_as_written(tmp_path):
    """No repeat expansion: MIDI notes <= 1.2x the written notes, for the worst case too
    (O'Neill's Morgan Rattler, which music21's repeat expansion turns into 50,577 notes)."""
    rows = [BY_ID[i] for i in ("oneills1850__1031-1115__1046", "ryansMammoth__MorganRattlerJig__1",
                               "oneills1850__1556-1624__1586")]
    rows += random.Random(3).sample([r for r in FOLK300 if r["tune_type"] == "slip_jig"], 2)
    for row in rows:
        convert.convert_row(row["id"], row["source"], str(tmp_path), 0, int(row["number"]))
        written = _written_notes(row["source"], int(row["number"]))
        midi = _midi_notes(tmp_path / f"{row['id']}.mid")
        assert 0.8 * written <= midi <= 1.2 * written, (row["id"], written, midi)


def test_a_bad_tune_number_fails_naming_the_row_and_the_rest_converts(tmp_path):
    good = BY_ID["ryansMammoth__MorganRattlerJig__1"]
    manifest = tmp_path / "tunes.csv"
    with open(manifest, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fm.COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerow(good)
        writer.writerow({**good, "id": "no such tune", "source": "oneills1850/1031-1115.abc", "number": "99999"})
    out = tmp_path / "out"
    with pytest.raises(corpus.ConversionError) as err:
        corpus.build_dataset(manifest, out, n_jobs=2, progress=False)
    message = str(err.value)
    assert "'no such tune'" in message and "oneills1850/1031-1115.abc" in message and "X:99999" in message
    assert good["id"] not in message
    assert (out / f"{good['id']}.mid").is_file() and not (out / "dataset.json").exists()


def test_labels_csv_carries_the_manifests_own_label_columns(tmp_path):
    rows = [BY_ID["ryansMammoth__MorganRattlerJig__1"]]
    manifest = tmp_path / "one.csv"
    manifest.write_text(fm.to_csv(rows), encoding="utf-8")
    out = corpus.build_dataset(manifest, tmp_path / "out", n_jobs=1, progress=False)
    with open(out / "labels.csv", newline="", encoding="utf-8") as fh:
        labels = list(csv.DictReader(fh))
    assert labels == [{"file": f"{rows[0]['id']}.mid", "tune_type": "jig", "collection": "ryansMammoth",
                       "title": "MORGAN RATTLER -- JIG", "group": "morgan_rattler"}]


@pytest.mark.slow
def test_folk300_builds_completely_as_written(tmp_path):
    out = corpus.build_dataset("folk300", tmp_path / "Folk_300", n_jobs=2, progress=False)
    record = json.loads((out / "dataset.json").read_text())
    assert len(record["files"]) == 300


def test_parsing_without_beams_gives_the_same_midi_bytes():
    """The build parses book tunes without music21's beaming (a third of the time): same bytes."""
    import music21
    from music21.midi import translate

    row = BY_ID["oneills1850__1031-1115__1046"]
    original = music21.stream.Stream.makeBeams
    with convert._without_beams():
        fast = music21.corpus.parse(row["source"], number=1046, forceSource=True)
    slow = music21.corpus.parse(row["source"], number=1046, forceSource=True)
    assert music21.stream.Stream.makeBeams is original  # restored
    for score in (fast, slow):
        convert._strip_repeats(score)
        convert._set_program(score, 0)
    assert translate.streamToMidiFile(fast).writestr() == translate.streamToMidiFile(slow).writestr()


@pytest.mark.slow
def test_folk_builds_from_an_empty_data_folder_and_runs(tmp_path):
    """`musicexp dataset=folk` from an empty per-user data folder: >= 1,500 tunes in 4 classes,
    every mode far above the majority class, the metadata-only control at the majority baseline."""
    from helpers import run_cli
    from musicexp.engine.results import read_jsonl

    run_cli(["dataset=folk", "steps.train.model=logreg", "progress=false"], tmp_path, timeout=1800,
            env={"MUSICEXP_DATA": str(tmp_path / "data")})
    assert json.loads((tmp_path / "data" / "Folk" / "dataset.json").read_text())["manifest"] == "folk"
    recs = {r["mode"]: r for r in read_jsonl(tmp_path / "results" / "results.jsonl")}
    assert set(recs) == {"sgt_only", "emb_only", "stats_only", "early_fusion", "late_fusion"}
    for rec in recs.values():
        assert rec["n_pieces"] >= 1500 and rec["n_classes"] == 4 and rec["tasks"] == ["tune_type"], rec
        assert rec["grouped"] is True
        assert abs(rec["metadata_score"] - rec["baseline_score"]) < 0.02, rec
        assert rec["score"] > rec["baseline_score"] + 0.2, rec
