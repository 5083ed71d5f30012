"""The SGT token modes that hear rhythm and melody, against hand-worked values, and the promise
that adding them changed nothing for the modes that existed before (hashes and numbers).

The literal digests in OLD_* were computed by the functions below running on main's code
(commit 9d5392a, before these modes existed):
    cd /tmp && <main>/.venv/bin/python -c "import sys; sys.path.insert(0, '<worktree>/tests');
        import test_token_modes as t; print(t.plan_hashes()); print(t.old_mode_output_digests())"
(from /tmp, so that `musicexp` is main's package).
"""

from __future__ import annotations

import hashlib
import logging

import numpy as np
import pytest

# settings that existed before the new modes: their plan hashes must not move
OLD_SETTINGS = {
    "interval": ["steps.sgt.token_mode=interval"],
    "pitch": ["steps.sgt.token_mode=pitch"],
    "pitch_class": ["steps.sgt.token_mode=pitch_class"],
    "prog_pitch": ["steps.sgt.token_mode=prog_pitch"],
    "interval_index_drums": ["steps.sgt.token_mode=interval", "steps.sgt.time_axis=index",
                             "steps.sgt.include_drums=true", "steps.sgt.max_dt_beats=null"],
    "legacy_sgt": ["steps/sgt=legacy", "steps.sgt.token_mode=interval"],
    "experiment_legacy": ["experiment=legacy"],
    "folk_pitch": ["dataset=folk", "steps.sgt.token_mode=pitch"],
}


class _StubDataset:
    """plan() needs the data identity of notes and labels only; constants make the hashes
    depend on the settings alone (not on files, their mtimes or paths)."""

    id = "stub"

    def notes_identity(self):
        return {"stub": "notes"}

    def labels_identity(self):
        return {"stub": "labels"}


def _compose(overrides):
    from hydra import compose, initialize_config_module

    from musicexp.app import setup

    setup()
    with initialize_config_module(config_module="musicexp.conf", version_base="1.3"):
        return compose(config_name="config", overrides=overrides)


def plan_hashes() -> dict:
    """Setting name -> {step: hash} of the full plan (notes .. train) under a stub dataset."""
    from musicexp.engine.plan import plan

    return {name: {k: n.hash for k, n in plan(_compose(ov), _StubDataset()).items()}
            for name, ov in OLD_SETTINGS.items()}


def synthetic_notes() -> tuple[dict, list]:
    """A deterministic note table (no random generator, no MIDI writer): 3 pieces, 2-3 tracks,
    chords, unisons across tracks, a drum track, onsets exact in ticks."""
    cols = {k: [] for k in ("track", "program", "is_drum", "pitch", "velocity", "onset", "duration")}
    offsets = [0]
    for p in range(3):
        for tr in range(2 + (p == 1)):
            drum = p == 2 and tr == 1
            for i in range(40 + 7 * p):
                onset = (i * (3 + tr + p) // 2) * 0.25
                pitch = 36 + (i * 5 + tr * 7 + p * 3) % 37 if not drum else 35 + i % 12
                for extra in ((0,) if i % 4 else (0, 4, 7)):
                    cols["track"].append(tr)
                    cols["program"].append((tr * 24 + p * 40) % 128)
                    cols["is_drum"].append(drum)
                    cols["pitch"].append(pitch + extra)
                    cols["velocity"].append(64)
                    cols["onset"].append(onset)
                    cols["duration"].append(0.25 * (1 + i % 6))
        offsets.append(len(cols["pitch"]))
    dtypes = {"track": np.int16, "program": np.int16, "is_drum": np.bool_, "pitch": np.int16,
              "velocity": np.int16, "onset": np.float64, "duration": np.float64}
    notes = {k: np.asarray(v, dtype=dtypes[k]) for k, v in cols.items()}
    notes["offsets"] = np.asarray(offsets, np.int64)
    pieces = [{"id": f"p{p}.mid", "tpq": 480} for p in range(3)]
    return notes, pieces


def _digest_outputs(out: dict) -> str:
    h = hashlib.sha256()
    for k in ("piece", "pair", "w", "c"):
        h.update(np.ascontiguousarray(out["pairs"][k]).tobytes())
    h.update(np.ascontiguousarray(out["token_counts"]).tobytes())
    h.update(repr(sorted(out["info"].items())).encode())
    return h.hexdigest()[:16]


OLD_OUTPUT_SETTINGS = [(mode, drums, axis, tie) for mode in ("pitch_class", "prog_pitch", "pitch", "interval")
                       for drums in (False, True) for axis in ("beats", "index") for tie in ("pitch", "file")]


def old_mode_output_digests() -> dict:
    """(mode, include_drums, time_axis, tie_break) -> digest of the sgt artifact's arrays."""
    from musicexp.features.sgt.events import sgt_pair_sums

    notes, pieces = synthetic_notes()
    out = {}
    for mode, drums, axis, tie in OLD_OUTPUT_SETTINGS:
        o, _ = sgt_pair_sums(notes, pieces, alpha=0.8, max_dt=8.0, token_mode=mode, time_axis=axis,
                             tie_break=tie, include_drums=drums)
        out["/".join(map(str, (mode, drums, axis, tie)))] = _digest_outputs(o)
    return out


# computed on main's code (see the module docstring); plan hashes: sgt and train, first 20 hex digits
# (train's are kept as computed, for the record; the tests compare sgt's)
#: main's default run (token_mode was prog_pitch by default there)
MAIN_DEFAULT = {'sgt': '75dd11fd0007608d62d9', 'train': '1b5a60a3839608f4b34c'}
OLD_PLAN_HASHES = {'interval': {'sgt': '990617451ea9a409069d', 'train': '120a6b0e73603644e311'},
 'pitch': {'sgt': '93ee74a0d02f9bfa864c', 'train': 'eaaffc557f6e60284456'},
 'pitch_class': {'sgt': 'd01ff8830f893c8f70d9', 'train': 'ac4a18aa1757dd8b9eda'},
 'prog_pitch': {'sgt': '75dd11fd0007608d62d9', 'train': '1b5a60a3839608f4b34c'},
 'interval_index_drums': {'sgt': '94528c0511707537f318', 'train': '3dc80aa86704c7cfe04f'},
 'legacy_sgt': {'sgt': 'eb42e2498e09feb03561', 'train': 'd47b3ade30bbcb9c6d8a'},
 'experiment_legacy': {'sgt': '84519a4ea8eacc9ca580', 'train': '057bbf017a8b896d2fc0'},
 'folk_pitch': {'sgt': '93ee74a0d02f9bfa864c', 'train': 'eaaffc557f6e60284456'}}

OLD_OUTPUT_DIGESTS = {'pitch_class/False/beats/pitch': '304909c13f623b35',
 'pitch_class/False/beats/file': 'b5707cb5552b6061',
 'pitch_class/False/index/pitch': '361048feacf8350b',
 'pitch_class/False/index/file': '4b2eb57ea5eb13ff',
 'pitch_class/True/beats/pitch': '4ad12ffbbd5c7515',
 'pitch_class/True/beats/file': '56b3d4d3f8a7fe63',
 'pitch_class/True/index/pitch': '34a83b6c841d5bc1',
 'pitch_class/True/index/file': '3e0457a555f7cb67',
 'prog_pitch/False/beats/pitch': '3cce76297c796fbb',
 'prog_pitch/False/beats/file': '5e2a15ca4bcf387a',
 'prog_pitch/False/index/pitch': '76ea3e9cf42b33e3',
 'prog_pitch/False/index/file': '2d13764cc024c44f',
 'prog_pitch/True/beats/pitch': '3503506a57ba25ac',
 'prog_pitch/True/beats/file': '84446f0b4b3a0908',
 'prog_pitch/True/index/pitch': 'e11cb99890acbbb9',
 'prog_pitch/True/index/file': '16fcfe0f58712c65',
 'pitch/False/beats/pitch': '9ed897d103eaf781',
 'pitch/False/beats/file': 'f31847f9596cf886',
 'pitch/False/index/pitch': '38a4e75622ad0852',
 'pitch/False/index/file': '18b38d1aa23735d1',
 'pitch/True/beats/pitch': '1bfd73f23f12ac2e',
 'pitch/True/beats/file': 'eeb03a53dfc017c9',
 'pitch/True/index/pitch': 'bbe175b5c03cff63',
 'pitch/True/index/file': '2126af31ca53ecfb',
 'interval/False/beats/pitch': '798c7992962b4925',
 'interval/False/beats/file': 'c436129fb8a6d644',
 'interval/False/index/pitch': '05c012c81ed69887',
 'interval/False/index/file': 'f38cc33ba68defc4',
 'interval/True/beats/pitch': '4eb8fdc618150751',
 'interval/True/beats/file': 'dc5c62503464b6f6',
 'interval/True/index/pitch': 'cc9d04a145a0b79b',
 'interval/True/index/file': 'b056e6a03f331dc3'}


def test_old_settings_keep_their_plan_hashes():
    # the sgt hash is what these modes could move; train's also holds train's own version and
    # defaults (which other branches change), so only the sgt hashes are compared literally
    got = {k: v["sgt"][:20] for k, v in plan_hashes().items()}
    assert got == {k: v["sgt"] for k, v in OLD_PLAN_HASHES.items()}


def test_default_is_ioi_and_prog_pitch_keeps_the_old_default_hash():
    """The default token mode changed (prog_pitch -> ioi, docs/sgt.md): the default run gets a new
    sgt hash, and token_mode=prog_pitch written out gets exactly main's default hash."""
    cfg = _compose([])
    assert cfg.steps.sgt.token_mode.value == "ioi"
    assert plan_hashes()["prog_pitch"]["sgt"][:20] == MAIN_DEFAULT["sgt"]
    from musicexp.engine.plan import plan

    assert plan(cfg, _StubDataset())["sgt"].hash[:20] != MAIN_DEFAULT["sgt"]


def test_old_modes_compute_the_same_artifact():
    got = old_mode_output_digests()
    assert got == OLD_OUTPUT_DIGESTS


def test_interval_alias_warns_and_keeps_raw_pitch(caplog):
    from musicexp.engine.validate import validate

    with caplog.at_level(logging.WARNING, logger="musicexp"):
        validate(_compose(["steps.sgt.token_mode=interval"]))
    text = caplog.text
    assert "token_mode=pitch for the same numbers" in text and "token_mode=melodic_interval" in text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="musicexp"):
        validate(_compose(["steps.sgt.token_mode=pitch"]))
    assert "token_mode=interval" not in caplog.text
    from musicexp.features.sgt.events import sgt_pair_sums

    notes, pieces = synthetic_notes()
    a, _ = sgt_pair_sums(notes, pieces, alpha=0.8, max_dt=8.0, token_mode="interval", time_axis="beats",
                         tie_break="pitch", include_drums=False)
    b, _ = sgt_pair_sums(notes, pieces, alpha=0.8, max_dt=8.0, token_mode="pitch", time_axis="beats",
                         tie_break="pitch", include_drums=False)
    for k in ("piece", "pair", "w", "c"):
        assert np.array_equal(a["pairs"][k], b["pairs"][k])


# --------------------------------------------------------------------------- hand-worked tokens

def _table(rows, offsets=None):
    """rows: (track, pitch, onset, duration[, is_drum])."""
    rows = [r + (False,) * (5 - len(r)) for r in rows]
    return {"track": np.array([r[0] for r in rows], np.int16), "program": np.zeros(len(rows), np.int16),
            "is_drum": np.array([r[4] for r in rows], bool), "pitch": np.array([r[1] for r in rows], np.int16),
            "velocity": np.full(len(rows), 64, np.int16), "onset": np.array([r[2] for r in rows], float),
            "duration": np.array([r[3] for r in rows], float),
            "offsets": np.array(offsets or [0, len(rows)], np.int64)}


def test_time_classes_by_hand():
    from musicexp.features.sgt.events import N_DUR, time_class

    # class = round(2 * log2(beats)) + 8, clipped to 0..14
    beats = [1.0, 0.5, 0.75, 1.5, 2.0, 0.25, 1 / 3, 3.0, 8.0, 100.0, 1 / 16, 0.0, 0.001]
    want = [8, 6, 7, 9, 10, 4, 5, 11, 14, 14, 0, 0, 0]
    assert time_class(np.array(beats)).tolist() == want
    assert N_DUR == 15


def test_melodic_interval_and_ioi_by_hand():
    from musicexp.features.sgt.events import N_INTERVAL, N_IOI, part_context, tokenize

    # piece 0, track 0 in file order out of time order: C4 (0, 1 beat), E4 (1, 0.5), a chord
    # D4+G4 at 1.5, then A3 at 3.5 (20 semitones below G4: clipped to -12).
    # track 1 (same piece): a lone note (first and last). piece 1: the same line transposed +5.
    rows = [(0, 64, 1.0, 0.5), (0, 60, 0.0, 1.0), (0, 67, 1.5, 1.0), (0, 62, 1.5, 1.0), (0, 47, 3.5, 0.5),
            (1, 72, 0.0, 4.0),
            (0, 65, 0.0, 1.0), (0, 69, 1.0, 0.5), (0, 67, 1.5, 1.0), (0, 72, 1.5, 1.0), (0, 52, 3.5, 0.5)]
    notes = _table(rows, [0, 6, 11])
    iv, ioi = part_context(notes)
    first, last = N_INTERVAL - 1, N_IOI - 1
    # intervals: E4-C4=+4, D4-E4=-2 and G4-E4=+3 (chord notes from the previous top E4),
    # A3-G4 = -20 -> -12; token = interval + 12
    want_iv = [16, first, 15, 10, 0, first, first, 16, 10, 15, 0]
    assert iv.tolist() == want_iv
    # IOI: C4->E4 1 beat (8), E4->chord 0.5 (6), chord->A3 2 beats (10), A3 last
    want_ioi = [6, 8, 10, 10, last, last, 8, 6, 10, 10, last]
    assert ioi.tolist() == want_ioi
    # transposition-invariant: piece 1 is piece 0's line + 5 (the notes in another file order)
    tok, keep, n = tokenize(notes, "interval_ioi", False)
    assert n == N_INTERVAL * N_IOI and keep.all()
    assert tok.tolist() == [a * N_IOI + b for a, b in zip(want_iv, want_ioi)]
    assert sorted(tok[:5].tolist()) == sorted(tok[6:].tolist())
    tok, _, n = tokenize(notes, "duration", False)
    assert n == 15 and tok.tolist() == [6, 8, 8, 8, 6, 12, 8, 6, 8, 8, 6]
    tok, _, n = tokenize(notes, "pitch_class_duration", False)
    assert n == 180 and tok[:2].tolist() == [4 * 15 + 6, 0 * 15 + 8]
    assert tokenize(notes, "melodic_interval", False)[0].tolist() == want_iv
    assert tokenize(notes, "ioi", False)[0].tolist() == want_ioi


def test_drums_and_token_range():
    from musicexp.features.sgt.events import N_BASE, tokenize

    notes, _ = synthetic_notes()
    for mode in ("melodic_interval", "duration", "ioi", "pitch_class_duration", "interval_ioi"):
        for drums in (False, True):
            tok, keep, n = tokenize(notes, mode, drums)
            assert n == N_BASE[mode] + 128 * drums
            assert tok.min() >= 0 and tok.max() < n
            assert keep.tolist() == ((~notes["is_drum"]) | drums).tolist()
            if drums:
                d = notes["is_drum"]
                assert (tok[d] == N_BASE[mode] + notes["pitch"][d]).all()


@pytest.mark.parametrize("mode", ["melodic_interval", "duration", "ioi", "pitch_class_duration", "interval_ioi"])
def test_new_modes_do_not_depend_on_track_order(mode):
    """Two parts sounding the same pitch at the same time with different durations / lines: the
    features are the same whichever track comes first in the file."""
    from musicexp.features.sgt.events import sgt_pair_sums

    a = [(0, 60, 0.0, 1.0), (0, 62, 1.0, 1.0), (0, 64, 2.0, 2.0), (1, 55, 0.0, 0.5), (1, 62, 1.0, 0.5),
         (1, 64, 2.0, 0.5), (1, 57, 2.5, 0.5)]
    b = [(1 - r[0],) + r[1:] for r in a[3:]] + [(1 - r[0],) + r[1:] for r in a[:3]]
    outs = []
    for rows in (a, b):
        o, _ = sgt_pair_sums(_table(rows), [{"id": "x", "tpq": 480}], alpha=0.8, max_dt=8.0, token_mode=mode,
                             time_axis="beats", tie_break="pitch", include_drums=False)
        outs.append(o)
    for k in ("pair", "w", "c"):
        assert np.array_equal(outs[0]["pairs"][k], outs[1]["pairs"][k]), k


def test_new_modes_run_as_config_values():
    from musicexp.engine.validate import validate

    for mode in ("melodic_interval", "duration", "ioi", "pitch_class_duration", "interval_ioi"):
        cfg = _compose([f"steps.sgt.token_mode={mode}"])
        validate(cfg)
        assert cfg.steps.sgt.token_mode.value == mode
