"""User-facing bugs: a symlinked class folder, label errors that do not help, a silent gc."""

from __future__ import annotations

import os
import re

import numpy as np
import pytest

from helpers import make_dataset, style_notes, tiny_overrides, write_midi
from musicexp.data.labels import LabelError
from musicexp.engine.runner import run
from musicexp.tools.cache_cli import main as cache_main

FOLDER = ("dataset.labels.source=folder", "dataset.labels.columns=[]")


def test_symlinked_class_folder_is_read_and_loops_and_second_links_are_reported(compose, tmp_path):
    """data_root/jazz -> a folder on "another disk": its files are scored with the label "jazz";
    a second link to it and a link back to data_root are listed (never followed, never silent)."""
    rng = np.random.default_rng(5)
    data, elsewhere = tmp_path / "midi", tmp_path / "other_disk" / "jazz_files"
    for style, folder in (("alpha", data / "classical"), ("beta", data / "pop"), ("gamma", elsewhere)):
        for k in range(6):
            write_midi(folder / f"{style}_{k}.mid", style_notes(style, rng))
    os.symlink(elsewhere, data / "jazz")
    os.symlink(elsewhere, data / "zz_jazz_again")  # a second link to the same folder
    os.symlink(data, data / "pop" / "back_to_root")  # a loop: a link to data_root itself
    r = run(compose(tiny_overrides(data, tmp_path, *FOLDER)))
    notes = r.steps["notes"].artifact
    pieces = [p["id"] for p in notes["pieces"]]
    assert sorted(f"jazz/gamma_{k}.mid" for k in range(6)) == [p for p in pieces if p.startswith("jazz/")]
    assert len(pieces) == 18 == len(set(pieces))  # each file once, nothing read through the loop
    lab = r.steps["labels"].artifact["labels"]
    assert sorted(set(lab["label"])) == ["classical", "jazz", "pop"] and len(lab["piece"]) == 18
    errors = {e["file"]: e["reason"] for e in notes["errors"]}
    assert set(errors) == {"pop/back_to_root", "zz_jazz_again"}
    assert errors["zz_jazz_again"] == ("symlinked folder already read as 'jazz' (a second link to the same "
                                       "folder); its files are listed once")
    assert errors["pop/back_to_root"] == ("symlinked folder already read as data_root (a loop: it points back "
                                          "to a folder above it); its files are listed once")
    assert r.records[0]["n_pieces"] == 18


def test_regex_that_matches_no_file_names_the_pattern_and_a_file(compose, tmp_path):
    data = make_dataset(tmp_path / "midi")  # alpha_00.mid ... gamma_07.mid: 24 files
    pattern = r"^XMIDI_(?P<emotion>[^_]+)_"
    with pytest.raises(LabelError) as exc:
        run(compose(tiny_overrides(data, tmp_path, "dataset.labels.source=regex",
                                   f"dataset.labels.pattern='{pattern}'", "dataset.labels.columns=[]")))
    msg = str(exc.value)
    assert pattern in msg and "0 of 24" in msg and "file name" in msg and "alpha_00.mid" in msg
    assert "CSV" not in msg


def test_folder_labels_with_files_at_the_top_level_say_so(compose, tmp_path):
    data = make_dataset(tmp_path / "midi")
    with pytest.raises(LabelError) as exc:
        run(compose(tiny_overrides(data, tmp_path, *FOLDER)))
    msg = str(exc.value)
    assert "sub-folder" in msg and "alpha_00.mid" in msg and "CSV" not in msg


def test_csv_labels_that_match_no_file_show_both_sides(compose, tmp_path):
    data = make_dataset(tmp_path / "midi")
    text = (data / "labels.csv").read_text()
    (data / "labels.csv").write_text(re.sub(r"(?m)^(\w+_\d+\.mid)", r"midi/\1", text))  # wrong prefix
    with pytest.raises(LabelError) as exc:
        run(compose(tiny_overrides(data, tmp_path)))
    msg = str(exc.value)
    assert "relative to data_root" in msg and "'alpha_00.mid'" in msg and "'midi/alpha_00.mid'" in msg


def test_gc_says_why_it_removes_nothing_right_after_runs(compose, tmp_path, tiny_data, capsys):
    for a in (0.8, 1.5):
        run(compose(tiny_overrides(tiny_data, tmp_path, f"steps.sgt.alpha={a}")))
    root, results = tmp_path / "artifacts", tmp_path / "results" / "results.jsonl"
    capsys.readouterr()
    gc = ["--artifacts", str(root), "gc", "--results", str(results), "--keep-last", "1"]
    assert cache_main(gc) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("would remove 0 folder(s), 0 B; dry run: add --yes")
    assert "2 matching artifact(s) younger than the 1-hour grace period kept (--min-age-hours 0 to include them)" in last
    assert cache_main([*gc, "--min-age-hours", "0"]) == 0
    out = capsys.readouterr().out
    assert out.count("would remove  tiny/") == 2 and "grace period" not in out
    assert out.strip().splitlines()[-1].startswith("would remove 2 folder(s)")


def test_a_pattern_without_source_regex_is_named_not_a_missing_csv(compose, tmp_path, caplog):
    import logging

    data = make_dataset(tmp_path / "midi")
    (data / "labels.csv").unlink()
    over = tiny_overrides(data, tmp_path, "dataset.labels.pattern='^(?P<composer>[a-z]+)_'",
                          "dataset.labels.columns=[composer]")
    with pytest.raises(LabelError, match=r"dataset.labels.pattern '\^\(\?P<composer>\[a-z\]\+\)_' is given but "
                                         r"read only with dataset.labels.source=regex"):
        run(compose(over))
    make_dataset(tmp_path / "midi")  # with a CSV the pattern is ignored, and the log says so
    with caplog.at_level(logging.WARNING, logger="musicexp"):
        run(compose(over))
    assert "dataset.labels.pattern '^(?P<composer>[a-z]+)_' is ignored" in caplog.text


def test_singular_and_plural_in_the_messages():
    from musicexp.evaluation.folds import plural

    assert [plural(1, "groups"), plural(2, "groups"), plural(1, "pieces"), plural(0, "pieces"),
            plural(1, "classes"), plural(3, "classes")] == ["1 group", "2 groups", "1 piece", "0 pieces", "1 class",
                                                            "3 classes"]


def test_an_id_like_column_is_blamed_before_a_real_task_with_rare_classes(compose, tmp_path):
    """region (2 classes) would score; meter has one rare class (2 pieces) besides two good ones; id has
    a class per piece. The error blames id, and suggests every task that would score."""
    from musicexp.evaluation.folds import TrainError

    rng = np.random.default_rng(0)
    root = tmp_path / "midi"
    meters = ["jig"] * 8 + ["reel"] * 6 + ["waltz"] * 2
    for region in ("north", "south"):
        for i, meter in enumerate(meters):
            write_midi(root / f"{region}_{meter}_{i + 100 * (region == 'south'):03d}.mid",
                       style_notes("alpha" if region == "north" else "beta", rng))
    over = tiny_overrides(root, tmp_path, "dataset.labels.source=regex", "dataset.labels.columns=[]",
                          "dataset.labels.pattern='^(?P<region>[a-z]+)_(?P<meter>[a-z]+)_(?P<id>[0-9]+)'")
    with pytest.raises(TrainError) as exc:
        run(compose(over))
    msg = str(exc.value)
    assert msg.startswith("task 'id' has 32 of 32 classes with fewer than 3 pieces (e.g. '000': 1 piece, ")
    assert "looks like an identifier" in msg and "dataset.labels.columns=[region,meter]" in msg
