"""The feature-block registry: how a step's artifact becomes a feature matrix at train time.

A block names the step whose artifact it reads; train derives its modes from the registered
blocks (``<block>_only`` for each, early and late fusion over the fused ones, see
:mod:`musicexp.evaluation.modes`). Registering a block is all it takes to train on a new
feature: nothing else lists modes.

The class that builds the matrices (``load``) is imported only when train runs, so registering
a block costs nothing on a cached run. Its contract::

    block = Cls(outputs, pieces, params)  # outputs: the step's artifact (name -> loaded output),
                                          # pieces: piece ids in label order,
                                          # params: the step's train-time options (see below)
    X = block.matrix(train_rows)          # (len(pieces), d) float array for every piece; anything
                                          # fitted on data (a vocabulary) sees only train_rows

Train-time options are the fields of the step's schema declared with ``hash="downstream"``
(:func:`musicexp.core.registry.param`): they enter train's hash, not the step's, so a sweep
over them reuses the step's artifact (e.g. ``steps.sgt.top_vocab``).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

#: prep: what train does to a block's matrix per fold, fitted on the inner training part:
#: "scale" = StandardScaler; "reduce" = steps.train.log1p -> StandardScaler -> steps.train.reduce
PREPS = ("scale", "reduce")


@dataclass(frozen=True)
class Block:
    name: str  # the mode `<name>_only` and the block's name in fused modes (`early:a+b`)
    step: str  # the step whose artifact it reads
    load: Any  # the class (or "module:Class") that builds the matrices
    prep: str = "scale"
    order: int = 100  # position in the default modes and in fused matrices (then by name)
    fuse: bool = True  # part of the default early_fusion / late_fusion
    control: bool = False  # a control (not in the default modes; `<name>_only` still selects it)

    def cls(self):
        if isinstance(self.load, str):
            module, _, attr = self.load.partition(":")
            return getattr(importlib.import_module(module), attr)
        return self.load


_BLOCKS: dict[str, Block] = {}


def register_block(block: Block) -> Block:
    """Add (or replace, for the same name) a feature block."""
    if block.prep not in PREPS:
        raise ValueError(f"block {block.name!r}: prep={block.prep!r}, allowed {PREPS}")
    if not block.name.isidentifier() or "_" in block.name:
        raise ValueError(f"block name {block.name!r}: letters and digits only (it forms the mode '<name>_only')")
    _BLOCKS[block.name] = block
    return block


def unregister_block(name: str) -> None:
    _BLOCKS.pop(name, None)


def blocks() -> list[Block]:
    """Every registered block, by (order, name)."""
    return sorted(_BLOCKS.values(), key=lambda b: (b.order, b.name))


def get(name: str) -> Block:
    return _BLOCKS[name]


def piece_rows(have: list[str], pieces: list[str], what: str) -> list[int]:
    """Positions in an artifact's piece list ``have`` of each labelled piece; a clear error if one lacks them."""
    pos = {p: i for i, p in enumerate(have)}
    missing = [p for p in pieces if p not in pos]
    if missing:
        raise ValueError(f"{len(missing)} labelled pieces have no {what} (first: {missing[0]})")
    return [pos[p] for p in pieces]
