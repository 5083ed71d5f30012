"""MIDI2vec as the original code computes it (steps/graph=published, docs/midi2vec.md), the
legacy defaults kept bit for bit, and the optional rhythm nodes."""

from __future__ import annotations

import hashlib
import json
import types
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest

from musicexp.core.registry import identity_params
from musicexp.data.midi import read_notes
from musicexp.features.midi2vec.graph import build_graph, kinds_for, onset_groups, round_class
from musicexp.steps.graph import GraphConf, graph_options, header_pieces, run as graph_run

PUBLISHED = dict(max_groups=None, grouping="onset", rounding="half_up", time_signatures="first",
                 default_tempo=False, drums="program")


# --------------------------------------------------------------------------- a hand-written file


def write_hand_midi(path: Path) -> Path:
    """tpq 480, no tempo event (120 bpm: 1 tick = 1/960 s), time signatures 3/4 then 2/4.

    track 0 (program 0): 60 at tick 0 for 240 ticks (0.25 s); 64 at tick 6 (0.00625 s) for 96
    ticks (0.1 s); 67 at tick 12 (0.0125 s) for 96 ticks; 72 at tick 1920 (2 s) for 1200 ticks
    (1.25 s). Drum track (program 5): 36 at tick 1920 for 192 ticks (0.2 s). Velocities 100.
    """
    import symusic

    score = symusic.Score(480)
    score.time_signatures.append(symusic.TimeSignature(0, 3, 4))
    score.time_signatures.append(symusic.TimeSignature(1920, 2, 4))
    tr = symusic.Track("melody", 0, False)
    for on, dur, pitch in ((0, 240, 60), (6, 96, 64), (12, 96, 67), (1920, 1200, 72)):
        tr.notes.append(symusic.Note(on, dur, pitch, 100))
    drums = symusic.Track("drums", 5, True)
    drums.notes.append(symusic.Note(1920, 192, 36, 100))
    score.tracks.append(tr)
    score.tracks.append(drums)
    score.dump_midi(str(path))
    return path


def graph_of_file(path: Path, **opts):
    res = read_notes(path)
    notes = dict(res["columns"])
    notes["offsets"] = np.array([0, len(notes["pitch"])], np.int64)
    pieces = [{"id": "hand", "n_notes": len(notes["pitch"]),
               **{k: res[k] for k in ("tempo_bpm", "tempo_changes", "time_signatures")}}]
    conf = GraphConf(**opts)
    return build_graph(notes, header_pieces(pieces, conf, lambda rel: path), **graph_options(conf)), res


def node_and_edge_sets(g):
    keys = [str(k) for k in g["node_key"]]
    edges = set()
    for a in range(len(keys)):
        for b in g["indices"][g["indptr"][a]:g["indptr"][a + 1]]:
            edges.add(frozenset((keys[a], keys[int(b)])))
    return set(keys), edges


def test_published_graph_of_a_hand_written_file(tmp_path):
    """Worked by hand from midi2edgelist's rules: one group per distinct onset with every note
    within 0.01 s either side (0, 0.00625 and 0.0125 s give three overlapping groups), classes
    by Math.round (0.25 s -> dur:3, 1.25 s -> dur:13), the first time signature (3/4, although
    the file also has 2/4, which sorts first), no tempo node (the file has no tempo event), and
    the drum track linked by its program number."""
    g, res = graph_of_file(write_hand_midi(tmp_path / "hand.mid"), **PUBLISHED)
    assert res["time_signatures"] == ["2/4", "3/4"] and res["tempo_bpm"] == 120.0  # what the notes table keeps
    groups = {"group:60-64|d3": [60, 64], "group:60-64-67|d3": [60, 64, 67], "group:64-67|d1": [64, 67],
              "group:36-72|d13": [36, 72]}
    dur = {"group:60-64|d3": "dur:3", "group:60-64-67|d3": "dur:3", "group:64-67|d1": "dur:1",
           "group:36-72|d13": "dur:13"}
    want_nodes = {"piece:hand", *groups, "notes/36", "notes/60", "notes/64", "notes/67", "notes/72",
                  "dur:1", "dur:3", "dur:13", "vel:8", "program:0", "program:5", "timesig:3/4"}
    want_edges = {frozenset(("piece:hand", gk)) for gk in groups}
    want_edges |= {frozenset((gk, f"notes/{p}")) for gk, ps in groups.items() for p in ps}
    want_edges |= {frozenset((gk, dur[gk])) for gk in groups} | {frozenset((gk, "vel:8")) for gk in groups}
    want_edges |= {frozenset(("piece:hand", k)) for k in ("program:0", "program:5", "timesig:3/4")}
    nodes, edges = node_and_edge_sets(g)
    assert nodes == want_nodes
    assert edges == want_edges


def test_legacy_graph_of_the_same_file(tmp_path):
    """Today's defaults on the same file: anchor groups ({0, 0.00625} then {0.0125}), halves to
    even (0.25 s -> dur:2, 1.25 s -> dur:12), every time signature, tempo:12 for the 120 bpm
    default, program:drums."""
    g, _ = graph_of_file(write_hand_midi(tmp_path / "hand.mid"))
    nodes, edges = node_and_edge_sets(g)
    assert {n for n in nodes if n.startswith("group:")} == {"group:60-64|d2", "group:67|d1", "group:36-72|d12"}
    assert {n for n in nodes if n.split(":")[0] in ("program", "tempo", "timesig")} == {
        "program:0", "program:drums", "tempo:12", "timesig:2/4", "timesig:3/4"}
    assert frozenset(("piece:hand", "tempo:12")) in edges


def test_onset_groups_overlap_and_match_the_anchor_rule_on_quantised_onsets():
    members, starts, anchor = onset_groups(np.zeros(3, np.int64), np.array([0.012, 0.0, 0.006]))
    groups = [sorted(members[a:b].tolist()) for a, b in zip(starts, np.append(starts[1:], len(members)))]
    assert groups == [[1, 2], [0, 1, 2], [0, 2]] and anchor.tolist() == [1, 2, 0]
    # strict window: 0.01 apart is not within (the anchor rule's <= would join them)
    members, starts, _ = onset_groups(np.zeros(2, np.int64), np.array([0.0, 0.25]))
    assert starts.tolist() == [0, 1] and members.tolist() == [0, 1]
    # quantised onsets (>= window apart) in two pieces: both rules give the same groups
    piece = np.array([0, 0, 0, 1, 1, 0])
    t = np.array([0.5, 0.0, 0.5, 0.0, 0.0, 1.0])
    m1, s1, _ = onset_groups(piece, t)
    from musicexp.features.midi2vec.graph import group_notes
    o2, s2 = group_notes(piece, t)
    assert m1.tolist() == o2.tolist() and s1.tolist() == s2.tolist()


def test_round_class_half_up_is_javascript_math_round():
    x = np.array([0.5, 1.5, 2.5, -0.5, -1.5, 0.49999999999999994, 12.5, 3.2, 3.7])
    assert round_class(x, "half_up").tolist() == [1, 2, 3, 0, -1, 0, 13, 3, 4]
    assert round_class(x, "half_even").tolist() == [0, 2, 2, 0, -2, 0, 12, 3, 4]


# --------------------------------------------------------------------------- legacy outputs kept


def synthetic(seed=7, n_pieces=12):
    """A collection with chains of close onsets, drums, halves, several tempos and time signatures."""
    rng = np.random.default_rng(seed)
    cols = {k: [] for k in ("program", "is_drum", "pitch", "velocity", "onset_s", "duration_s", "onset", "duration")}
    pieces, counts = [], []
    for i in range(n_pieces):
        n = int(rng.integers(5, 400))
        grid = rng.choice([0.25, 0.125, 1 / 3], size=n)
        on_b = np.round(np.cumsum(rng.integers(0, 3, n) * grid), 6)
        on_s = on_b * 0.5 + rng.choice([0, 0, 0.004, 0.009, 0.011], n)
        drum = rng.random(n) < 0.1
        cols["program"] += rng.choice([0, 0, 40, 73], n).tolist()
        cols["is_drum"] += drum.tolist()
        cols["pitch"] += rng.integers(30, 90, n).tolist()
        cols["velocity"] += rng.integers(1, 128, n).tolist()
        cols["onset_s"] += on_s.tolist()
        cols["onset"] += on_b.tolist()
        dur = rng.choice([0.05, 0.25, 0.35, 0.45, 1.25, 0.5], n)
        cols["duration_s"] += dur.tolist()
        cols["duration"] += (dur * 2).tolist()
        counts.append(n)
        ts = [["4/4"], ["3/4", "6/8"], [], ["2/4"]][i % 4]
        pieces.append({"id": f"p{i:02d}.mid", "n_notes": n, "tpq": 480, "tempo_bpm": [120.0, 125.0, 95.0, 66.0][i % 4],
                       "tempo_changes": 0, "time_signatures": ts})
    notes = {k: np.array(v) for k, v in cols.items()}
    notes["is_drum"] = notes["is_drum"].astype(bool)
    notes["offsets"] = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return notes, pieces


def digest(graph) -> str:
    h = hashlib.sha256()
    for k in sorted(graph):
        a = np.ascontiguousarray(graph[k])
        h.update(k.encode())
        h.update(str(a.dtype).encode())
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()


# computed with main's code (commit 9d5392a), before the options of the published code existed
LEGACY = [
    ({}, 863, 10400, "9d113099cfdbff5a49813e5be81d24e1400094ea1c110a27d26a296f89366a06"),
    ({"max_groups": 20}, 295, 2002, "5f383616e2b9479a129dc7cacffd2575eebff7c7c01bfcdf868573ccaaf20896"),
    ({"omit": ("tempo", "velocity")}, 849, 7412, "efaa678236c0315eb8813b92fd576aa3923a32d2e45131605fac101bf95f12e2"),
]


@pytest.mark.parametrize("kw,n_nodes,n_indices,want", LEGACY)
def test_legacy_defaults_give_main_s_graph_bit_for_bit(kw, n_nodes, n_indices, want):
    notes, pieces = synthetic()
    g = build_graph(notes, pieces, **kw)
    assert (len(g["node_key"]), len(g["indices"])) == (n_nodes, n_indices)
    assert digest(g) == want
    # the explicit legacy values are the defaults
    g2 = build_graph(notes, pieces, **kw, grouping="anchor", rounding="half_even", drums="shared", rhythm=())
    assert digest(g2) == want


def test_legacy_step_outputs_and_hash_identity_unchanged():
    """The step with its defaults: the same outputs (no new output, info with the 8 kinds) and
    the same hashed options as before (new options at their legacy value are left out)."""
    notes, pieces = synthetic()
    out, summary = graph_run({"notes": {"notes": notes, "pieces": pieces}}, GraphConf(), types.SimpleNamespace())
    assert sorted(out) == ["graph", "info"]
    assert digest(out["graph"]) == LEGACY[0][3]
    assert out["info"]["kinds"] == ["piece", "group", "note", "dur", "vel", "program", "tempo", "timesig"]
    defaults = {f.name: getattr(GraphConf(), f.name) for f in fields(GraphConf)}
    kept = identity_params(GraphConf, json.loads(json.dumps(defaults, default=lambda e: e.value)))
    assert sorted(kept) == ["duration_step_s", "group_window_s", "max_groups", "omit", "tempo_step_bpm",
                            "velocity_bins"]


def test_published_options_change_the_synthetic_graph():
    notes, pieces = synthetic()
    legacy = build_graph(notes, pieces)
    for kw in ({"max_groups": 20}, {"grouping": "onset"}, {"rounding": "half_up"}, {"drums": "program"}):
        assert digest(build_graph(notes, pieces, **kw)) != digest(legacy), kw
    # every synthetic piece has fewer than 600 groups: no cap is the same graph here, a cap of 20 is not
    assert digest(build_graph(notes, pieces, max_groups=None)) == digest(legacy)
    assert digest(build_graph(notes, pieces, max_groups=None)) != digest(build_graph(notes, pieces, max_groups=20))


def test_bad_graph_options_are_named():
    notes, pieces = synthetic(n_pieces=2)
    with pytest.raises(ValueError, match="grouping='x'"):
        build_graph(notes, pieces, grouping="x")
    with pytest.raises(ValueError, match="rhythm"):
        build_graph(notes, pieces, rhythm=("swing",))
    bad = types.SimpleNamespace(omit=[], rhythm=["swing"])
    assert any("rhythm" in p for p in GraphConf.problems(bad))


# --------------------------------------------------------------------------- rhythm nodes


def test_rhythm_nodes_by_hand():
    """One piece, beats: groups at 0, 0.5, 0.75 and 1 + 1/3 (seconds = beats / 2).
    IOIs 0.5, 0.25, 7/12 beats -> ioi:6, ioi:3, ioi:7 (twelfths); the last group has none.
    Positions in the beat 0, 0.5, 0.75, 1/3 -> beat:0, beat:6, beat:9, beat:4."""
    on_b = np.array([0.0, 0.5, 0.75, 1 + 1 / 3])
    notes = {"pitch": np.array([60, 62, 64, 65]), "velocity": np.full(4, 64), "program": np.zeros(4, int),
             "is_drum": np.zeros(4, bool), "onset": on_b, "onset_s": on_b / 2, "duration_s": np.full(4, 0.2),
             "offsets": np.array([0, 4])}
    pieces = [{"id": "r", "n_notes": 4, "tempo_bpm": 120.0, "time_signatures": []}]
    g = build_graph(notes, pieces, rhythm=("ioi", "beat_position"))
    _, edges = node_and_edge_sets(g)
    rh = {tuple(sorted(e)) for e in edges if any(k.startswith(("ioi:", "beat:")) for k in e)}
    assert rh == {("beat:0", "group:60|d2"), ("group:60|d2", "ioi:6"), ("beat:6", "group:62|d2"),
                  ("group:62|d2", "ioi:3"), ("beat:9", "group:64|d2"), ("group:64|d2", "ioi:7"),
                  ("beat:4", "group:65|d2")}
    assert kinds_for(("ioi", "beat_position"))[-2:] == ("ioi", "beat")
    plain = build_graph(notes, pieces)
    keep = [k for k in g["node_key"].tolist() if not k.startswith(("ioi:", "beat:"))]
    assert keep == plain["node_key"].tolist()  # rhythm nodes come after every other kind
