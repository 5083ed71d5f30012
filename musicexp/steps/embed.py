"""embed: node2vec random walks over the graph (numpy, all walks advanced together), then
gensim's word2vec skip-gram; a piece's embedding is the vector of its own node.

Seeded by the run's seed: the same seed gives the same walks; with ``workers=1`` the vectors
are bit-identical across runs (gensim with several threads is not, by design).
"""

from __future__ import annotations

import time
from typing import Any

VERSION = "1"
DEPS = ("graph",)


def params(cfg) -> dict:
    e = cfg.steps.embed
    p = {k: e[k] for k in e if k != "workers"}
    p["seed"] = cfg.seed
    return p


def run(inputs: dict[str, Any], cfg) -> tuple[dict, dict]:
    import logging

    import numpy as np

    from musicexp.midi2vec import random_walks, word2vec

    logging.getLogger("gensim").setLevel(logging.WARNING)  # its per-epoch INFO lines drown the run log
    e = cfg.steps.embed
    graph, info = inputs["graph"]["graph"], inputs["graph"]["info"]
    indptr, indices = graph["indptr"], graph["indices"]
    n_nodes = len(indptr) - 1
    has_edges = np.diff(indptr) > 0
    roots = graph["piece_node"] if e.walk_roots.value == "pieces" else np.arange(n_nodes)
    roots = roots[has_edges[roots]]
    t = time.perf_counter()
    walks = random_walks(indptr, indices, roots, num_walks=e.num_walks, walk_length=e.walk_length,
                         p=e.p, q=e.q, seed=cfg.seed)
    walk_s = time.perf_counter() - t
    # node2vec visits the roots in a fresh random order each round; so do we (seeded)
    walks = walks[np.random.default_rng(cfg.seed).permutation(len(walks))]
    t = time.perf_counter()
    vectors = word2vec(walks, n_nodes, dim=e.dim, window=e.window, epochs=e.epochs, negative=e.negative,
                       workers=e.workers, seed=cfg.seed)
    w2v_s = time.perf_counter() - t
    emb = vectors[graph["piece_node"]]
    summary = {
        "pieces": len(info["pieces"]),
        "walks": int(len(walks)),
        "walk_steps_per_s": round(walks.size / max(walk_s, 1e-9)),
        "w2v_words_per_s": round(walks.size * e.epochs / max(w2v_s, 1e-9)),
        "walk_s": round(walk_s, 3),
        "w2v_s": round(w2v_s, 3),
    }
    return {"embedding": emb.astype(np.float32), "info": {"pieces": info["pieces"], "dim": e.dim}}, summary
