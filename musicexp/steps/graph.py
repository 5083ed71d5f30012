"""graph: the MIDI2vec graph of the whole collection (REFERENCE.md), built vectorised from the
`notes` table and stored as CSR adjacency plus a node table (kind and key of every node)."""

from __future__ import annotations

from typing import Any

VERSION = "1"
DEPS = ("notes",)


def params(cfg) -> dict:
    return dict(cfg.steps.graph)


def run(inputs: dict[str, Any], cfg) -> tuple[dict, dict]:
    import numpy as np

    from musicexp.midi2vec import KINDS, build_graph

    g = cfg.steps.graph
    pieces = inputs["notes"]["pieces"]
    graph = build_graph(inputs["notes"]["notes"], pieces, max_groups=g.max_groups,
                        group_window_s=g.group_window_s, duration_step_s=g.duration_step_s,
                        velocity_bins=g.velocity_bins, tempo_step_bpm=g.tempo_step_bpm)
    kinds = np.bincount(graph["node_kind"], minlength=len(KINDS))
    summary = {"nodes": int(len(graph["node_kind"])), "edges": int(len(graph["indices"]) // 2),
               "groups": int(kinds[KINDS.index("group")])}
    info = {"pieces": [p["id"] for p in pieces], "kinds": list(KINDS),
            "nodes_per_kind": {k: int(n) for k, n in zip(KINDS, kinds)}}
    return {"graph": graph, "info": info}, summary
