"""sgt: time-aware Sequence Graph Transform pair sums per piece, over the full token space
(docs/sgt.md). Its feature block `sgt` chooses the vocabulary inside each CV fold and gives the
modes ``sgt_only`` and the fusions.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Optional

import logging

from musicexp.core.registry import DOWNSTREAM, Step, ge, gt, param, register_step
from musicexp.features.blocks import Block, register_block

log = logging.getLogger("musicexp")


class TokenMode(str, Enum):
    pitch_class = "pitch_class"  # pitch % 12
    prog_pitch = "prog_pitch"  # (program // 8, pitch % 12)
    pitch = "pitch"  # raw MIDI pitch
    interval = "interval"  # DEPRECATED alias of `pitch` (the older pipeline's name; never intervals)
    # the modes that hear rhythm and melody (docs/sgt.md, Tokens): a part is a track
    melodic_interval = "melodic_interval"  # semitones from the previous onset's top note, +-12, 'first'
    duration = "duration"  # half-octave log2 class of the duration in beats
    ioi = "ioi"  # half-octave log2 class of the time to the part's next onset, 'last'
    pitch_class_duration = "pitch_class_duration"  # pitch % 12 x duration class
    interval_ioi = "interval_ioi"  # melodic interval x inter-onset class


#: what `token_mode=interval` says when it is used (the hashes and numbers of that setting are kept)
INTERVAL_ALIAS = ("steps.sgt.token_mode=interval is the older pipeline's name for the raw MIDI pitch "
                  "(it never computed intervals): use token_mode=pitch for the same numbers, or "
                  "token_mode=melodic_interval for melodic intervals")


class TimeAxis(str, Enum):
    beats = "beats"  # onset in quarter notes
    index = "index"  # event position (the published SGT)


class TieBreak(str, Enum):
    pitch = "pitch"  # simultaneous notes ordered by (pitch, program): independent of track order
    file = "file"  # the older pipeline: file order (results depend on track order)


# fold: top tokens counted on the training part of each fold (no leakage);
# global: the older pipeline, counted over the whole dataset (leaks test folds)
VocabScope = Enum("VocabScope", {"fold": "fold", "global": "global"}, type=str)


class Normalize(str, Enum):
    max = "max"  # S / max(S), the older pipeline
    sgt = "sgt"  # (W / pair count) ** (1 / alpha), Ranjan et al.
    none = "none"


@dataclass
class SgtConf:
    alpha: float = param(0.8, check=gt(0), doc="decay per beat (per event with time_axis=index)")
    max_dt_beats: Optional[float] = param(8.0, check=ge(0), doc="window on the time axis; null = every pair")
    # ioi since the rhythm and melody modes (docs/sgt.md, "Which token mode"); before: prog_pitch
    token_mode: TokenMode = param(TokenMode.ioi, doc="ioi | pitch_class | prog_pitch | pitch | melodic_interval | duration | "
                                  "pitch_class_duration | interval_ioi | interval (old alias of pitch)")
    time_axis: TimeAxis = param(TimeAxis.beats, doc="beats | index (event positions, as the published SGT)")
    tie_break: TieBreak = param(TieBreak.pitch, doc="order of simultaneous notes: pitch (then program) | file")
    include_drums: bool = param(False, doc="drum notes as their own tokens")
    # read per CV fold by the `sgt` block: in train's hash, so a sweep over them reuses this step
    top_vocab: int = param(64, check=ge(1), hash=DOWNSTREAM, doc="V most frequent tokens of the training part; V*V features")
    vocab: VocabScope = param(VocabScope["fold"], hash=DOWNSTREAM, doc="fold (no leakage) | global (older pipeline)")
    normalize: Normalize = param(Normalize.max, hash=DOWNSTREAM, doc="max | sgt (Ranjan: (W/C)^(1/alpha)) | none")

    @staticmethod
    def problems(node) -> list[str]:
        """Not a problem, a warning: the deprecated alias still runs (same hash, same numbers)."""
        if getattr(node.token_mode, "value", node.token_mode) == TokenMode.interval.value:
            log.warning(INTERVAL_ALIAS)
        return []


def run(inputs, params, ctx):
    from musicexp.features.sgt.events import sgt_pair_sums

    return sgt_pair_sums(inputs["notes"]["notes"], inputs["notes"]["pieces"], alpha=params.alpha,
                         max_dt=params.max_dt_beats, token_mode=params.token_mode, time_axis=params.time_axis,
                         tie_break=params.tie_break, include_drums=params.include_drums)


register_step(Step(name="sgt", version="1", run=run, schema=SgtConf, deps=("notes",)))
register_block(Block(name="sgt", step="sgt", load="musicexp.features.sgt.block:SgtBlock", prep="reduce", order=10))
