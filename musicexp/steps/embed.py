"""embed: node2vec random walks over the graph (numpy, all walks advanced together), then
word2vec skip-gram (musicexp's deterministic SGNS kernel, or gensim with ``engine=gensim``); a
piece's embedding is the vector of its own node. Its feature block `emb` gives the modes
``emb_only`` and the fusions.

Seeded by the run's seed: the same seed gives the same walks and, with the default engine, the
same vectors bit for bit (docs/word2vec.md); gensim is bit-reproducible only with ``workers=1``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import Enum

from omegaconf import II

from musicexp.core.registry import UNHASHED, Step, ge, gt, param, register_step
from musicexp.features.blocks import Block, register_block


class W2VEngine(str, Enum):
    sgns = "sgns"  # musicexp's SGNS kernel: deterministic, one thread (docs/word2vec.md)
    gensim = "gensim"  # gensim's Word2Vec (what embed computed before the option existed)


class WalkRoots(str, Enum):
    all = "all"  # walks from every node (MIDI2vec)
    pieces = "pieces"  # walks from piece nodes only (large collections)


@dataclass
class EmbedConf:
    dim: int = param(100, check=ge(1), doc="embedding dimensions")
    window: int = param(5, check=ge(1), doc="word2vec context window")
    epochs: int = param(5, check=ge(1), doc="word2vec epochs")
    negative: int = param(5, check=ge(0), doc="negative samples")
    num_walks: int = param(40, check=ge(1), doc="walks per root node")
    walk_length: int = param(10, check=ge(2), doc="nodes per walk")
    p: float = param(1.0, check=gt(0), doc="node2vec return parameter (p = q = 1: uniform walks)")
    q: float = param(1.0, check=gt(0), doc="node2vec in-out parameter")
    walk_roots: WalkRoots = param(WalkRoots.all, doc="all (MIDI2vec) | pieces (walks from piece nodes only)")
    engine: W2VEngine = param(W2VEngine.sgns, legacy="gensim",
                              doc="word2vec: sgns (deterministic, docs/word2vec.md) | gensim (racy with workers > 1)")
    workers: int = param(2, hash=UNHASHED, check=ge(1),
                         doc="gensim threads (engine=gensim; only workers=1 is bit-reproducible); sgns ignores it")
    seed: int = param(II("seed"), doc="seed of walks and word2vec (default: the run's seed)")
    inductive: bool = param(False, legacy=False, doc="per outer fold, graph and word2vec on the training pieces "
                                                     "only; other pieces from their shared nodes (docs/midi2vec.md)")


def run(inputs, params, ctx):
    import logging

    import numpy as np

    from musicexp.features.midi2vec.walks import random_walks
    from musicexp.features.midi2vec.word2vec import word2vec

    logging.getLogger("gensim").setLevel(logging.WARNING)  # its per-epoch INFO lines drown the run log
    graph, info = inputs["graph"]["graph"], inputs["graph"]["info"]
    if params.inductive:  # no embedding of the whole collection: the block embeds per fold (inductive.py)
        from musicexp.core.hashing import canonical
        from musicexp.steps.graph import artifact_options

        return {"info": {"pieces": info["pieces"], "dim": params.dim, "inductive": True, "graph_hash": inputs["graph"].hash,
                         "graph_options": artifact_options(inputs["graph"]), "options": canonical(params.plain()),
                         "workers": ctx.settings.workers}}, {"pieces": len(info["pieces"]), "inductive": True}
    indptr, indices = graph["indptr"], graph["indices"]
    n_nodes = len(indptr) - 1
    has_edges = np.diff(indptr) > 0
    roots = graph["piece_node"] if params.walk_roots == "pieces" else np.arange(n_nodes)
    roots = roots[has_edges[roots]]
    t = time.perf_counter()
    walks = random_walks(indptr, indices, roots, num_walks=params.num_walks, walk_length=params.walk_length,
                         p=params.p, q=params.q, seed=params.seed)
    walk_s = time.perf_counter() - t
    # node2vec visits the roots in a fresh random order each round; so do we (seeded)
    walks = walks[np.random.default_rng(params.seed).permutation(len(walks))]
    t = time.perf_counter()
    vectors = word2vec(walks, n_nodes, dim=params.dim, window=params.window, epochs=params.epochs,
                       negative=params.negative, workers=ctx.settings.workers, seed=params.seed, progress=ctx.progress,
                       engine=str(getattr(params.engine, "value", params.engine)))
    w2v_s = time.perf_counter() - t
    emb = vectors[graph["piece_node"]]
    summary = {
        "pieces": len(info["pieces"]),
        "walks": int(len(walks)),
        "walk_steps_per_s": round(walks.size / max(walk_s, 1e-9)),
        "w2v_words_per_s": round(walks.size * params.epochs / max(w2v_s, 1e-9)),
        "walk_s": round(walk_s, 3),
        "w2v_s": round(w2v_s, 3),
    }
    return {"embedding": emb.astype(np.float32), "info": {"pieces": info["pieces"], "dim": params.dim}}, summary


register_step(Step(name="embed", version="1", run=run, schema=EmbedConf, deps=("graph",)))
register_block(Block(name="emb", step="embed", load="musicexp.features.midi2vec.block:EmbBlock", order=20))
