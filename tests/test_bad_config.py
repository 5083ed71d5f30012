"""Bad config: every mistake fails before any work, exits non-zero, names the key and what is
allowed, and writes no artifact. Rare classes are dropped (min_class_count) with a warning."""

from __future__ import annotations

import csv
import logging
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from helpers import make_dataset, run_cli, style_notes, tiny_overrides, write_midi
from musicexp.engine.runner import run

# (override(s), [what the message must contain: the key, and the allowed values or rule])
CASES = {
    "unknown key": (["steps.sgt.nope=1"], ["steps.sgt.nope", "unknown config key", "musicexp --help"]),
    "unknown key forced in with +": (["+steps.sgt.aplha=1"],
                                     ["steps.sgt.aplha: unknown key", "did you mean steps.sgt.alpha?"]),
    "wrong type (int)": (["steps.train.n_splits=abc"], ["steps.train.n_splits", "could not be converted to Integer"]),
    "wrong type (bool)": (["resume=maybe"], ["full_key: resume", "not a valid bool"]),
    "alpha = 0": (["steps.sgt.alpha=0"], ["steps.sgt.alpha=0", "must be > 0"]),
    "alpha < 0": (["steps.sgt.alpha=-0.5"], ["steps.sgt.alpha=-0.5", "must be > 0"]),
    "top_vocab < 1": (["steps.sgt.top_vocab=0"], ["steps.sgt.top_vocab=0", "must be >= 1"]),
    "unknown token_mode": (["steps.sgt.token_mode=chords"],
                           ["steps.sgt.token_mode", "expected one of [pitch_class, prog_pitch, pitch, interval, "
                            "melodic_interval, duration, ioi, pitch_class_duration, interval_ioi]"]),
    "unknown mode": (["steps.train.modes=[foo]"],
                     ["steps.train.modes", "unknown mode 'foo'", "allowed: sgt_only, emb_only, stats_only, meta_only, early_fusion, late_fusion"]),
    "unknown on_error": (["dataset.on_error=ignore"], ["dataset.on_error", "expected one of [skip, raise]"]),
    "n_splits > every class": (["steps.train.n_splits=6"], ["steps.train.n_splits=6", "allowed: at most 4"]),
    "n_splits > smallest class (min_class_count lowered)": (
        ["steps.train.n_splits=6", "steps.train.min_class_count=2"],
        ["steps.train.n_splits=6 is larger than the smallest class", "at most 4"]),
    "n_splits < 2": (["steps.train.n_splits=1"], ["steps.train.n_splits=1", "must be >= 2"]),
    "min_class_count < 1": (["steps.train.min_class_count=0"], ["steps.train.min_class_count=0", "must be >= 1"]),
    "missing data_root": (["dataset.data_root=???"], ["dataset.data_root", "missing value"]),
    "data_root not a folder": (["dataset.data_root=/nonexistent/folder"], ["dataset.data_root", "is not a folder"]),
    "label regex without named groups": (["dataset.labels.source=regex", "dataset.labels.pattern='^(.*)$'"],
                                         ["dataset.labels.pattern", "needs named groups"]),
    "task not a label column": (["steps.train.task=mood"],
                                ["steps.train.task='mood'", "allowed: ['composer', 'era', 'both', 'all']"]),
    "label columns not in the CSV": (["dataset.labels.columns=[mood]"],
                                     ["dataset.labels.columns", "the labels have columns"]),
    "labels CSV missing": (["dataset.labels.csv=nope.csv"], ["dataset.labels.csv", "not found"]),
    "dataset id escaping the store": (["dataset.id=../elsewhere"], ["dataset.id='../elsewhere'", "letters, digits"]),
    "unknown step in skip": (["skip=[embedz]"], ["skip=['embedz']", "step names are embed, graph, labels, notes, sgt, stats, train"]),
}


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory) -> dict:
    """Run every bad command once (three at a time); each in its own folder."""
    base = tmp_path_factory.mktemp("badcfg")
    data = make_dataset(base / "midi", per_class=4)  # composer: 4 per class; era: old 8, new 4

    def one(item):
        name, (overrides, _) = item
        work = base / f"{list(CASES).index(name):02d}_{re.sub(r'[^A-Za-z0-9]+', '_', name)}"
        work.mkdir()
        proc = run_cli(tiny_overrides(data, work, *overrides), work, check=False, timeout=120)
        return name, (proc, work)

    with ThreadPoolExecutor(3) as pool:
        return dict(pool.map(one, CASES.items()))


@pytest.mark.parametrize("name", list(CASES))
def test_bad_config_fails_before_any_work_and_says_what_is_allowed(name, outcomes):
    proc, work = outcomes[name]
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    for needle in CASES[name][1]:
        assert needle in out, (needle, out)
    assert not (work / "artifacts").exists(), "an artifact was written"
    assert not (work / "results").exists()
    assert "Traceback" not in out


# --------------------------------------------------------------------- rare classes


def _with_rare_class(root: Path) -> Path:
    """The tiny dataset plus 2 pieces of a 4th composer (era 'new') and 1 of a 5th."""
    make_dataset(root, per_class=6)
    rng = np.random.default_rng(5)
    rows = [("delta_00.mid", "delta", "new"), ("delta_01.mid", "delta", "new"), ("eps_00.mid", "epsilon", "old")]
    for name, _, _ in rows:
        write_midi(root / name, style_notes("gamma", rng))
    with open(root / "labels.csv", "a", newline="") as fh:
        csv.writer(fh).writerows(rows)
    return root


def test_rare_classes_are_dropped_with_a_warning_and_counted(compose, tmp_path, caplog):
    data = _with_rare_class(tmp_path / "midi")
    with caplog.at_level(logging.WARNING, logger="musicexp"):
        r = run(compose(tiny_overrides(data, tmp_path)))
    (rec,) = r.records
    warning = " ".join(m for m in caplog.messages if "min_class_count" in m)
    assert "composer: delta (2 pieces), epsilon (1 piece)" in warning and "18 of 21 pieces kept" in warning
    assert rec["n_pieces"] == 18 and rec["n_pieces_labelled"] == 21
    assert rec["n_pieces_composer"] == rec["n_pieces_era"] == 18  # the pieces each task was scored on
    assert rec["dropped_classes"] == {"composer": {"delta": {"groups": 2, "pieces": 2},
                                                   "epsilon": {"groups": 1, "pieces": 1}}, "era": {}}
    assert rec["min_class_count"] == 3 and rec["stratified_on"] == "composer+era"  # joint stratification
    assert rec["composer_n_classes"] == 3


def test_min_class_count_is_its_own_key(compose, tmp_path):
    data = _with_rare_class(tmp_path / "midi")
    r = run(compose(tiny_overrides(data, tmp_path, "steps.train.n_splits=2", "steps.train.min_class_count=2",
                                   "steps.train.task=composer")))
    (rec,) = r.records
    assert rec["dropped_classes"] == {"composer": {"epsilon": {"groups": 1, "pieces": 1}}} and rec["n_pieces"] == 20
    assert rec["tasks"] == ["composer"] and rec["stratified_on"] == "composer" and rec["n_pieces_composer"] == 20


def test_single_task_keeps_what_only_the_other_task_would_drop(compose, tmp_path):
    data = _with_rare_class(tmp_path / "midi")
    r = run(compose(tiny_overrides(data, tmp_path, "steps.train.task=era")))
    (rec,) = r.records
    assert rec["dropped_classes"] == {"era": {}} and rec["n_pieces"] == 21 and rec["n_pieces_era"] == 21
