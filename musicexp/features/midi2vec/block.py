"""The MIDI2vec feature block: each piece's embedding (its node's vector), in label order.

Transductive (the default, as published): one embedding of the whole collection, the same in
every fold. Inductive (``steps.embed.inductive=true``): per fold, the graph and word2vec of the
fold's training pieces only, every other piece placed by its shared nodes
(:mod:`.inductive`), cached per training set.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from musicexp.features.blocks import piece_rows


class EmbBlock:
    def __init__(self, outputs: Mapping, pieces: list[str], params: Mapping):
        self.pieces = list(pieces)
        self.folds = None
        if outputs["info"].get("inductive"):
            from musicexp.features.midi2vec.inductive import FoldCache

            self.folds = FoldCache(outputs)
            piece_rows(outputs["info"]["pieces"], self.pieces, "embedding")  # a clear error up front
            return
        rows = piece_rows(outputs["info"]["pieces"], pieces, "embedding")
        self.X = np.asarray(outputs["embedding"], dtype=np.float64)[rows]

    def matrix(self, train: np.ndarray) -> np.ndarray:
        if self.folds is None:
            return self.X  # learned without labels on the whole collection (docs/midi2vec.md)
        art = self.folds.get([self.pieces[i] for i in np.asarray(train).tolist()])
        rows = piece_rows(art["info"]["pieces"], self.pieces, "embedding")
        return np.asarray(art["embedding"], dtype=np.float64)[rows]
