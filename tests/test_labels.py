"""Label sources: CSV, sub-folder name, filename regex (XMIDI layout); bad files reported."""

import numpy as np
import pytest

from helpers import STYLES, style_notes, tiny_overrides, write_midi
from musicexp.engine.runner import run
from musicexp.data.labels import LabelError


def _folder_dataset(root):
    rng = np.random.default_rng(1)
    for style in STYLES:
        for k in range(6):
            write_midi(root / style / f"{k}.mid", style_notes(style, rng))
    return root


def test_folder_labels(compose, tmp_path):
    data = _folder_dataset(tmp_path / "midi")
    (data / "broken.mid").write_bytes(b"not midi")  # top-level and corrupt: reported, not fatal
    r = run(compose(tiny_overrides(data, tmp_path, "dataset.labels.source=folder",
                                   "dataset.labels.folder_column=genre", "dataset.labels.columns=[]")))
    lab = r.steps["labels"].artifact
    assert set(lab["labels"]["genre"]) == set(STYLES) and len(lab["labels"]["piece"]) == 18
    assert r.records[0]["tasks"] == ["genre"]
    errors = r.steps["notes"].artifact["errors"]
    assert [e["file"] for e in errors] == ["broken.mid"] and "unreadable" in errors[0]["reason"]


def test_xmidi_regex_labels(compose, tmp_path):
    rng = np.random.default_rng(2)
    data = tmp_path / "xmidi"
    emotions = {"alpha": "happy", "beta": "sad", "gamma": "angry"}
    for style in STYLES:
        for k in range(6):
            genre = "pop" if k % 2 else "rock"
            write_midi(data / f"XMIDI_{emotions[style]}_{genre}_{style}{k:03d}.midi", style_notes(style, rng))
    write_midi(data / "README_not_xmidi.mid", style_notes("alpha", rng))  # no label: reported
    pattern = r"^XMIDI_(?P<emotion>[^_]+)_(?P<genre>[^_]+)_(?P<id>.+)\.midi?$"
    r = run(compose(tiny_overrides(data, tmp_path, "dataset.labels.source=regex",
                                   f"dataset.labels.pattern='{pattern}'",
                                   "dataset.labels.columns=[emotion,genre]")))
    lab = r.steps["labels"].artifact
    assert lab["report"]["unlabeled_pieces"] == ["README_not_xmidi.mid"]
    assert sorted(set(lab["labels"]["emotion"])) == ["angry", "happy", "sad"]
    rec = r.records[0]
    assert rec["tasks"] == ["emotion", "genre"] and "emotion_f1_mean" in rec and "genre_f1_mean" in rec


def test_labels_csv_problems_are_named(compose, tmp_path, tiny_data):
    with pytest.raises(LabelError, match=r"dataset.labels.columns names \['mood'\]"):
        run(compose(tiny_overrides(tiny_data, tmp_path, "dataset.labels.columns=[mood]")))
    with pytest.raises(LabelError, match="labels file .* not found"):
        run(compose(tiny_overrides(tiny_data, tmp_path, "dataset.labels.csv=nope.csv")))


# --------------------------------------------------------------------------- tasks that are functions of others

def test_derived_tasks_names_a_label_that_is_a_function_of_another():
    from musicexp.data.labels import derived_tasks

    composer = np.array(["bach", "bach", "mozart", "haydn", "palestrina", "palestrina"] * 2)
    era = np.array(["baroque", "baroque", "classical", "classical", "renaissance", "renaissance"] * 2)
    mood = np.array(["sad", "glad", "sad", "glad", "sad", "glad"] * 2)  # independent of both
    table = {"composer": composer, "era": era, "mood": mood}
    assert derived_tasks(table, ["composer", "era", "mood"]) == {"era": "composer"}
    assert derived_tasks(table, ["era", "composer"]) == {"era": "composer"}  # whatever the column order
    assert derived_tasks(table, ["composer", "mood"]) == {}
    # one partition under two names: the later column is the derived one
    code = np.array(["B", "B", "M", "H", "P", "P"] * 2)
    assert derived_tasks({"composer": composer, "code": code}, ["composer", "code"]) == {"code": "composer"}
    assert derived_tasks({"composer": composer, "code": code}, ["code", "composer"]) == {"composer": "code"}
    # an id-like column (a class per piece) would "determine" everything: it is no source
    ids = np.array([f"p{i}" for i in range(12)])
    assert derived_tasks({"id": ids, "mood": mood}, ["id", "mood"]) == {}
    # a column with a single class is no task to derive
    assert derived_tasks({"composer": composer, "one": np.array(["x"] * 12)}, ["composer", "one"]) == {}


def test_the_labels_step_names_a_derived_task(compose, tmp_path, tiny_data):
    r = run(compose(tiny_overrides(tiny_data, tmp_path)))
    art = r.steps["labels"].artifact
    assert art["report"]["derived"] == {"era": "composer"}
    assert art.meta["summary"]["derived"] == "era of composer"
