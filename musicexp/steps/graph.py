"""graph: the MIDI2vec graph of the whole collection (docs/midi2vec.md), built vectorised from the
`notes` table and stored as CSR adjacency plus a node table (kind and key of every node)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import List, Optional

from musicexp.core.registry import Step, ge, gt, param, register_step
from musicexp.features.midi2vec import METADATA_KINDS

RHYTHM = ("ioi", "beat_position")  # musicexp.features.midi2vec.graph.RHYTHM_KINDS


class Grouping(str, Enum):
    anchor = "anchor"  # a group's window is measured from its first note (older pipeline)
    onset = "onset"  # one group per distinct onset, notes within the window either side (original code)


class Rounding(str, Enum):
    half_even = "half_even"  # numpy / Python round (older pipeline)
    half_up = "half_up"  # JavaScript Math.round (original code)


class TimeSignatures(str, Enum):
    all = "all"  # every distinct time signature of the file
    first = "first"  # the file's first one only (original code)


class Drums(str, Enum):
    shared = "shared"  # every drum track links program:drums
    program = "program"  # a drum track links its program number, as any track (original code)


@dataclass
class GraphConf:
    max_groups: Optional[int] = param(600, check=ge(1),
                                      doc="note groups linked per piece (the first ones in time); null = no cap")
    group_window_s: float = param(0.01, check=gt(0), doc="onsets within this of a group's onset join it")
    duration_step_s: float = param(0.1, check=gt(0), doc="duration class = round(longest duration / step)")
    velocity_bins: int = param(10, check=ge(1), doc="velocity class = round(bins * mean velocity / 127)")
    tempo_step_bpm: float = param(10.0, check=gt(0), doc="tempo class = round(bpm / step)")
    omit: List[str] = param(factory=list, doc="metadata node kinds left out: velocity, program, tempo, time_signature")
    grouping: Grouping = param(Grouping.anchor, legacy=Grouping.anchor,
                               doc="anchor (window from a group's first note) | onset (one group per distinct "
                                   "onset, overlapping windows, as the original code)")
    rounding: Rounding = param(Rounding.half_even, legacy=Rounding.half_even,
                               doc="class rounding: half_even (numpy) | half_up (JavaScript Math.round, original)")
    time_signatures: TimeSignatures = param(TimeSignatures.all, legacy=TimeSignatures.all,
                                            doc="all (every distinct one) | first (the file's first, original)")
    default_tempo: bool = param(True, legacy=True,
                                doc="a file without a tempo event gets the tempo node of 120 bpm (false: none, "
                                    "as the original)")
    drums: Drums = param(Drums.shared, legacy=Drums.shared,
                         doc="shared (program:drums) | program (a drum track's program number, original)")
    rhythm: List[str] = param(factory=list, legacy=[],
                              doc="optional rhythm node kinds: ioi (onset interval), beat_position (onset in the beat)")

    @staticmethod
    def problems(node) -> list[str]:
        out = []
        bad = [x for x in node.omit if x not in METADATA_KINDS]
        if bad:
            out.append(f"omit={list(node.omit)!r} is not allowed: {bad} not in {list(METADATA_KINDS)}")
        bad = [x for x in node.rhythm if x not in RHYTHM]
        if bad:
            out.append(f"rhythm={list(node.rhythm)!r} is not allowed: {bad} not in {list(RHYTHM)}")
        return out


def header_pieces(pieces: list[dict], params, path_of) -> list[dict]:
    """The piece list with the published header rules applied (copies; `pieces` is not changed).

    ``time_signatures=first``: the file's first time signature only; ``default_tempo=false``:
    ``tempo_bpm`` None (no tempo node) for a file without a tempo event. The `notes` artifact
    keeps the distinct time signatures sorted and writes 120 bpm for a file without tempo, so a
    file is read (header events only matter; ``path_of(id)`` gives its path) when these facts
    cannot be told from the artifact: several time signatures, or 120 bpm without changes.
    """
    from musicexp.features.midi2vec.graph import first_header_facts

    first = params.time_signatures == "first"
    if not first and params.default_tempo:
        return pieces
    out = []
    for p in pieces:
        q = dict(p)
        ts = list(p.get("time_signatures") or [])
        need_ts = first and len(ts) > 1
        maybe_no_tempo = (not params.default_tempo and p.get("tempo_changes", 0) == 0
                          and float(p["tempo_bpm"]) == 120.0)
        facts = first_header_facts(path_of(p["id"])) if (need_ts or maybe_no_tempo) else {}
        if first:
            q["time_signatures"] = [facts["first_time_signature"]] if need_ts else ts[:1]
        if maybe_no_tempo and not facts["has_tempo"]:
            q["tempo_bpm"] = None
        out.append(q)
    return out


def graph_options(params) -> dict:
    """build_graph's keyword arguments from the step's options."""
    return dict(max_groups=params.max_groups, group_window_s=params.group_window_s,
                duration_step_s=params.duration_step_s, velocity_bins=params.velocity_bins,
                tempo_step_bpm=params.tempo_step_bpm, omit=tuple(params.omit), grouping=str(_v(params.grouping)),
                rounding=str(_v(params.rounding)), drums=str(_v(params.drums)), rhythm=tuple(params.rhythm))


def artifact_options(graph_artifact) -> dict:
    """build_graph's keyword arguments that made a graph artifact (from its recorded options)."""
    from dataclasses import fields

    from musicexp.core.hashing import canonical

    stored = graph_artifact.meta["params"]  # hashed options; one at its legacy value is left out: restore that
    conf = GraphConf(**{f.name: stored[f.name] if f.name in stored else f.metadata["legacy"]
                        for f in fields(GraphConf) if f.name in stored or "legacy" in f.metadata})
    return canonical(graph_options(conf))


def _v(x):
    return x.value if isinstance(x, Enum) else x


def run(inputs, params, ctx):
    import numpy as np

    from musicexp.features.midi2vec.graph import build_graph, kinds_for

    pieces = inputs["notes"]["pieces"]
    graph_pieces = header_pieces(pieces, params, lambda rel: ctx.dataset.path(rel))
    graph = build_graph(inputs["notes"]["notes"], graph_pieces, **graph_options(params))
    kinds = kinds_for(params.rhythm)
    counts = np.bincount(graph["node_kind"], minlength=len(kinds))
    summary = {"nodes": int(len(graph["node_kind"])), "edges": int(len(graph["indices"]) // 2),
               "groups": int(counts[kinds.index("group")])}
    info = {"pieces": [p["id"] for p in pieces], "kinds": list(kinds),
            "nodes_per_kind": {k: int(n) for k, n in zip(kinds, counts)}}
    outputs = {"graph": graph, "info": info}
    if graph_pieces is not pieces:  # what the inductive embedding needs to rebuild a fold's graph
        outputs["header"] = {"tempo_bpm": [p["tempo_bpm"] for p in graph_pieces],
                             "time_signatures": [p["time_signatures"] for p in graph_pieces]}
    return outputs, summary


register_step(Step(name="graph", version="1", run=run, schema=GraphConf, deps=("notes",)))
