"""The `stats` step: global notes-only statistics, checked on hand-built pieces against values
worked out by hand, the vectorised computation against a plain per-piece one on real pieces,
and the reference row it gives every run (records, console, table) end to end."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest

from helpers import run_step, tiny_overrides, write_midi
from musicexp.features import stats as S


def table(*pieces, tpq=None):
    """A note table (the notes step's columns + offsets) of pieces given as lists of
    (onset, duration, pitch[, track[, is_drum]])."""
    rows = [(k, *n, *(0, False)[len(n) - 3:]) for k, piece in enumerate(pieces) for n in piece]
    cols = {"track": np.array([r[4] for r in rows], np.int16), "program": np.zeros(len(rows), np.int16),
            "is_drum": np.array([r[5] for r in rows], bool), "pitch": np.array([r[3] for r in rows], np.int16),
            "velocity": np.full(len(rows), 64, np.int16), "onset": np.array([r[1] for r in rows], float),
            "duration": np.array([r[2] for r in rows], float)}
    cols["offsets"] = np.concatenate([[0], np.cumsum([len(p) for p in pieces])]).astype(np.int64)
    return cols


def stats_of(*pieces, tpq=None) -> list[dict]:
    X = S.compute(table(*pieces), tpq)
    return [dict(zip(S.NAMES, row)) for row in X]


SCALE = [(float(t), 1.0, p) for t, p in enumerate([60, 62, 64, 65, 67, 69, 71, 72])]  # C major, one beat each
DOTTED = [(0.0, 1.5, 67), (1.5, 0.5, 67), (2.0, 1.5, 67), (3.5, 0.5, 67), (4.0, 1.0, 67)]
CHORDS = [(0.0, 2.0, p) for p in (60, 64, 67)] + [(2.0, 2.0, p) for p in (55, 59, 62)]
TRIPLET = [(0.0, 1 / 3, 72), (1 / 3, 1 / 3, 74), (2 / 3, 1 / 3, 72), (1.0, 1.0, 71)]


def close(got: dict, want: dict) -> None:
    for k, v in want.items():
        assert got[k] == pytest.approx(v, abs=1e-12), k


def test_the_feature_list_is_complete_and_documented():
    assert len(S.NAMES) == len(set(S.NAMES)) == 93
    assert all(doc for _, doc in S.FEATURES)
    assert sorted(c for cols in S.FAMILIES.values() for c in cols) == list(range(len(S.NAMES)))
    from musicexp.steps.stats import FAMILY_NAMES

    assert tuple(S.FAMILIES) == FAMILY_NAMES
    doc = (Path(__file__).parent.parent / "docs" / "stats.md").read_text()
    missing = [n for n in S.NAMES if n not in doc and not n.startswith(("pc_", "interval_m", "interval_p",
                                                                        "duration_log2_", "ioi_log2_", "bar_"))]
    assert not missing, f"features not in docs/stats.md: {missing}"


def test_a_c_major_scale():
    s = stats_of(SCALE)[0]
    close(s, {"log_notes": math.log(9), "log_span": math.log(9), "pitch_mean": 530 / 8,
              "pitch_std": math.sqrt(sum((p - 66.25) ** 2 for p in (60, 62, 64, 65, 67, 69, 71, 72)) / 8),
              "pitch_min": 60, "pitch_max": 72, "pitch_range": 12, "pc_0": 2 / 8, "pc_2": 1 / 8, "pc_1": 0,
              "pc_11": 1 / 8})
    # intervals +2 +2 +1 +2 +2 +2 +1: all steps, all up, never a change of direction
    close(s, {"interval_p2": 5 / 7, "interval_p1": 2 / 7, "interval_m2": 0, "interval_steps": 1,
              "interval_leaps": 0, "interval_repeats": 0, "interval_mean_abs": 12 / 7, "contour_up": 1,
              "contour_down": 0, "contour_changes": 0})
    close(s, {"duration_log2_0": 1, "duration_log2_mean": 0, "ioi_log2_0": 1, "ioi_log2_mean": 0, "beatpos_0": 1,
              "beatpos_other": 0, "notes_per_beat": 1, "onsets_per_beat": 1, "notes_per_onset": 1, "chord_share": 0,
              "sounding_mean": 1})
    # onsets 0..7: t + 2 is an onset for t = 0..5, t + 3 for 0..4, t + 4 for 0..3, t + 6 for 0, 1; never
    # at 1.5 or 4.5 beats; every inter-onset interval (and the last note) is 1 beat, so weighting changes nothing
    close(s, {"bar_1_5": 0, "bar_2": 6 / 8, "bar_3": 5 / 8, "bar_4": 4 / 8, "bar_4_5": 0, "bar_6": 2 / 8,
              "bar_accent_2": 6 / 8, "bar_accent_6": 2 / 8})


def test_a_dotted_rhythm():
    s = stats_of(DOTTED)[0]
    # IOIs 1.5 0.5 1.5 0.5: round(log2 1.5) = 1 (the 2-beat class), log2 0.5 = -1
    close(s, {"ioi_log2_1": 0.5, "ioi_log2_m1": 0.5, "ioi_log2_0": 0, "ioi_log2_mean": (2 * math.log2(1.5) - 2) / 4,
              "duration_log2_1": 2 / 5, "duration_log2_m1": 2 / 5, "duration_log2_0": 1 / 5,
              "duration_log2_mean": (2 * math.log2(1.5) - 2 + 0) / 5})
    close(s, {"beatpos_0": 3 / 5, "beatpos_1_2": 2 / 5, "beatpos_1_4": 0, "interval_repeats": 1, "interval_p0": 1,
              "contour_up": 0, "contour_changes": 0, "notes_per_beat": 1, "sounding_mean": 1})
    # onsets {0, 1.5, 2, 3.5, 4}; accents (the IOI after each, the last note's duration): 1.5 .5 1.5 .5 1
    # lag 2: 0->2, 1.5->3.5, 2->4 = 3/5; weighted (2.25 + 0.25 + 1.5) / (2.25+.25+2.25+.25+1) = 4/6
    # lag 1.5: 0->1.5, 2->3.5 = 2/5; weighted (0.75 + 0.75) / 6
    close(s, {"bar_2": 3 / 5, "bar_accent_2": 4 / 6, "bar_1_5": 2 / 5, "bar_accent_1_5": 1.5 / 6, "bar_3": 0,
              "bar_4": 1 / 5, "bar_accent_4": 1.5 / 6})


def test_chords_and_voices():
    s = stats_of(CHORDS)[0]
    # the voice of the track is its highest note at each onset: 67 then 62, one interval of -5
    close(s, {"pitch_mean": 367 / 6, "notes_per_onset": 3, "chord_share": 1, "sounding_mean": 12 / 4,
              "notes_per_beat": 6 / 4, "onsets_per_beat": 2 / 4, "interval_m5": 1, "interval_leaps": 1,
              "interval_mean_abs": 5, "contour_down": 1, "ioi_log2_1": 1, "duration_log2_1": 1})
    # the same notes on two tracks (melody 67 -> 62 on track 0, the rest on track 1: 60 64 -> 55 59,
    # voice 64 -> 59): two intervals of -5; the texture is the same
    two = [(o, d, p, 0 if p in (67, 62) else 1) for o, d, p in CHORDS]
    t = stats_of(two)[0]
    close(t, {"interval_m5": 1, "notes_per_onset": 3, "chord_share": 1})
    # direction changes: a voice up, up, down, (repeat), up -> moves + + - + : 2 changes of 3 pairs
    zig = [(float(i), 1.0, p) for i, p in enumerate([60, 62, 64, 60, 60, 65])]
    close(stats_of(zig)[0], {"contour_changes": 2 / 3, "contour_up": 3 / 5, "contour_down": 1 / 5,
                             "interval_repeats": 1 / 5, "interval_m4": 1 / 5, "interval_leaps": 2 / 5})


def test_a_triplet_and_the_positions_in_the_beat():
    for tpq in (None, [480]):  # the sort by ticks and the fallback agree
        s = stats_of(TRIPLET, tpq=tpq)[0]
        close(s, {"beatpos_0": 2 / 4, "beatpos_1_3": 1 / 4, "beatpos_2_3": 1 / 4, "beatpos_1_2": 0,
                  "ioi_log2_m2": 1,  # round(log2 1/3) = round(-1.58) = -2: the quarter-beat class; moves + - -
                  "duration_log2_m2": 3 / 4, "duration_log2_0": 1 / 4, "interval_p2": 1 / 3, "interval_m2": 1 / 3,
                  "interval_m1": 1 / 3, "contour_changes": 1 / 2, "log_span": math.log(3)})
    quarters = [(t / 4, 0.25, 60) for t in range(4)] + [(1.1, 0.1, 60)]
    close(stats_of(quarters)[0], {"beatpos_0": 1 / 5, "beatpos_1_4": 1 / 5, "beatpos_1_2": 1 / 5,
                                  "beatpos_3_4": 1 / 5, "beatpos_other": 1 / 5})


def test_drums_are_left_out_and_a_piece_without_pitched_notes_is_zero():
    drums = [(t / 2, 0.1, 36, 9, True) for t in range(16)]
    with_drums, alone, only_drums = stats_of(DOTTED + drums, DOTTED, drums)
    np.testing.assert_array_equal([with_drums[n] for n in S.NAMES], [alone[n] for n in S.NAMES])
    assert all(v == 0 for v in only_drums.values())
    assert all(v == 0 for v in stats_of([])[0].values())


def test_pieces_are_independent_and_blocks_change_nothing(monkeypatch):
    pieces = [SCALE, DOTTED, CHORDS, TRIPLET, [], SCALE[::-1]]
    whole = S.compute(table(*pieces))
    for k, p in enumerate(pieces):
        np.testing.assert_allclose(whole[k], S.compute(table(p))[0], atol=1e-12)
    monkeypatch.setattr(S, "CHUNK_NOTES", 7)  # blocks of one or two pieces
    np.testing.assert_allclose(S.compute(table(*pieces)), whole, atol=1e-12)


def test_a_real_midi_file_through_the_notes_step(compose, tmp_path):
    """The dotted rhythm written as a MIDI file with a drum track, parsed by the notes step, run
    through the stats step: the values worked out above; the summary counts the drums left out."""
    from musicexp.data.dataset import open_dataset

    data = tmp_path / "midi"
    write_midi(data / "dotted.mid", [(o, d, p, 90) for o, d, p in DOTTED], tpq=96,
               drums=[(t / 2, 0.25, 38, 100) for t in range(8)])
    write_midi(data / "scale.mid", [(o, d, p, 90) for o, d, p in SCALE], tpq=480, tracks=2)
    (data / "labels.csv").write_text("file,composer,era\ndotted.mid,x,y\nscale.mid,z,y\n")
    cfg = compose(tiny_overrides(data, tmp_path, "steps.train.n_splits=2"))
    notes_out, _ = run_step(cfg, "notes", {}, open_dataset(cfg.dataset, data, progress=False))
    out, summary = run_step(cfg, "stats", {"notes": notes_out})
    assert summary == {"pieces": 2, "features": 93, "drum_notes_left_out": 8, "pieces_without_pitched_notes": 0}
    got = dict(zip(out["info"]["names"], out["X"][out["info"]["pieces"].index("dotted.mid")]))
    close(got, {"bar_2": 3 / 5, "bar_accent_2": 4 / 6, "beatpos_1_2": 2 / 5, "ioi_log2_1": 0.5})
    scale = dict(zip(S.NAMES, out["X"][out["info"]["pieces"].index("scale.mid")]))
    # two tracks take the notes in turn: voices C E G B (+4 +3 +4) and D F A C (+3 +4 +3), no step left
    close(scale, {"pitch_mean": 530 / 8, "interval_p4": 3 / 6, "interval_p3": 3 / 6, "interval_steps": 0,
                  "interval_leaps": 1, "interval_mean_abs": 3.5, "bar_2": 6 / 8, "chord_share": 0})
    # the block: the chosen families' columns in label order
    block = S.StatsBlock(out, ["scale.mid", "dotted.mid"], {"families": ["pitch", "bar"]})
    X = block.matrix(np.arange(2))
    assert X.shape == (2, 5 + 12)
    assert X[0, 0] == scale["pitch_mean"] and X[1, 5 + 1] == pytest.approx(3 / 5)
    with pytest.raises(ValueError, match="unknown"):
        S.StatsBlock(out, ["scale.mid"], {"families": ["tempo"]})


def data_100_files(n: int) -> list[Path]:
    root = Path(os.environ.get("MUSICEXP_DATA", "~/.local/share/musicexp")).expanduser() / "Data_100"
    files = sorted(root.glob("*.mid"))
    if not files:
        pytest.skip(f"the embedded dataset data_100 is not built under {root}")
    return files[:: max(1, len(files) // n)][:n]


def test_the_vectorised_statistics_equal_a_plain_per_piece_computation_on_real_pieces():
    from musicexp.data.midi import read_notes

    parsed = [read_notes(f) for f in data_100_files(8)]
    cols = {k: np.concatenate([p["columns"][k] for p in parsed]) for k in parsed[0]["columns"]}
    cols["offsets"] = np.concatenate([[0], np.cumsum([len(p["columns"]["pitch"]) for p in parsed])])
    assert len(np.unique(cols["track"])) > 1  # pieces of several parts: the voices are exercised
    fast = S.compute(cols, [p["tpq"] for p in parsed])
    np.testing.assert_allclose(S.compute(cols), fast, rtol=1e-12, atol=1e-12)  # without ticks: same
    for k in range(len(parsed)):
        np.testing.assert_allclose(fast[k], S.reference(cols, k), rtol=1e-9, atol=1e-12, err_msg=str(k))


def test_stats_only_is_a_default_mode_after_sgt_and_emb_and_joins_the_fusions():
    from musicexp.evaluation.modes import default_modes, fused, parse

    assert default_modes()[:3] == ["sgt_only", "emb_only", "stats_only"]
    assert fused() == ("sgt", "emb", "stats")
    assert parse("early:sgt+emb").blocks == ("sgt", "emb")


def test_a_reference_that_is_not_a_mode_is_a_config_error(compose, tiny_data, tmp_path):
    from musicexp.engine.runner import run
    from musicexp.engine.validate import ConfigError

    with pytest.raises(ConfigError, match="reference='emb_only' is not allowed"):
        run(compose(tiny_overrides(tiny_data, tmp_path, "steps.train.reference=emb_only")))
    with pytest.raises(ConfigError, match="families"):
        run(compose(tiny_overrides(tiny_data, tmp_path, "steps.stats.families=[tempo]")))


def test_a_tiny_run_has_the_reference_row_and_its_comparisons(compose, tiny_data, tmp_path):
    from musicexp.engine.runner import run
    from musicexp.evaluation import metrics
    from musicexp.evaluation.headline import summary_lines
    from musicexp.evaluation.statistics import corrected_resampled_ttest, holm
    from musicexp.tools.report.summary import markdown_table

    r = run(compose(tiny_overrides(tiny_data, tmp_path, "steps.train.modes=[sgt_only,stats_only,early:sgt+stats]")))
    assert r.status()["stats"] == "ran"
    recs = {rec["mode"]: rec for rec in r.records}
    assert list(recs) == ["sgt_only", "stats_only", "early:sgt+stats"]
    ref = recs["stats_only"]
    assert all(rec["reference_mode"] == "stats_only" for rec in recs.values())
    assert ref["diff_to_reference"] is None and ref["p_t_vs_reference_holm"] is None
    # one difference recomputed from the stored out-of-fold predictions
    art = r.steps["train"].artifact
    preds, tasks = art["predictions"], ref["tasks"]

    y, n_classes = _labels_in_order(tiny_data / "labels.csv", list(preds["piece"]), tasks)

    def pooled(mode):  # the headline: pooled macro-F1, mean over tasks and repeats
        return np.mean([metrics.pooled_scores(y[k], p.argmax(1), n_classes[k])["f1"]
                        for k in tasks for p in preds[f"{mode}__{k}__proba"]])

    for m in ("sgt_only", "early:sgt+stats"):
        rec = recs[m]
        assert pooled(m) == pytest.approx(rec["score"], abs=1e-12)
        assert rec["diff_to_reference"] == pytest.approx(pooled(m) - pooled("stats_only"), abs=1e-12)
        assert rec["diff_to_reference_low"] <= rec["diff_to_reference"] <= rec["diff_to_reference_high"]
        for k in tasks:  # per task: the task's own macro-F1 difference
            assert rec[f"{k}_diff_to_reference"] == pytest.approx(rec[f"{k}_f1"] - ref[f"{k}_f1"], abs=1e-12)
        t = corrected_resampled_ttest(np.array(rec["fold_f1"]) - np.array(ref["fold_f1"]), rec["fold_train_mean"],
                                      rec["fold_test_mean"])
        assert rec["p_t_vs_reference"] == pytest.approx(t.p, abs=1e-12)
    adj = holm([recs[m]["p_t_vs_reference"] for m in ("sgt_only", "early:sgt+stats")])
    assert [recs[m]["p_t_vs_reference_holm"] for m in ("sgt_only", "early:sgt+stats")] == pytest.approx(list(adj))
    lines = "\n".join(summary_lines(r.records))
    assert "reference: stats_only" in lines and "modes above the reference stats_only" in lines
    table = "\n".join(markdown_table(r.records))
    assert "vs reference stats_only" in table and "| stats_only |" in table and " reference |" in table
    # another reference, named; and none when stats_only is not run
    r2 = run(compose(tiny_overrides(tiny_data, tmp_path, "steps.train.modes=[sgt_only,stats_only]",
                                    "steps.train.reference=sgt_only")))
    assert r2.records[1]["reference_mode"] == "sgt_only"
    from musicexp.evaluation.figures import modes_figure, reference_of

    assert reference_of(r2.records) == "sgt_only"  # the figure marks the run's own reference
    labels = [t.get_text() for t in modes_figure(r2.records).axes[0].get_yticklabels()]
    assert "sgt_only (reference)" in labels and "stats_only" in labels
    assert r2.records[1]["diff_to_reference"] == pytest.approx(-r.records[0]["diff_to_reference"], abs=1e-12)
    r3 = run(compose(tiny_overrides(tiny_data, tmp_path)))
    assert "reference_mode" not in r3.records[0] and "reference:" not in "\n".join(summary_lines(r3.records))


def _labels_in_order(csv_path: Path, pieces: list[str], tasks: list[str]):
    """Per task the class index of each piece (classes sorted, as train encodes them)."""
    import csv

    with open(csv_path, newline="") as fh:
        rows = {row["file"]: row for row in csv.DictReader(fh)}
    y, n_classes = {}, {}
    for k in tasks:
        classes = sorted({rows[p][k] for p in pieces})
        y[k] = np.array([classes.index(rows[p][k]) for p in pieces])
        n_classes[k] = len(classes)
    return y, n_classes
