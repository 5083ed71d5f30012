"""stats: global note statistics of each piece from the notes alone (pitch, pitch classes,
melodic intervals, durations, inter-onset intervals, positions in the beat, the bar inferred
from recurring onsets, density, polyphony, contour; docs/stats.md). Its feature block `stats`
gives the mode ``stats_only``, the reference row every other mode is compared with, and joins
the default fusions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List

from musicexp.core.registry import DOWNSTREAM, Step, nonempty, param, register_step
from musicexp.features.blocks import Block, register_block

FAMILY_NAMES = ("size", "pitch", "pitch_class", "interval", "contour", "duration", "ioi", "beat", "bar", "density",
                "texture")


@dataclass
class StatsConf:
    # read by the `stats` block at train time: in train's hash, so an ablation reuses this step
    families: List[str] = param(factory=lambda: list(FAMILY_NAMES), hash=DOWNSTREAM, check=nonempty,
                                doc="feature families used: " + ", ".join(FAMILY_NAMES))

    @staticmethod
    def problems(node) -> list[str]:
        bad = [f for f in node.families if f not in FAMILY_NAMES]
        return [f"families={list(node.families)!r} is not allowed: unknown {bad}; allowed {list(FAMILY_NAMES)}"] \
            if bad else []


def run(inputs, params, ctx):
    from musicexp.features.stats import note_stats

    return note_stats(inputs["notes"]["notes"], inputs["notes"]["pieces"])


register_step(Step(name="stats", version="1", run=run, schema=StatsConf, deps=("notes",)))
# order 30: after sgt and emb, so the first mode (the default objective) stays sgt_only
register_block(Block(name="stats", step="stats", load="musicexp.features.stats:StatsBlock", prep="scale", order=30))
