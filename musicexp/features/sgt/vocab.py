"""Train-time SGT: the vocabulary chosen on a fold's training pieces, and the normalisations."""

from __future__ import annotations

import operator

import numpy as np

__all__ = ["NORMALIZE_MODES", "select_vocab", "normalize"]

NORMALIZE_MODES = ("max", "sgt", "none")


def count_arg(value, name: str) -> int:
    """``value`` as an int >= 0; ValueError naming ``name`` otherwise."""
    try:
        k = operator.index(value)
    except TypeError:
        raise ValueError(f"{name} must be an integer, got {value!r}") from None
    if k < 0:
        raise ValueError(f"{name} must be >= 0, got {k}")
    return k


def select_vocab(token_counts: np.ndarray, top_vocab: int) -> np.ndarray:
    """token_counts: (n_tokens,) counts summed over the TRAINING pieces of a fold.
    Return the indices of the `top_vocab` most frequent tokens, ties broken by the smaller
    token index (deterministic), in ascending token order. Tokens with zero count are never
    selected (so the result can be shorter than top_vocab)."""
    c = np.asarray(token_counts)
    if c.ndim != 1:
        raise ValueError(f"token_counts must be 1-D, got shape {c.shape}")
    if c.size and not (np.issubdtype(c.dtype, np.integer) or np.issubdtype(c.dtype, np.floating)):
        raise ValueError(f"token_counts must be numeric, got dtype {c.dtype}")
    c = c.astype(np.float64)
    if np.any(np.isnan(c)) or np.any(c < 0):
        raise ValueError("token_counts must be non-negative and not NaN")
    top = count_arg(top_vocab, "top_vocab")
    order = np.argsort(-c, kind="stable")  # count descending, smaller index first on ties
    sel = order[:top]
    sel = sel[c[sel] > 0]
    return np.sort(sel).astype(np.intp)


def normalize(W: np.ndarray, C: np.ndarray, mode: str, alpha: float) -> np.ndarray:
    """W, C: (..., V, V) already restricted to the vocabulary (vectorised over leading piece axis).
    mode 'max': S = W / max(W) per piece when max > 0 (older pipeline);
    'sgt': S = (W / C) ** (1/alpha) where C > 0 else 0 (Ranjan et al.; kappa = alpha);
    'none': W. Raise ValueError naming the allowed modes otherwise.

    Always returns a new float64 array. 'sgt' needs alpha > 0 and C of W's shape; C may be
    None for the other modes.
    """
    if mode not in NORMALIZE_MODES:
        raise ValueError(
            f"unknown normalize mode {mode!r}; allowed modes: "
            + ", ".join(repr(m) for m in NORMALIZE_MODES)
        )
    W = np.array(W, dtype=np.float64, copy=True)
    if W.ndim < 2 or W.shape[-1] != W.shape[-2]:
        raise ValueError(f"W must have shape (..., V, V), got {W.shape}")
    if mode == "none":
        return W
    if mode == "max":
        if W.size == 0:
            return W
        mx = W.max(axis=(-2, -1), keepdims=True)
        np.divide(W, mx, out=W, where=mx > 0)
        return W
    # mode == "sgt"
    a = float(alpha)
    if not (np.isfinite(a) and a > 0):
        raise ValueError(f"normalize mode 'sgt' needs a finite alpha > 0 (it takes the 1/alpha root), got {alpha!r}")
    if C is None:
        raise ValueError("normalize mode 'sgt' needs the pair counts C")
    C = np.asarray(C, dtype=np.float64)
    if C.shape != W.shape:
        raise ValueError(f"C has shape {C.shape} but W has shape {W.shape}")
    S = np.zeros_like(W)
    pos = C > 0
    S[pos] = (W[pos] / C[pos]) ** (1.0 / a)
    return S
