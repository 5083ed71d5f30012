"""The MIDI2vec feature block: each piece's embedding (its node's vector), in label order."""

from __future__ import annotations

from typing import Mapping

import numpy as np

from musicexp.features.blocks import piece_rows


class EmbBlock:
    def __init__(self, outputs: Mapping, pieces: list[str], params: Mapping):
        rows = piece_rows(outputs["info"]["pieces"], pieces, "embedding")
        self.X = np.asarray(outputs["embedding"], dtype=np.float64)[rows]

    def matrix(self, train: np.ndarray) -> np.ndarray:
        return self.X  # learned without labels on the whole collection (docs/midi2vec.md)
