"""Per-fold feature blocks. Everything fitted on data statistics (vocabulary, scaler, PCA) is
fitted on the rows it is given as training rows and only applied to the others."""

from __future__ import annotations

import numpy as np

from musicexp.sgtcore import normalize, select_vocab


class SgtBlock:
    """SGT features from the `sgt` artifact, with the vocabulary chosen per fold."""

    def __init__(self, sgt_outputs: dict, piece_ids: list[str], top_vocab: int, norm: str, scope: str):
        info, pairs = sgt_outputs["info"], sgt_outputs["pairs"]
        pos = {p: i for i, p in enumerate(info["pieces"])}
        missing = [p for p in piece_ids if p not in pos]
        if missing:
            raise ValueError(f"{len(missing)} labelled pieces have no SGT features (first: {missing[0]})")
        self.rows = np.array([pos[p] for p in piece_ids], dtype=np.int64)  # label order -> sgt row
        self.T, self.alpha = int(info["n_tokens"]), float(info["alpha"])
        self.counts = sgt_outputs["token_counts"]
        self.piece, self.w, self.c = pairs["piece"], pairs["w"], pairs["c"]
        self.u, self.v = pairs["pair"] // self.T, pairs["pair"] % self.T
        self.top_vocab, self.norm, self.scope = top_vocab, norm, scope

    def vocab(self, train: np.ndarray) -> np.ndarray:
        """Top tokens counted on the training rows (scope 'fold') or on all (legacy 'global')."""
        rows = self.rows[train] if self.scope == "fold" else np.arange(len(self.counts))
        return select_vocab(self.counts[rows].sum(axis=0), self.top_vocab)

    def matrix(self, vocab: np.ndarray) -> np.ndarray:
        """(n pieces, V*V) normalised features for every labelled piece under ``vocab``."""
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


class EmbBlock:
    """MIDI2vec piece embeddings from the `embed` artifact, in label order."""

    def __init__(self, embed_outputs: dict, piece_ids: list[str]):
        pos = {p: i for i, p in enumerate(embed_outputs["info"]["pieces"])}
        missing = [p for p in piece_ids if p not in pos]
        if missing:
            raise ValueError(f"{len(missing)} labelled pieces have no embedding (first: {missing[0]})")
        self.X = np.asarray(embed_outputs["embedding"], dtype=np.float64)[[pos[p] for p in piece_ids]]

    def matrix(self) -> np.ndarray:
        return self.X


class Prep:
    """log1p -> StandardScaler -> PCA / TruncatedSVD, fitted on training rows only."""

    def __init__(self, log1p: bool, reduce: str, n_components: int, seed: int):
        self.log1p, self.reduce, self.k, self.seed = log1p, reduce, n_components, seed

    def fit_transform(self, X_train: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
        from sklearn.decomposition import PCA, TruncatedSVD
        from sklearn.preprocessing import StandardScaler

        f = np.log1p if self.log1p else (lambda x: x)
        scaler = StandardScaler().fit(f(X_train))
        out = [scaler.transform(f(X)) for X in (X_train, *others)]
        k = min(self.k, X_train.shape[0] - 1, X_train.shape[1] - (self.reduce == "svd"))
        if self.reduce != "none" and k >= 1 and k < X_train.shape[1]:
            red = (PCA(n_components=k, random_state=self.seed) if self.reduce == "pca"
                   else TruncatedSVD(n_components=k, random_state=self.seed))
            red.fit(out[0])
            out = [red.transform(X) for X in out]
        return [X.astype(np.float32) for X in out]
