"""graph: the MIDI2vec graph of the whole collection (docs/midi2vec.md), built vectorised from the
`notes` table and stored as CSR adjacency plus a node table (kind and key of every node)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import List

from musicexp.core.registry import Step, ge, gt, param, register_step
from musicexp.features.midi2vec import METADATA_KINDS


@dataclass
class GraphConf:
    max_groups: int = param(600, check=ge(1), doc="note groups linked per piece (the first ones in time)")
    group_window_s: float = param(0.01, check=gt(0), doc="onsets within this of a group's first note join it")
    duration_step_s: float = param(0.1, check=gt(0), doc="duration class = round(longest duration / step)")
    velocity_bins: int = param(10, check=ge(1), doc="velocity class = round(bins * mean velocity / 127)")
    tempo_step_bpm: float = param(10.0, check=gt(0), doc="tempo class = round(bpm / step)")
    omit: List[str] = param(factory=list, doc="metadata node kinds left out: velocity, program, tempo, time_signature")

    @staticmethod
    def problems(node) -> list[str]:
        bad = [x for x in node.omit if x not in METADATA_KINDS]
        return [f"omit={list(node.omit)!r} is not allowed: {bad} not in {list(METADATA_KINDS)}"] if bad else []


def run(inputs, params, ctx):
    import numpy as np

    from musicexp.features.midi2vec.graph import KINDS, build_graph

    pieces = inputs["notes"]["pieces"]
    graph = build_graph(inputs["notes"]["notes"], pieces, max_groups=params.max_groups,
                        group_window_s=params.group_window_s, duration_step_s=params.duration_step_s,
                        velocity_bins=params.velocity_bins, tempo_step_bpm=params.tempo_step_bpm,
                        omit=tuple(params.omit))
    kinds = np.bincount(graph["node_kind"], minlength=len(KINDS))
    summary = {"nodes": int(len(graph["node_kind"])), "edges": int(len(graph["indices"]) // 2),
               "groups": int(kinds[KINDS.index("group")])}
    info = {"pieces": [p["id"] for p in pieces], "kinds": list(KINDS),
            "nodes_per_kind": {k: int(n) for k, n in zip(KINDS, kinds)}}
    return {"graph": graph, "info": info}, summary


register_step(Step(name="graph", version="1", run=run, schema=GraphConf, deps=("notes",)))
