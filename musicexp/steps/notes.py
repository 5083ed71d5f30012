"""notes: every MIDI file parsed once (symusic) into one columnar note table."""

from __future__ import annotations

from dataclasses import dataclass

from musicexp.core.registry import UNHASHED, Step, ge, param, register_step
from musicexp.features.blocks import Block, register_block


@dataclass
class NotesConf:
    n_jobs: int = param(2, hash=UNHASHED, check=ge(1), doc="parallel parsing processes")


def run(inputs, params, ctx):
    from musicexp.data.notes import note_table

    return note_table(ctx.dataset, ctx.settings.n_jobs, ctx.progress)


register_step(Step(
    name="notes", version="2", run=run, schema=NotesConf,  # 2: key signatures, tempo facts; dataset.neutralize
    identity=lambda ds: ds.notes_identity(),
    preflight=lambda ds, params: [{"file": f, "reason": r} for f, r in ds.rejected],
    problems=lambda art: art["errors"],
    problem_kind="file(s) could not be parsed and were left out",
))
# the metadata-only control: tempo, velocity, time / key signatures, programs (not the music)
register_block(Block(name="meta", step="notes", load="musicexp.features.metadata:MetaBlock", order=90, fuse=False,
                     control=True))
