"""MIDI2vec graph, walks and word2vec (musicexp.features.midi2vec) on hand-made note tables."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from musicexp.features.midi2vec.graph import KIND_CODE, KINDS, build_graph, group_notes
from musicexp.features.midi2vec.walks import random_walks
from musicexp.features.midi2vec.word2vec import word2vec

ROOT = Path(__file__).resolve().parents[1]


def make_table(pieces_notes: dict[str, list[tuple]], meta: dict[str, dict]):
    """pieces_notes: id -> [(track, program, is_drum, pitch, velocity, onset_s, duration_s)]."""
    cols = {k: [] for k in ("track", "program", "is_drum", "pitch", "velocity", "onset_s", "duration_s")}
    pieces, counts = [], []
    for pid, rows in pieces_notes.items():
        for row in rows:
            for k, v in zip(cols, row):
                cols[k].append(v)
        counts.append(len(rows))
        pieces.append({"id": pid, "n_notes": len(rows), "tpq": 480, **meta[pid]})
    notes = {
        "track": np.array(cols["track"], np.int16),
        "program": np.array(cols["program"], np.int16),
        "is_drum": np.array(cols["is_drum"], bool),
        "pitch": np.array(cols["pitch"], np.int16),
        "velocity": np.array(cols["velocity"], np.int16),
        "onset_s": np.array(cols["onset_s"], np.float64),
        "duration_s": np.array(cols["duration_s"], np.float64),
    }
    notes["onset"] = notes["onset_s"] * 2.0
    notes["duration"] = notes["duration_s"] * 2.0
    notes["offsets"] = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return notes, pieces


def edge_set(g) -> set[frozenset]:
    keys, indptr, indices = g["node_key"], g["indptr"], g["indices"]
    out = set()
    for a in range(len(keys)):
        for b in indices[indptr[a]:indptr[a + 1]]:
            out.add(frozenset((str(keys[a]), str(keys[b]))))
    return out


def check_csr(g):
    indptr, indices = g["indptr"], g["indices"]
    n = len(indptr) - 1
    assert len(g["node_key"]) == len(g["node_kind"]) == n
    assert len(set(g["node_key"].tolist())) == n
    rows = np.repeat(np.arange(n), np.diff(indptr))
    pairs = set(zip(rows.tolist(), indices.tolist()))
    assert len(pairs) == len(indices)  # no duplicate edges
    assert all(a != b for a, b in pairs)  # no self loops
    assert all((b, a) in pairs for a, b in pairs)  # symmetric
    for a in range(n):  # neighbours sorted
        nb = indices[indptr[a]:indptr[a + 1]]
        assert (np.diff(nb) > 0).all()


# (track, program, is_drum, pitch, velocity, onset_s, duration_s); rows deliberately unsorted
TINY = {
    "a": [
        (0, 0, False, 74, 100, 1.012, 0.30),  # chain 1.000/1.006/1.012: 1.012 - 1.000 > 0.01 -> own group
        (0, 0, False, 60, 100, 0.000, 0.50),  # chord whose onsets differ by 0.004 s ...
        (2, 0, True, 36, 127, 3.000, 0.10),  # drum track
        (0, 0, False, 71, 100, 1.006, 0.21),
        (1, 40, False, 64, 80, 0.004, 0.52),  # ... -> group 60-64, max dur 0.52 -> d5, mean vel 90 -> vel:7
        (0, 0, False, 67, 100, 1.000, 0.21),
    ],
    "b": [
        (0, 0, False, 64, 50, 0.5, 0.52),  # same identity as a's first group (60-64|d5), vel 50 -> vel:4
        (0, 0, False, 60, 50, 0.5, 0.40),
        (0, 0, False, 62, 127, 1.5, 1.00),
    ],
    "c": [(0, 0, False, 60, 100, 0.0, 0.5)],
}
TINY_META = {
    "a": {"tempo_bpm": 120.0, "time_signatures": ["3/4", "4/4"]},
    "b": {"tempo_bpm": 100.0, "time_signatures": ["4/4"]},
    "c": {"tempo_bpm": 125.0, "time_signatures": []},  # 12.5 -> half to even -> tempo:12
}


def test_tiny_collection_exact_nodes_and_edges():
    notes, pieces = make_table(TINY, TINY_META)
    g = build_graph(notes, pieces)
    check_csr(g)
    expected_nodes = {
        "piece:a", "piece:b", "piece:c",
        "group:60-64|d5", "group:67-71|d2", "group:74|d3", "group:36|d1", "group:62|d10", "group:60|d5",
        "notes/60", "notes/64", "notes/67", "notes/71", "notes/74", "notes/36", "notes/62",
        "dur:5", "dur:2", "dur:3", "dur:1", "dur:10",
        "vel:7", "vel:4", "vel:8", "vel:10",
        "program:0", "program:40", "program:drums",
        "tempo:12", "tempo:10",
        "timesig:3/4", "timesig:4/4",
    }  # fmt: skip
    assert set(g["node_key"].tolist()) == expected_nodes
    star = {
        "piece:a": ["group:60-64|d5", "group:67-71|d2", "group:74|d3", "group:36|d1",
                    "program:0", "program:40", "program:drums", "tempo:12", "timesig:3/4", "timesig:4/4"],
        "piece:b": ["group:60-64|d5", "group:62|d10", "program:0", "tempo:10", "timesig:4/4"],
        "piece:c": ["group:60|d5", "program:0", "tempo:12"],
        "group:60-64|d5": ["notes/60", "notes/64", "dur:5", "vel:7", "vel:4"],
        "group:67-71|d2": ["notes/67", "notes/71", "dur:2", "vel:8"],
        "group:74|d3": ["notes/74", "dur:3", "vel:8"],
        "group:36|d1": ["notes/36", "dur:1", "vel:10"],
        "group:62|d10": ["notes/62", "dur:10", "vel:10"],
        "group:60|d5": ["notes/60", "dur:5", "vel:8"],
    }  # fmt: skip
    expected_edges = {frozenset((a, b)) for a, bs in star.items() for b in bs}
    assert len(expected_edges) == 39
    assert edge_set(g) == expected_edges
    # node order: pieces in input order, then kinds in KINDS order, each sorted by key
    keys, kinds = g["node_key"].tolist(), g["node_kind"].tolist()
    assert keys[:3] == ["piece:a", "piece:b", "piece:c"]
    assert g["piece_node"].tolist() == [0, 1, 2]
    assert kinds == sorted(kinds)
    rest = [(k, s) for k, s in zip(kinds, keys) if k != KIND_CODE["piece"]]
    assert rest == sorted(rest)
    for k, s in zip(kinds, keys):
        prefix = {"piece": "piece:", "group": "group:", "note": "notes/", "dur": "dur:", "vel": "vel:",
                  "program": "program:", "tempo": "tempo:", "timesig": "timesig:"}[KINDS[k]]  # fmt: skip
        assert s.startswith(prefix)
    assert g["node_kind"].dtype == np.int8 and g["piece_node"].dtype == np.int64


def test_graph_does_not_depend_on_piece_order_except_piece_ids():
    notes, pieces = make_table(TINY, TINY_META)
    rev = {k: TINY[k] for k in reversed(TINY)}
    notes2, pieces2 = make_table(rev, TINY_META)
    g1, g2 = build_graph(notes, pieces), build_graph(notes2, pieces2)
    assert edge_set(g1) == edge_set(g2)
    assert g1["node_key"][3:].tolist() == g2["node_key"][3:].tolist()


def test_max_groups_cut():
    # piece x: 5 groups at 0, 1, 2, 3, 4 s (pitches 60..64); piece y repeats x's 4th group
    x = [(0, 0, False, 60 + i, 100, float(i), 0.5) for i in range(5)]
    y = [(0, 0, False, 63, 100, 0.0, 0.5)]
    notes, pieces = make_table({"x": x, "y": y}, {"x": {"tempo_bpm": 120.0, "time_signatures": []},
                                                  "y": {"tempo_bpm": 120.0, "time_signatures": []}})
    g = build_graph(notes, pieces, max_groups=2)
    check_csr(g)
    edges = edge_set(g)
    linked = {e for e in edges if "piece:x" in e and any(s.startswith("group:") for s in e)}
    assert linked == {frozenset(("piece:x", "group:60|d5")), frozenset(("piece:x", "group:61|d5"))}
    keys = set(g["node_key"].tolist())
    assert "group:62|d5" not in keys and "notes/62" not in keys and "notes/64" not in keys
    # beyond x's cut, but linked by y: a node, linked to y only
    assert "group:63|d5" in keys and frozenset(("piece:y", "group:63|d5")) in edges
    assert frozenset(("piece:x", "group:63|d5")) not in edges
    g_all = build_graph(notes, pieces)
    assert {f"group:{60 + i}|d5" for i in range(5)} <= set(g_all["node_key"].tolist())
    g0 = build_graph(notes, pieces, max_groups=0)
    assert not any(k.startswith(("group:", "notes/", "dur:", "vel:")) for k in g0["node_key"].tolist())


def reference_groups(piece_idx, onset_s, window):
    """Straight from the rule: per piece, sort by onset; join if onset - anchor <= window."""
    groups = []
    for p in np.unique(piece_idx):
        idx = [i for i in range(len(onset_s)) if piece_idx[i] == p]
        idx.sort(key=lambda i: onset_s[i])
        cur, anchor = [], None
        for i in idx:
            if anchor is not None and onset_s[i] - anchor <= window:
                cur.append(i)
            else:
                if cur:
                    groups.append(frozenset(cur))
                cur, anchor = [i], onset_s[i]
        groups.append(frozenset(cur))
    return groups


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_grouping_matches_reference_on_near_ties(seed):
    rng = np.random.default_rng(seed)
    n = 3000
    piece_idx = np.sort(rng.integers(0, 7, n))
    # onsets on a 1 ms..5 ms grid (many exact ties and differences of exactly 0.01), with
    # sub-ulp-ish jitter on a part of them, plus dense chains
    grid = rng.choice([0.001, 0.002, 0.003, 0.005], n)
    onset = np.round(rng.integers(0, 400, n) * grid, 6)
    jitter = rng.random(n) < 0.3
    onset[jitter] += rng.choice([-1e-12, 1e-12, -1e-15, 1e-15], jitter.sum())
    onset = np.maximum(onset, 0.0)
    order, starts = group_notes(piece_idx, onset, 0.01)
    ends = np.append(starts[1:], n)
    mine = [frozenset(order[a:b].tolist()) for a, b in zip(starts, ends)]
    ref = reference_groups(piece_idx, onset, 0.01)
    assert sorted(map(sorted, mine)) == sorted(map(sorted, ref))
    # order is sorted by (piece, onset)
    assert (np.diff(piece_idx[order]) >= 0).all()
    same = np.diff(piece_idx[order]) == 0
    assert (np.diff(onset[order])[same] >= 0).all()


def test_grouping_long_chain_is_exact():
    n = 200_000  # one piece, a note every 4 ms: groups {0, 4, 8 ms}, {12, 16, 20 ms}, ...
    onset = np.arange(n) * 0.004
    order, starts = group_notes(np.zeros(n, np.int64), onset, 0.01)
    ref = reference_groups(np.zeros(3000, np.int64), onset[:3000], 0.01)
    assert [frozenset(order[a:b].tolist()) for a, b in zip(starts[:1000], starts[1:1001])] == ref[:1000]
    assert len(starts) == len(reference_groups(np.zeros(n, np.int64), onset, 0.01))


# --------------------------------------------------------------------------- walks


def small_graph():
    """Undirected graph with a triangle (0-1-2), a pendant path and a hub."""
    edges = [(0, 1), (1, 2), (0, 2), (2, 3), (3, 4), (2, 5), (5, 6), (2, 7)]
    n = 8
    adj = [[] for _ in range(n)]
    for a, b in edges:
        adj[a].append(b)
        adj[b].append(a)
    indptr = np.concatenate([[0], np.cumsum([len(x) for x in adj])]).astype(np.int64)
    indices = np.concatenate([sorted(x) for x in adj]).astype(np.int32)
    return indptr, indices, {(a, b) for a, b in edges} | {(b, a) for a, b in edges}


@pytest.mark.parametrize("p,q", [(1.0, 1.0), (0.5, 2.0), (2.0, 0.5)])
def test_walks_follow_edges(p, q):
    indptr, indices, edges = small_graph()
    roots = np.arange(8)
    w = random_walks(indptr, indices, roots, num_walks=50, walk_length=12, p=p, q=q, seed=3)
    assert w.shape == (8 * 50, 12) and w.dtype == np.int32
    assert (w[:, 0] == np.tile(roots, 50)).all()
    pairs = set(zip(w[:, :-1].ravel().tolist(), w[:, 1:].ravel().tolist()))
    assert pairs <= edges


def test_walks_on_built_graph_follow_edges():
    notes, pieces = make_table(TINY, TINY_META)
    g = build_graph(notes, pieces)
    rows = np.repeat(np.arange(len(g["indptr"]) - 1), np.diff(g["indptr"]))
    edges = set(zip(rows.tolist(), g["indices"].tolist()))
    for p, q in [(1.0, 1.0), (0.5, 2.0)]:
        w = random_walks(g["indptr"], g["indices"], g["piece_node"], num_walks=20, p=p, q=q)
        assert w.shape == (60, 10)
        assert set(zip(w[:, :-1].ravel().tolist(), w[:, 1:].ravel().tolist())) <= edges


def transitions(w):
    return w[:, :-1].ravel(), w[:, 1:].ravel()


def test_uniform_transition_frequencies():
    from scipy.stats import chisquare

    indptr, indices, _ = small_graph()
    w = random_walks(indptr, indices, np.arange(8), num_walks=500, walk_length=10, seed=11)
    a, b = transitions(w)
    for node in (2, 0, 3):  # degrees 5, 2, 2
        nb = indices[indptr[node]:indptr[node + 1]]
        counts = np.array([(b[a == node] == x).sum() for x in nb])
        assert counts.sum() == (a == node).sum() > 500
        assert chisquare(counts).pvalue > 0.001


def test_biased_second_order_probabilities():
    """From 2 reached from 0: weights 1/p to 0, 1 to 1 (adjacent to 0), 1/q to 3, 5, 7."""
    from scipy.stats import chisquare

    indptr, indices, _ = small_graph()
    p, q = 0.5, 2.0
    w = random_walks(indptr, indices, np.arange(8), num_walks=1500, walk_length=8, p=p, q=q, seed=5)
    prev, cur, nxt = w[:, :-2].ravel(), w[:, 1:-1].ravel(), w[:, 2:].ravel()
    sel = (prev == 0) & (cur == 2)
    nb = [0, 1, 3, 5, 7]
    weights = np.array([1 / p, 1.0, 1 / q, 1 / q, 1 / q])
    counts = np.array([(nxt[sel] == x).sum() for x in nb])
    assert counts.sum() == sel.sum() > 1000
    assert chisquare(counts, counts.sum() * weights / weights.sum()).pvalue > 0.001
    # q < 1 favours moving away: from 2 reached from 1, 1/q for 3, 5, 7; 1 for 0; 1/p for 1
    p, q = 2.0, 0.5
    w = random_walks(indptr, indices, np.arange(8), num_walks=1500, walk_length=8, p=p, q=q, seed=6)
    prev, cur, nxt = w[:, :-2].ravel(), w[:, 1:-1].ravel(), w[:, 2:].ravel()
    sel = (prev == 1) & (cur == 2)
    nb = [0, 1, 3, 5, 7]
    weights = np.array([1.0, 1 / p, 1 / q, 1 / q, 1 / q])
    counts = np.array([(nxt[sel] == x).sum() for x in nb])
    assert chisquare(counts, counts.sum() * weights / weights.sum()).pvalue > 0.001


def test_small_p_returns_much_more_often():
    indptr, indices, _ = small_graph()
    deg = np.diff(indptr)
    for p, lo, hi in [(1.0, None, None), (0.02, 0.8, 1.0)]:
        w = random_walks(indptr, indices, np.arange(8), num_walks=300, walk_length=10, p=p, q=1.0, seed=2)
        prev, cur, nxt = w[:, :-2].ravel(), w[:, 1:-1].ravel(), w[:, 2:].ravel()
        hub = deg[cur] == 5  # node 2: uniform return probability 1/5
        ret = (nxt[hub] == prev[hub]).mean()
        if lo is None:
            assert abs(ret - 0.2) < 0.03
        else:  # expected 50 / (50 + 4) = 0.93
            assert lo < ret <= hi


def test_walks_deterministic():
    indptr, indices, _ = small_graph()
    for p, q in [(1.0, 1.0), (0.5, 2.0)]:
        a = random_walks(indptr, indices, np.arange(8), num_walks=20, p=p, q=q, seed=7)
        b = random_walks(indptr, indices, np.arange(8), num_walks=20, p=p, q=q, seed=7)
        c = random_walks(indptr, indices, np.arange(8), num_walks=20, p=p, q=q, seed=8)
        assert (a == b).all()
        assert (a != c).any()


def test_walks_reject_isolated_root():
    indptr = np.array([0, 1, 2, 2], np.int64)  # 0-1 edge, node 2 isolated
    indices = np.array([1, 0], np.int32)
    with pytest.raises(ValueError, match="neighbours"):
        random_walks(indptr, indices, [0, 2])


# --------------------------------------------------------------------------- word2vec

W2V_SCRIPT = textwrap.dedent(
    """
    import hashlib, json, sys
    import numpy as np
    sys.path.insert(0, {root!r})
    from musicexp.features.midi2vec.walks import random_walks
    from musicexp.features.midi2vec.word2vec import word2vec
    indptr = np.array({indptr}, dtype=np.int64)
    indices = np.array({indices}, dtype=np.int32)
    walks = random_walks(indptr, indices, np.arange(7), num_walks=30, walk_length=10, seed=4)
    out = {{}}
    for mode in ("file", "iterable"):
        v = word2vec(walks, 9, dim=16, epochs=2, workers=1, seed=3, corpus=mode)
        out[mode] = hashlib.sha256(v.tobytes()).hexdigest()
        out[mode + "_zero_row"] = bool((v[8] == 0).all() and (v[:7] != 0).any(axis=1).all())
    print(json.dumps(out))
    """
)


def test_word2vec_bit_identical_across_processes():
    indptr, indices, _ = small_graph()
    # n_nodes = 9 > the graph's 8 nodes: node 8 is never walked and must get a zero vector
    script = W2V_SCRIPT.format(root=str(ROOT), indptr=indptr.tolist(), indices=indices.tolist())
    outs = []
    for hashseed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hashseed}
        res = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
        assert res.returncode == 0, res.stderr[-2000:]
        outs.append(json.loads(res.stdout.strip().splitlines()[-1]))
    assert outs[0] == outs[1]
    assert outs[0]["file_zero_row"] and outs[0]["iterable_zero_row"]


def test_word2vec_shape_and_similarity():
    # two disjoint cliques: vectors within a clique are closer than across
    n = 10
    adj = [[j for j in range(5 * (i // 5), 5 * (i // 5) + 5) if j != i] for i in range(n)]
    indptr = np.concatenate([[0], np.cumsum([len(a) for a in adj])]).astype(np.int64)
    indices = np.concatenate(adj).astype(np.int32)
    walks = random_walks(indptr, indices, np.arange(n), num_walks=40, walk_length=10, seed=0)
    v = word2vec(walks, n + 1, dim=16, epochs=5, workers=1, seed=0, sample=0)
    assert v.shape == (n + 1, 16) and v.dtype == np.float32
    assert (v[n] == 0).all()
    u = v[:n] / np.linalg.norm(v[:n], axis=1, keepdims=True)
    sim = u @ u.T
    same = np.equal.outer(np.arange(n) < 5, np.arange(n) < 5)
    off = ~np.eye(n, dtype=bool)
    assert sim[same & off].mean() > sim[~same].mean() + 0.2
