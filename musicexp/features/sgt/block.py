"""The SGT feature block: V*V features per piece, the vocabulary chosen per fold.

The `sgt` artifact holds raw pair sums over the full token space; here, for each fold, the
``top_vocab`` most frequent tokens of the training rows are chosen (``vocab: fold``; the older
pipeline's ``global`` counts every piece and leaks the test folds) and the pair sums restricted
to them are normalised (see :mod:`.vocab`).
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from musicexp.features.blocks import piece_rows
from musicexp.features.sgt.vocab import normalize, select_vocab


class SgtBlock:
    def __init__(self, outputs: Mapping, pieces: list[str], params: Mapping):
        info, pairs = outputs["info"], outputs["pairs"]
        self.rows = np.array(piece_rows(info["pieces"], pieces, "SGT features"), dtype=np.int64)  # label order -> row
        self.T, self.alpha = int(info["n_tokens"]), float(info["alpha"])
        self.counts = outputs["token_counts"]
        self.piece, self.w, self.c = pairs["piece"], pairs["w"], pairs["c"]
        self.u, self.v = pairs["pair"] // self.T, pairs["pair"] % self.T
        self.top_vocab, self.norm, self.scope = int(params["top_vocab"]), params["normalize"], params["vocab"]

    def vocab(self, train: np.ndarray) -> np.ndarray:
        """Top tokens counted on the training rows (scope 'fold') or on all (legacy 'global')."""
        rows = self.rows[train] if self.scope == "fold" else np.arange(len(self.counts))
        return select_vocab(self.counts[rows].sum(axis=0), self.top_vocab)

    def matrix(self, train: np.ndarray) -> np.ndarray:
        """(n pieces, V*V) normalised features for every labelled piece under the fold's vocabulary."""
        vocab = self.vocab(train)
        V, n = len(vocab), len(self.rows)
        slot = np.full(self.T, -1)
        slot[vocab] = np.arange(V)
        rowpos = np.full(len(self.counts), -1)
        rowpos[self.rows] = np.arange(n)
        su, sv, sr = slot[self.u], slot[self.v], rowpos[self.piece]
        m = (su >= 0) & (sv >= 0) & (sr >= 0)
        W = np.zeros((n, V, V))
        C = np.zeros((n, V, V))
        W[sr[m], su[m], sv[m]] = self.w[m]
        C[sr[m], su[m], sv[m]] = self.c[m]
        return normalize(W, C, self.norm, self.alpha).reshape(n, V * V)
