"""Inductive MIDI2vec (Lisena et al. 2022, the inductive setting; docs/midi2vec.md): per fold,
the graph and word2vec on the fold's training pieces only; every other piece gets the mean of
the training pieces' vectors, each weighted by the number of graph nodes it shares with them.

:func:`fold_embedding` computes one fold (pure: notes in, vectors out); :class:`FoldCache`
keeps each result as an artifact of the run's store (``<artifacts>/<dataset>/embed_fold/<key>``,
key = the embed artifact's hash + the sorted training piece ids), written atomically under a
lock like every artifact, so a rerun, the held-out fit and the chance control reuse it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np

from musicexp.features.midi2vec.graph import _concat_ranges, build_graph
from musicexp.features.midi2vec.walks import random_walks
from musicexp.features.midi2vec.word2vec import word2vec

__all__ = ["subset_notes", "fold_embedding", "shared_node_counts", "FoldCache", "WORD2VEC_OPTIONS"]

log = logging.getLogger("musicexp")

#: embed options handed to word2vec (by keyword) when the embed artifact holds them
WORD2VEC_OPTIONS = ("dim", "window", "epochs", "negative", "engine")
STEP = "embed_fold"  # the folder of the per-fold artifacts in the store


def subset_notes(notes: Mapping, pieces: Sequence[dict], keep: np.ndarray) -> tuple[dict, list[dict]]:
    """The note table and piece list of the pieces at positions ``keep`` (ascending)."""
    keep = np.asarray(keep, dtype=np.int64)
    offsets = np.asarray(notes["offsets"], dtype=np.int64)
    lens = np.diff(offsets)[keep]
    rows = _concat_ranges(offsets[keep], lens)
    out = {k: np.asarray(v)[rows] for k, v in notes.items() if k != "offsets"}
    out["offsets"] = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    return out, [pieces[i] for i in keep.tolist()]


def _neighbour_keys(graph: Mapping, node: int) -> np.ndarray:
    indptr, indices = graph["indptr"], graph["indices"]
    return np.asarray(graph["node_key"])[indices[indptr[node]:indptr[node + 1]]]


def shared_node_counts(graph_all: Mapping, train_graph: Mapping, pieces_from: np.ndarray) -> np.ndarray:
    """(len(pieces_from), n_train_pieces) counts of graph nodes each piece of ``graph_all`` (by
    piece position) shares with each piece of the training graph (nodes matched by key)."""
    from scipy import sparse

    key_id = {k: i for i, k in enumerate(np.asarray(train_graph["node_key"]).tolist())}
    n_nodes = len(key_id)

    def incidence(graph, piece_nodes, known: bool):
        rows, cols = [], []
        for r, node in enumerate(np.asarray(piece_nodes).tolist()):
            keys = _neighbour_keys(graph, node).tolist()
            ids = [key_id[k] for k in keys if k in key_id] if known else [key_id[k] for k in keys]
            rows += [r] * len(ids)
            cols += ids
        return sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(piece_nodes), n_nodes))

    b_new = incidence(graph_all, np.asarray(graph_all["piece_node"])[pieces_from], True)
    b_train = incidence(train_graph, train_graph["piece_node"], False)
    return np.asarray((b_new @ b_train.T).todense())


def fold_embedding(notes: Mapping, pieces: Sequence[dict], train_ids: Sequence[str], graph_all: Mapping,
                   graph_options: Mapping, embed_options: Mapping, *, workers: int = 1,
                   train_word2vec: Callable = word2vec) -> dict:
    """One fold's inductive embedding of every piece of the collection.

    The graph is built (``build_graph(**graph_options)``) from the notes of ``train_ids`` only:
    no other piece, its groups, its velocities or its metadata can be a node or an edge of it;
    walks and word2vec (``train_word2vec``, called with keyword arguments) run on that graph. A
    training piece's vector is its own node's vector; every other piece of ``pieces`` gets
    ``sum_j w_j v_j / sum_j w_j`` over the training pieces ``j``, ``w_j`` the number of nodes of
    its graph (``graph_all``, the collection's graph with the same options) that the training
    graph holds as neighbours of ``j``; a piece sharing no node gets a zero vector.

    Returns ``pieces`` (ids of the collection, in order), ``embedding`` (float32), ``train``
    (bool per piece), ``n_nodes`` of the training graph and ``isolated`` (pieces sharing no node).
    """
    ids = [str(p["id"]) for p in pieces]
    pos = {p: i for i, p in enumerate(ids)}
    unknown = [p for p in train_ids if p not in pos]
    if unknown:
        raise ValueError(f"training pieces not in the collection: {unknown[:3]}")
    is_train = np.zeros(len(ids), dtype=bool)
    is_train[[pos[p] for p in train_ids]] = True
    tr = np.flatnonzero(is_train)
    sub_notes, sub_pieces = subset_notes(notes, pieces, tr)
    g = build_graph(sub_notes, sub_pieces, **graph_options)
    indptr, indices = g["indptr"], g["indices"]
    n_nodes = len(indptr) - 1
    has_edges = np.diff(indptr) > 0
    seed = int(embed_options["seed"])
    roots = g["piece_node"] if embed_options.get("walk_roots", "all") == "pieces" else np.arange(n_nodes)
    roots = roots[has_edges[roots]]
    walks = random_walks(indptr, indices, roots, num_walks=int(embed_options["num_walks"]),
                         walk_length=int(embed_options["walk_length"]), p=float(embed_options["p"]),
                         q=float(embed_options["q"]), seed=seed)
    walks = walks[np.random.default_rng(seed).permutation(len(walks))]  # as the embed step
    kw = {k: embed_options[k] for k in WORD2VEC_OPTIONS if k in embed_options}
    vectors = train_word2vec(walks, n_nodes, workers=workers, seed=seed, **kw)
    train_vecs = np.asarray(vectors, dtype=np.float64)[g["piece_node"]]
    dim = train_vecs.shape[1]
    emb = np.zeros((len(ids), dim), dtype=np.float64)
    emb[tr] = train_vecs
    others = np.flatnonzero(~is_train)
    isolated = 0
    if others.size:
        w = shared_node_counts(graph_all, g, others)
        tot = w.sum(axis=1)
        isolated = int((tot == 0).sum())
        emb[others] = (w @ train_vecs) / np.maximum(tot, 1)[:, None]
    return {"pieces": ids, "embedding": emb.astype(np.float32), "train": is_train, "n_nodes": int(n_nodes),
            "isolated": isolated}


class FoldCache:
    """Per-fold inductive embeddings of one embed artifact, cached in the run's artifact store."""

    def __init__(self, embed_artifact):
        from musicexp.engine.cache import ArtifactStore

        path = Path(embed_artifact.path)
        self.dataset_id, self.root = path.parent.parent.name, path.parent.parent.parent
        self.store = ArtifactStore(self.root)
        if self.store.folder(self.dataset_id, "embed", embed_artifact.hash) != path:
            raise ValueError(f"{path} is not an embed artifact of a store (<root>/<dataset>/embed/<hash>)")
        self.embed = embed_artifact
        info = embed_artifact["info"]
        self.graph_options = dict(info["graph_options"])
        self.embed_options = dict(info["options"])
        self.workers = int(info.get("workers", 1))
        graph = self.store.get(self.dataset_id, "graph", info["graph_hash"])
        if graph is None:
            raise ValueError(f"the graph artifact {info['graph_hash'][:10]} of {path} is gone; "
                             f"re-run with force=[embed] to rebuild it")
        notes = self.store.get(self.dataset_id, "notes", graph.meta["upstream"]["notes"])
        if notes is None:
            raise ValueError(f"the notes artifact of {path} is gone; re-run with force=[embed] to rebuild it")
        self.graph, self.notes = graph, notes

    def _pieces(self) -> list[dict]:
        pieces = self.notes["pieces"]
        if "header" in self.graph.names():  # the published header rules, as the graph step applied them
            head = self.graph["header"]
            pieces = [{**p, "tempo_bpm": t, "time_signatures": ts}
                      for p, t, ts in zip(pieces, head["tempo_bpm"], head["time_signatures"])]
        return pieces

    def key(self, train_ids: Sequence[str]) -> str:
        from musicexp.core.hashing import digest

        return digest({"embed": self.embed.hash, "train": sorted(str(p) for p in train_ids)})

    def get(self, train_ids: Sequence[str]):
        """The fold's artifact (outputs pieces, embedding, train), computed once per training set."""
        key = self.key(train_ids)
        art = self.store.get(self.dataset_id, STEP, key)
        if art is not None:
            return art
        with self.store.lock(self.dataset_id, STEP, key):
            art = self.store.get(self.dataset_id, STEP, key)
            if art is not None:
                return art
            out = fold_embedding(self.notes["notes"], self._pieces(), list(train_ids), self.graph["graph"],
                                 self.graph_options, self.embed_options, workers=self.workers)
            log.info("embed (inductive): fold of %d training pieces, %d nodes; %d other pieces share no node",
                     int(out["train"].sum()), out["n_nodes"], out["isolated"])
            meta = {"embed": self.embed.hash, "n_train": int(out["train"].sum()),
                    "summary": {"nodes": out["n_nodes"], "isolated": out["isolated"]}}
            return self.store.commit(self.dataset_id, STEP, key,
                                     {"embedding": out["embedding"], "train": out["train"],
                                      "info": {"pieces": out["pieces"]}}, meta)

