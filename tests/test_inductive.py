"""Inductive MIDI2vec (steps.embed.inductive): per fold, graph and word2vec on the training
pieces only; other pieces from the training pieces they share nodes with; cached per fold."""

from __future__ import annotations

import types

import numpy as np
import pytest

from musicexp.core.registry import Params
from musicexp.engine.cache import ArtifactStore
from musicexp.features.midi2vec.block import EmbBlock
from musicexp.features.midi2vec.graph import build_graph
from musicexp.features.midi2vec.inductive import STEP, fold_embedding, subset_notes
from musicexp.features.midi2vec.word2vec import word2vec
from musicexp.steps import embed as embed_step
from musicexp.steps.graph import GraphConf, graph_options, run as graph_run

OPTS = {"dim": 8, "window": 3, "epochs": 2, "negative": 5, "num_walks": 4, "walk_length": 6, "p": 1.0, "q": 1.0,
        "walk_roots": "all", "seed": 3}


def collection(n_pieces=8, seed=1, shift=()):
    """Pieces p0..p{n-1}: a few shared chords plus piece-specific ones; pieces in `shift` get
    every pitch raised by 30 (new groups no other piece has)."""
    rng = np.random.default_rng(seed)
    cols = {k: [] for k in ("program", "is_drum", "pitch", "velocity", "onset_s", "duration_s", "onset")}
    pieces, counts = [], []
    for i in range(n_pieces):
        chords = [[60, 64, 67], [62, 65, 69], [i % 3 + 50], [55 + i, 59 + i]]
        n = 0
        for k in range(24):
            chord = chords[int(rng.integers(0, len(chords)))]
            for p in chord:
                cols["pitch"].append(p + (30 if i in shift else 0))
                cols["program"].append(0)
                cols["is_drum"].append(False)
                cols["velocity"].append(80)
                cols["onset_s"].append(0.5 * k)
                cols["onset"].append(1.0 * k)
                cols["duration_s"].append(0.5)
                n += 1
        counts.append(n)
        pieces.append({"id": f"p{i}", "n_notes": n, "tempo_bpm": 120.0 + 10 * (i % 2), "time_signatures": ["4/4"]})
    notes = {k: np.array(v) for k, v in cols.items()}
    notes["is_drum"] = notes["is_drum"].astype(bool)
    notes["offsets"] = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return notes, pieces


GRAPH = graph_options(GraphConf())
TRAIN = ["p0", "p2", "p3", "p5", "p6"]
TEST = ["p1", "p4", "p7"]


def run_fold(notes, pieces, train=TRAIN):
    seen = []

    def spy(walks, n_nodes, **kw):  # the real word2vec; the corpus it gets is recorded
        seen.append((np.array(walks), n_nodes))
        return word2vec(walks, n_nodes, **kw)

    g_all = build_graph(notes, pieces, **GRAPH)
    out = fold_embedding(notes, pieces, train, g_all, GRAPH, OPTS, workers=1, train_word2vec=spy)
    return out, seen


def test_no_test_piece_reaches_the_training_graph_or_word2vec():
    notes, pieces = collection()
    out, seen = run_fold(notes, pieces)
    (walks, n_nodes), = seen
    # the graph word2vec learned on is exactly the graph of the training pieces' notes alone
    sub_notes, sub_pieces = subset_notes(notes, pieces, np.array([0, 2, 3, 5, 6]))
    g_train = build_graph(sub_notes, sub_pieces, **GRAPH)
    assert n_nodes == len(g_train["node_key"]) and walks.max() < n_nodes
    keys = set(g_train["node_key"].tolist())
    assert {k for k in keys if k.startswith("piece:")} == {f"piece:{p}" for p in TRAIN}
    g_all = build_graph(notes, pieces, **GRAPH)
    only_test = {str(g_all["node_key"][j]) for i in (1, 4, 7)
                 for j in g_all["indices"][g_all["indptr"][i]:g_all["indptr"][i + 1]]} - keys
    assert any(k.startswith("group:") for k in only_test)  # the test pieces do have groups of their own
    assert not (only_test & keys)
    assert out["train"].tolist() == [p in TRAIN for p in (f"p{i}" for i in range(8))]


def test_changing_the_test_pieces_changes_nothing_learned():
    """The test pieces' notes rewritten (every pitch +30): the same corpus, the same training
    vectors bit for bit (workers=1); only the test pieces' own vectors move."""
    notes, pieces = collection()
    notes2, pieces2 = collection(shift=(1, 4, 7))
    a, seen_a = run_fold(notes, pieces)
    b, seen_b = run_fold(notes2, pieces2)
    assert np.array_equal(seen_a[0][0], seen_b[0][0])
    tr = a["train"]
    assert np.array_equal(a["embedding"][tr], b["embedding"][tr])
    assert not np.array_equal(a["embedding"][~tr], b["embedding"][~tr])


def test_other_pieces_get_the_mean_weighted_by_shared_nodes():
    notes, pieces = collection()
    out, _ = run_fold(notes, pieces)
    g_all = build_graph(notes, pieces, **GRAPH)
    sub_notes, sub_pieces = subset_notes(notes, pieces, np.array([0, 2, 3, 5, 6]))
    g_train = build_graph(sub_notes, sub_pieces, **GRAPH)

    def nbrs(g, node):
        return {str(g["node_key"][j]) for j in g["indices"][g["indptr"][node]:g["indptr"][node + 1]]}

    train_sets = [nbrs(g_train, j) for j in range(len(TRAIN))]
    emb = out["embedding"].astype(np.float64)
    train_vecs = emb[[0, 2, 3, 5, 6]]
    for i in (1, 4, 7):
        w = np.array([len(nbrs(g_all, i) & s) for s in train_sets], dtype=np.float64)
        assert w.min() >= 2  # program:0 and 4/4 at least; tempo and groups add to it
        want = (w @ train_vecs) / w.sum()
        np.testing.assert_allclose(emb[i], want, rtol=1e-5, atol=1e-6)


def _store_with_artifacts(tmp_path, notes, pieces, graph_conf=None):
    store = ArtifactStore(tmp_path / "artifacts")
    na = store.commit("ds", "notes", "n" * 64, {"notes": notes, "pieces": pieces}, {"params": {}, "upstream": {}})
    conf = graph_conf or GraphConf()
    gout, _ = graph_run({"notes": na}, conf, types.SimpleNamespace())
    ga = store.commit("ds", "graph", "g" * 64, gout, {"params": {"max_groups": conf.max_groups},
                                                     "upstream": {"notes": na.hash}})
    params = Params({**OPTS, "inductive": True, "workers": 1}, "steps.embed")
    ctx = types.SimpleNamespace(settings=types.SimpleNamespace(workers=1), progress=False)
    eout, summary = embed_step.run({"graph": ga}, params, ctx)
    assert "embedding" not in eout and summary["inductive"]
    ea = store.commit("ds", "embed", "e" * 64, eout, {"params": OPTS, "upstream": {"graph": ga.hash}})
    return store, ea


def test_block_embeds_each_fold_once_and_caches_it(tmp_path):
    notes, pieces = collection()
    store, ea = _store_with_artifacts(tmp_path, notes, pieces)
    labelled = ["p7", "p6", "p5", "p4", "p3", "p2", "p1", "p0"]  # label order differs from the collection's
    block = EmbBlock(ea, labelled, {})
    train_rows = np.array([labelled.index(p) for p in TRAIN])
    X = block.matrix(train_rows)
    direct, _ = run_fold(notes, pieces)
    np.testing.assert_array_equal(X, direct["embedding"][[7, 6, 5, 4, 3, 2, 1, 0]].astype(np.float64))
    folder = tmp_path / "artifacts" / "ds" / STEP
    (entry,) = [p for p in folder.iterdir() if not p.name.startswith(".")]
    stamp = (entry / "meta.json").stat().st_mtime_ns
    X2 = EmbBlock(ea, labelled, {}).matrix(train_rows[::-1])  # same training set, another order: reused
    np.testing.assert_array_equal(X, X2)
    assert (entry / "meta.json").stat().st_mtime_ns == stamp
    assert len([p for p in folder.iterdir() if not p.name.startswith(".")]) == 1
    X3 = block.matrix(np.array([labelled.index(p) for p in ["p0", "p1", "p2", "p3"]]))  # another fold
    assert len([p for p in folder.iterdir() if not p.name.startswith(".")]) == 2
    assert not np.array_equal(X, X3)


def test_inductive_uses_the_graph_options_of_the_run(tmp_path):
    """A fold's graph is built with the options the graph artifact was made with (here a cap of
    3 groups per piece): the training graph has exactly as many groups as that graph's pieces allow."""
    notes, pieces = collection()
    store, ea = _store_with_artifacts(tmp_path, notes, pieces, GraphConf(max_groups=3))
    assert ea["info"]["graph_options"]["max_groups"] == 3
    X = EmbBlock(ea, [p["id"] for p in pieces], {}).matrix(np.array([0, 2, 3, 5, 6]))
    g_all = build_graph(notes, pieces, **{**GRAPH, "max_groups": 3})
    out = fold_embedding(notes, pieces, TRAIN, g_all, {**GRAPH, "max_groups": 3}, OPTS, workers=1)
    np.testing.assert_array_equal(X, out["embedding"].astype(np.float64))


def test_unknown_training_piece_is_named():
    notes, pieces = collection()
    g_all = build_graph(notes, pieces, **GRAPH)
    with pytest.raises(ValueError, match="nope"):
        fold_embedding(notes, pieces, ["p0", "nope"], g_all, GRAPH, OPTS, workers=1)
