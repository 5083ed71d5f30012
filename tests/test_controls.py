"""Controls against confounds: the metadata-only control beside every result, features that
leave edition metadata out, and near-duplicate pieces kept in one group."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from helpers import tiny_overrides, write_midi
from musicexp.engine.runner import run

SMALL_EMB = ("steps.embed.dim=16", "steps.embed.num_walks=10", "steps.embed.epochs=3", "steps.embed.workers=1")


def melodies(rng, n: int, length: int = 40) -> list[list[tuple]]:
    """n random melodies with chords: (onset, duration, pitch, velocity) in beats."""
    out = []
    for _ in range(n):
        t, notes = 0.0, []
        for _ in range(length):
            p, d = int(rng.integers(55, 80)), float(rng.choice([0.5, 1.0, 1.5]))
            notes += [(t, d, p, 80), (t, d, p - int(rng.choice([3, 4, 7])), 80)]
            t += d
        out.append(notes)
    return out


def twin_dataset(root, n: int = 12):
    """Two classes with identical notes: every melody is written once as `loud` (velocity 100,
    90 bpm) and once as `soft` (velocity 45, 150 bpm); only the edition differs."""
    rng = np.random.default_rng(7)
    rows = []
    for i, notes in enumerate(melodies(rng, n)):
        for cls, vel, bpm in (("loud", 100, 90.0), ("soft", 45, 150.0)):
            name = f"{cls}_{i:02d}.mid"
            write_midi(root / name, [(o, d, p, vel) for o, d, p, _ in notes], tempo_qpm=bpm, tracks=2)
            rows.append((name, cls))
    with open(root / "labels.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([("file", "dynamics")] + rows)
    return root


ARGS = ("steps.train.n_splits=4", "steps.train.modes=[sgt_only,emb_only]", "dataset.labels.columns=[dynamics]",
        "steps.sgt.token_mode=pitch", "steps.sgt.top_vocab=30", *SMALL_EMB)


def test_metadata_alone_separates_twins_the_control_says_so_and_neutralizing_leaves_chance(compose, tmp_path, caplog):
    import logging

    data = twin_dataset(tmp_path / "midi")
    with caplog.at_level(logging.INFO, logger="musicexp"):
        r = run(compose(tiny_overrides(data, tmp_path / "raw", *ARGS)))
    recs = {x["mode"]: x for x in r.records}
    # the twins of a melody are near-duplicates: one group, one side of every split
    assert len(r.steps["labels"].artifact["report"]["duplicates"]) == 12
    rec = recs["emb_only"]
    assert rec["metadata_score"] > 0.95 and rec["metadata_close"]  # velocity and tempo alone
    assert rec["score"] > 0.9  # the graph's velocity and tempo nodes (and seconds) carry it
    assert recs["sgt_only"]["score_low"] < recs["sgt_only"]["guess_f1"]  # beats and pitches: identical twins
    text = "\n".join(caplog.messages)
    assert "NOTE: dynamics: the metadata-only control reaches 1.000, within the interval of sgt_only, emb_only" in text
    assert "the tempo map alone gives 1.000; dataset.neutralize=[tempo] removes it" in text  # (velocity too)
    assert rec["metadata_f1_velocity"] == rec["metadata_f1_tempo"] == 1.0 and rec["metadata_f1_programs"] < 0.7

    r = run(compose(tiny_overrides(data, tmp_path / "neutral", *ARGS, "dataset.neutralize=[velocity,tempo]")))
    for rec in r.records:  # every mode and the control: not told apart from guessing
        assert rec["score_low"] < rec["guess_f1"] and rec["metadata_score_low"] < rec["guess_f1"], rec["mode"]
        assert not rec["metadata_close"]
    notes = r.steps["notes"].artifact
    assert set(notes["notes"]["velocity"].tolist()) == {64}
    np.testing.assert_array_equal(notes["notes"]["onset_s"], notes["notes"]["onset"] * 0.5)
    assert {p["tempo_bpm"] for p in notes["pieces"]} == {120.0} and notes.meta["summary"]["neutralized"]


def test_the_graph_can_leave_out_metadata_nodes(compose, tmp_path):
    data = twin_dataset(tmp_path / "midi", n=3)
    base = tiny_overrides(data, tmp_path, "steps.train.modes=[emb_only]", "dataset.labels.columns=[dynamics]",
                          "steps.train.n_splits=2", *SMALL_EMB)
    full = run(compose(base)).steps["graph"].artifact
    cut = run(compose(base + ["steps.graph.omit=[velocity,tempo,time_signature,program]"])).steps["graph"].artifact
    assert cut.hash != full.hash
    kinds_full, kinds_cut = full["info"]["nodes_per_kind"], cut["info"]["nodes_per_kind"]
    assert all(kinds_full[k] > 0 for k in ("vel", "tempo", "program"))
    assert all(kinds_cut[k] == 0 for k in ("vel", "tempo", "timesig", "program"))
    assert all(kinds_cut[k] == kinds_full[k] for k in ("piece", "group", "note", "dur"))


def test_near_duplicates_under_other_names_land_in_one_group(compose, tmp_path):
    """A melody transposed, re-rhythmed and re-harmonised under another name, and a plain copy,
    join the group of the original; distinct melodies keep their own groups."""
    rng = np.random.default_rng(3)
    mel = melodies(rng, 9)
    root = tmp_path / "midi"
    rows = []
    for i, notes in enumerate(mel):
        write_midi(root / f"piece_{i}.mid", notes)
        rows.append((f"piece_{i}.mid", "a" if i % 2 else "b", f"work{i}"))
    top = [n for n in mel[0] if n is max((m for m in mel[0] if m[0] == n[0]), key=lambda m: m[2])]
    variant = [(o * 1.5, d * 1.5, p + 5, 70) for o, d, p, _ in top]  # transposed, slower, melody alone
    write_midi(root / "other_name.mid", variant)
    write_midi(root / "copy_of_piece_0.mid", mel[0])
    rows += [("other_name.mid", "b", "work_x"), ("copy_of_piece_0.mid", "b", "work_y")]
    with open(root / "labels.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([("file", "style", "work")] + rows)
    over = tiny_overrides(root, tmp_path, "dataset.labels.columns=[style]", "dataset.labels.group_column=work",
                          "steps.train.n_splits=2", "steps.train.min_class_count=1")
    r = run(compose(over))
    labels = r.steps["labels"].artifact
    group = dict(zip(labels["labels"]["piece"].tolist(), labels["labels"]["group"].tolist()))
    assert labels["report"]["duplicates"] == [["copy_of_piece_0.mid", "other_name.mid", "piece_0.mid"]]
    assert group["other_name.mid"] == group["copy_of_piece_0.mid"] == group["piece_0.mid"]
    assert len({group[f"piece_{i}.mid"] for i in range(9)}) == 9
    preds = r.steps["train"].artifact["predictions"]
    fold = dict(zip(preds["piece"].tolist(), preds["fold"][0].tolist()))
    assert fold["other_name.mid"] == fold["copy_of_piece_0.mid"] == fold["piece_0.mid"]  # one test fold
    assert r.steps["labels"].artifact.meta["summary"]["duplicate_sets"] == 1
    off = run(compose(over + ["dataset.labels.duplicates=off"])).steps["labels"].artifact
    assert off["report"]["duplicates"] == [] and len(set(off["labels"]["group"].tolist())) == 11


def test_metadata_features_take_their_vocabulary_from_the_training_rows():
    from musicexp.features.metadata import MetaBlock

    pieces = [{"id": f"p{i}", "tempo_bpm": 100.0 + i, "tempo_changes": 0, "tempo_range_bpm": [100.0 + i] * 2,
               "time_signatures": ["4/4"] if i < 3 else ["3/4"], "key_signatures": ["0:0"]} for i in range(4)]
    notes = {"offsets": np.array([0, 2, 4, 6, 8]), "velocity": np.array([60, 80, 70, 70, 64, 64, 90, 10]),
             "program": np.zeros(8, int), "is_drum": np.zeros(8, bool), "track": np.array([0, 1, 0, 0, 0, 1, 0, 1])}
    block = MetaBlock({"notes": notes, "pieces": pieces}, ["p3", "p0", "p1"], {})
    X = block.matrix(np.array([1, 2]))  # p0, p1: 4/4 only
    assert X.shape == (3, 10 + 1 + 1 + 1)  # numeric, {4/4}, {0:0}, {p0}: no column for the unseen 3/4
    assert X[0, 10] == 0 and X[1, 10] == 1  # p3 (3/4) has no 4/4
    np.testing.assert_allclose(X[1, :10], [np.log(100), 0, 0, 70, 10, 60, 80, 2, 0.5, 2])
    np.testing.assert_allclose(X[0, 3:10], [50, 40, 10, 90, 2, 0.5, 2])
    np.testing.assert_allclose(X[2, 9], 1)  # p1: both notes on track 0
    fam = {k: v.tolist() for k, v in block.families(np.array([1, 2])).items()}
    assert fam == {"tempo": [0, 1, 2], "velocity": [3, 4, 5, 6, 7, 8], "tracks": [9], "time_signatures": [10],
                   "key_signatures": [11], "programs": [12]}
    assert block.families(np.array([0, 1]))["time_signatures"].tolist() == [10, 11]  # 3/4 and 4/4 seen


@pytest.mark.parametrize("what", [["velocity"], ["tempo"], ["time_signature", "key_signature"]])
def test_neutralizing_changes_the_notes_hash_and_nothing_else_of_the_config(compose, tiny_data, tmp_path, what):
    from musicexp.data.dataset import open_dataset
    from musicexp.engine.plan import plan

    def hashes(*extra):
        cfg = compose(tiny_overrides(tiny_data, tmp_path, *extra))
        return {k: n.hash for k, n in plan(cfg, open_dataset(cfg.dataset, tiny_data, progress=False)).items()}

    a, b = hashes(), hashes(f"dataset.neutralize=[{','.join(what)}]")
    assert a["notes"] != b["notes"] and a["labels"] != b["labels"]  # everything downstream of the notes


def test_an_unknown_neutralize_name_is_a_config_error(compose, tiny_data, tmp_path):
    from musicexp.engine.validate import ConfigError

    with pytest.raises(ConfigError, match=r"dataset.neutralize=\['volume'\] is not allowed"):
        run(compose(tiny_overrides(tiny_data, tmp_path, "dataset.neutralize=[volume]")))


def test_the_prefix_filtered_join_finds_exactly_the_pairs_of_all_pairs_jaccard():
    """similar_pairs compares only pairs that meet in a rare-first prefix; it must return every
    pair whose Jaccard index reaches the threshold, and only those (brute force over all pairs),
    including pairs exactly at the threshold where the float product is not (0.07 * 100)."""
    import itertools

    from musicexp.data.duplicates import similar_pairs

    rng = np.random.default_rng(0)
    for trial in range(200):
        vocab, t = int(rng.integers(3, 60)), float(rng.choice([0.2, 0.35, 0.5, 1 / 3]))
        sets = [set(rng.integers(0, vocab, int(rng.integers(0, 25))).tolist()) for _ in range(int(rng.integers(2, 30)))]
        for j in rng.integers(0, len(sets), len(sets) // 3):  # planted near-copies
            copy = set(sorted(sets[j])[1:]) | {int(rng.integers(0, vocab))}
            sets.append(copy)
        brute = {(a, b) for a, b in itertools.combinations(range(len(sets)), 2)
                 if sets[a] and sets[b] and len(sets[a] & sets[b]) / len(sets[a] | sets[b]) >= t}
        assert set(similar_pairs(sets, t)) == brute, trial
    below = [set(range(20)), set(range(13, 20)) | set(range(100, 113))]  # 7 shared of 33 < 0.35
    edge = [set(range(100)), set(range(7))]  # J = 7 / 100 = 0.07 exactly, though 0.07 * 100 > 7 in floats
    assert list(similar_pairs(below, 0.35)) == [] and list(similar_pairs(edge, 0.07)) == [(0, 1)]


def meter_and_style_dataset(root, per_cell: int = 4):
    """Two tasks: `style` lives in the notes only (helpers.STYLES: scale and rhythm), `meter` in
    the MIDI time signature only (3/4, 4/4 or 6/8, drawn independently of the notes)."""
    import symusic

    from helpers import STYLES, style_notes

    rng = np.random.default_rng(3)
    rows = []
    for style in STYLES:
        for meter in ("3/4", "4/4", "6/8"):
            for i in range(per_cell):
                name = f"{style}_{meter.replace('/', '-')}_{i}.mid"
                path = write_midi(root / name, style_notes(style, rng))
                score = symusic.Score(str(path))
                num, den = map(int, meter.split("/"))
                score.time_signatures.append(symusic.TimeSignature(0, num, den))
                score.dump_midi(str(path))
                rows.append((name, style, meter))
    with open(root / "labels.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([("file", "style", "meter")] + rows)
    return root


def test_the_control_is_judged_per_task_and_names_the_family_that_carries_it(compose, tmp_path, caplog):
    import logging

    data = meter_and_style_dataset(tmp_path / "midi")
    args = tiny_overrides(data, tmp_path, "steps.train.modes=[sgt_only]", "steps.sgt.token_mode=pitch_class",
                          "dataset.labels.duplicates=off", "dataset.labels.columns=[style,meter]")
    with caplog.at_level(logging.INFO, logger="musicexp"):
        (rec,) = run(compose(args)).records
    assert rec["meter_metadata_f1"] == 1.0 and rec["meter_metadata_family"] == "time_signatures"
    assert rec["meter_metadata_f1_time_signatures"] == 1.0 and rec["meter_metadata_f1_tempo"] < 0.5
    assert rec["style_metadata_f1_high"] < 0.8 and rec["style_f1_low"] > rec["style_metadata_f1"]
    assert rec["meter_metadata_close"] and not rec["style_metadata_close"] and rec["metadata_close"]
    assert rec["derived_tasks"] == {}  # meter was drawn independently of style
    text = "\n".join(caplog.messages)
    assert ("NOTE: meter: the metadata-only control reaches 1.000, within the interval of sgt_only: meter can be "
            "predicted from edition metadata") in text
    assert "time signatures alone give 1.000; dataset.neutralize=[time_signature] removes them" in text
    assert "NOTE: style:" not in text
    # neutralized, the time signatures are gone and the control falls to guessing on meter too
    (rec,) = run(compose(args + ["dataset.neutralize=[time_signature]"])).records
    assert not rec["meter_metadata_close"] and rec["meter_metadata_f1_low"] < 1 / 3


def test_every_metadata_family_has_its_advice():
    from musicexp.evaluation.headline import REMEDY
    from musicexp.features.metadata import FAMILIES

    assert set(REMEDY) == set(FAMILIES)
