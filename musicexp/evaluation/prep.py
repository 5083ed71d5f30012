"""What train does to a feature block's matrix per fold, fitted on the inner training rows only."""

from __future__ import annotations

import numpy as np


class Prep:
    """log1p -> StandardScaler -> PCA / TruncatedSVD, fitted on training rows only."""

    def __init__(self, log1p: bool, reduce: str, n_components: int, seed: int):
        self.log1p, self.reduce, self.k, self.seed = log1p, reduce, n_components, seed

    def fit_transform(self, X_train: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
        from sklearn.decomposition import PCA, TruncatedSVD
        from sklearn.preprocessing import StandardScaler

        f = np.log1p if self.log1p else (lambda x: x)
        scaler = StandardScaler().fit(f(X_train))
        out = [_apply(scaler, f(X)) for X in (X_train, *others)]
        k = min(self.k, X_train.shape[0] - 1, X_train.shape[1] - (self.reduce == "svd"))
        if self.reduce != "none" and k >= 1 and k < X_train.shape[1]:
            red = (PCA(n_components=k, random_state=self.seed) if self.reduce == "pca"
                   else TruncatedSVD(n_components=k, random_state=self.seed))
            red.fit(out[0])
            out = [_apply(red, X, k) for X in out]
        return [X.astype(np.float32) for X in out]


def _apply(fitted, X: np.ndarray, width: int | None = None) -> np.ndarray:
    """``fitted.transform(X)``; an empty part (no validation rows on tiny data) stays empty."""
    return fitted.transform(X) if len(X) else np.zeros((0, X.shape[1] if width is None else width))


def for_block(prep: str, params, seed: int) -> Prep:
    """A block's prep: "reduce" uses steps.train.log1p / reduce / n_components, "scale" only scales."""
    if prep == "reduce":
        return Prep(params.log1p, params.reduce, params.n_components, seed)
    return Prep(False, "none", 0, seed)
