"""Deterministic skip-gram with negative sampling (SGNS) over node2vec walks: musicexp's word2vec.

The model is gensim's ``Word2Vec(sg=1, hs=0, negative=K, min_count=1)`` as MIDI2vec used it:
the same vocabulary (every walked node), initial vectors, context window with gensim's random
shrinking, frequent-word subsampling formula, negative-sampling distribution (count^0.75) and
linear learning-rate decay from ``alpha`` to ``min_alpha`` over all epochs. It differs in how
the negatives are used (Ji et al. 2016, "Parallelizing Word2Vec in Shared and Distributed
Memory"): one set of ``K`` negatives per centre word, shared by all its context words, and the
updates of one window computed from the vectors before the window's update. Per centre word
``w`` with context words ``c_1..c_n`` (its window after subsampling) and outputs
``o_0 = w`` (label 1), ``o_1..o_K`` (negatives, label 0; one equal to ``w`` is dropped)::

    G[c, k]   = (label_k - sigmoid(syn0[c_c] . syn1[o_k])) * lr
    syn1[o_k] += sum_c G[c, k] syn0[c_c]        (syn0 before this window's update)
    syn0[c_c] += sum_k G[c, k] syn1[o_k]        (syn1 before this window's update)

so a window is two small matrix products instead of ``n (K + 1)`` separate vector updates, and
each output row is read once per window instead of once per (context, output) pair.

Determinism: one thread, walks in the given order, one 48-bit linear congruential random stream
(gensim's) seeded from ``seed``, float32 arithmetic in a fixed order (dot products over 8 lanes
``j % 8`` summed in a fixed tree). Nothing depends on the process, the thread count, the
launcher or the CPU's vector width: the same walks and seed give bit-identical vectors.

Two implementations compute the same numbers bit for bit (tested): the compiled kernel
(``_sgns.pyx``, used when built) and :func:`train_reference` (numpy, one window at a time, slow:
the fallback without a compiler and the tests' second implementation).
"""

from __future__ import annotations

import numpy as np

try:  # optional compiled kernel (setup.py); train_reference below is the fallback
    from musicexp.features.midi2vec import _sgns as compiled
except ImportError:
    compiled = None

__all__ = ["sgns", "prepare", "train_reference", "compiled"]

# Use the compiled kernel when it is built; tests set it to False to run the numpy reference.
_USE_COMPILED = compiled is not None

LANES = 8  # dot-product lanes; rows are padded with zeros to a multiple of this
MAX_WINDOW = 1024
SIG_SIZE = 1024  # entries of the sigmoid table over [-6, 6)
SIG_MAX = 6.0
_MASK48 = (1 << 48) - 1


class Prepared:
    """Everything the training loop reads, computed once with numpy (shared by both kernels)."""

    def __init__(self, vocab, walks, syn0, syn1, keep, cum, sig, sig_scale, state):
        self.vocab, self.walks, self.syn0, self.syn1 = vocab, walks, syn0, syn1
        self.keep, self.cum, self.sig, self.sig_scale, self.state = keep, cum, sig, sig_scale, state


def prepare(walks: np.ndarray, n_nodes: int, *, dim: int, seed: int, sample: float) -> Prepared:
    """Vocabulary, initial vectors and tables, as gensim builds them for the same settings.

    * vocabulary: the walked nodes, by descending count, ties by node id (gensim's order);
    * initial input vectors: ``(rng.random((V, dim), float32) * 2 - 1) / dim`` with
      ``rng = np.random.default_rng(seed)`` in vocabulary order (gensim 4's ``prep_vectors``);
      output vectors zero;
    * subsampling: word ``v`` (count ``n_v``, ``N`` words, ``t = sample * N``) is kept with
      probability ``min(1, (sqrt(n_v / t) + 1) t / n_v)`` (gensim's formula; ``sample=0``: all),
      stored as a threshold on a 32-bit draw;
    * negatives: ``n_v^0.75`` cumulated and scaled to ``2^31 - 1`` (gensim's ``cum_table``);
    * sigmoid: a table of ``SIG_SIZE`` midpoints over [-6, 6), saturating outside.
    """
    counts = np.bincount(walks.reshape(-1), minlength=n_nodes).astype(np.int64)
    walked = np.flatnonzero(counts)
    vocab = walked[np.lexsort((walked, -counts[walked]))]
    index = np.full(n_nodes, -1, dtype=np.int32)
    index[vocab] = np.arange(len(vocab), dtype=np.int32)
    cnt = counts[vocab].astype(np.float64)
    total = float(cnt.sum())
    if sample > 0:
        t = sample * total
        p = np.minimum(1.0, (np.sqrt(cnt / t) + 1.0) * (t / cnt))
    else:
        p = np.ones_like(cnt)
    keep = np.round(p * 2.0 ** 32).astype(np.uint64)
    pw = cnt ** 0.75
    cum = np.round(np.cumsum(pw) / pw.sum() * (2 ** 31 - 1)).astype(np.int64)
    cum[-1] = max(int(cum[-1]), 1)
    rng = np.random.default_rng(seed)
    dp = -(-dim // LANES) * LANES
    syn0 = np.zeros((len(vocab), dp), dtype=np.float32)
    init = rng.random((len(vocab), dim), dtype=np.float32)
    init *= 2.0
    init -= 1.0
    init /= dim
    syn0[:, :dim] = init
    syn1 = np.zeros_like(syn0)
    x = -SIG_MAX + (np.arange(SIG_SIZE) + 0.5) * (2 * SIG_MAX / SIG_SIZE)
    sig = (1.0 / (1.0 + np.exp(-x))).astype(np.float32)
    sig_scale = np.float32(SIG_SIZE / (2 * SIG_MAX))
    state = (int(seed) * 0x5DEECE66D + 0x9E3779B97F4A7C15) & _MASK48
    return Prepared(vocab, np.ascontiguousarray(index[walks]), syn0, syn1, keep, cum, sig, sig_scale, state)


def _next(state: int) -> tuple[int, int]:
    state = (state * 25214903917 + 11) & _MASK48
    return state, state >> 16


def _dot(x: np.ndarray, y: np.ndarray) -> np.float32:
    """The kernel's float32 dot product: 8 lanes (``j % 8``) summed in order, then a fixed tree."""
    prod = (x * y).reshape(-1, LANES)
    acc = np.zeros(LANES, dtype=np.float32)
    for row in prod:
        acc = acc + row
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]))


def train_reference(p: Prepared, *, window: int, negative: int, epochs: int, alpha: float,
                    min_alpha: float) -> int:
    """The numpy reference of the compiled loop (same numbers bit for bit; slow: tests and the
    fallback without a compiler). Trains ``p.syn0``/``p.syn1`` in place; returns the random state."""
    walks, syn0, syn1, keep, cum, sig = p.walks, p.syn0, p.syn1, p.keep, p.cum, p.sig
    state, total, n_walks = p.state, int(p.cum[-1]), len(walks)
    steps = float(epochs) * float(n_walks)
    one, zero, six = np.float32(1), np.float32(0), np.float32(SIG_MAX)
    for e in range(epochs):
        for w in range(n_walks):
            a = alpha - (alpha - min_alpha) * ((float(e) * float(n_walks) + float(w)) / steps)
            af = np.float32(max(a, min_alpha))
            sent = []
            for tok in walks[w].tolist():
                state, r = _next(state)
                if (r & 0xFFFFFFFF) < int(keep[tok]):
                    sent.append(tok)
            m = len(sent)
            for i in range(m):
                state, r = _next(state)
                b = r % window
                ctx = [sent[j] for j in range(max(0, i - window + b), min(m, i + window + 1 - b)) if j != i]
                if not ctx:
                    continue
                outs = [sent[i]]
                for _ in range(negative):
                    state, r = _next(state)
                    neg = int(np.searchsorted(cum, r % total, side="left"))
                    if neg != sent[i]:
                        outs.append(neg)
                grad = np.empty((len(ctx), len(outs)), dtype=np.float32)
                for k, o in enumerate(outs):
                    label = one if k == 0 else zero
                    for c, cw in enumerate(ctx):
                        s = _dot(syn0[cw], syn1[o])
                        if s <= -six:
                            f = zero
                        elif s >= six:
                            f = one
                        else:
                            f = sig[min(int((s + six) * p.sig_scale), SIG_SIZE - 1)]
                        grad[c, k] = (label - f) * af
                neu = np.zeros((len(ctx), syn0.shape[1]), dtype=np.float32)
                for c in range(len(ctx)):
                    for k, o in enumerate(outs):
                        neu[c] = neu[c] + grad[c, k] * syn1[o]
                for k, o in enumerate(outs):
                    for c, cw in enumerate(ctx):
                        syn1[o] = syn1[o] + grad[c, k] * syn0[cw]
                for c, cw in enumerate(ctx):
                    syn0[cw] = syn0[cw] + neu[c]
    return state


def sgns(walks: np.ndarray, n_nodes: int, *, dim: int = 100, window: int = 5, epochs: int = 5, negative: int = 5,
         seed: int = 0, alpha: float = 0.025, min_alpha: float = 0.0001, sample: float = 1e-3) -> np.ndarray:
    """``(n_nodes, dim)`` float32 input vectors indexed by node id (zeros for a node never walked)."""
    walks = np.asarray(walks)
    if walks.ndim != 2:
        raise ValueError("walks must be a 2-D array (n_walks, walk_length)")
    if not 1 <= window <= MAX_WINDOW:
        raise ValueError(f"steps.embed.window={window}: the sgns engine allows 1..{MAX_WINDOW}")
    if negative < 1:
        raise ValueError(f"steps.embed.negative={negative}: the sgns engine needs at least 1 negative sample "
                         "(use steps.embed.engine=gensim for other settings)")
    if dim < 1 or epochs < 1:
        raise ValueError("dim and epochs must be >= 1")
    out = np.zeros((n_nodes, dim), dtype=np.float32)
    if walks.size == 0:
        return out
    if walks.min() < 0 or walks.max() >= n_nodes:
        raise ValueError("walks hold node ids outside 0..n_nodes-1")
    p = prepare(walks, n_nodes, dim=dim, seed=seed, sample=sample)
    if _USE_COMPILED:
        compiled.train(p.walks, p.syn0, p.syn1, p.keep, p.cum, p.sig, float(p.sig_scale), window, negative, epochs,
                       float(alpha), float(min_alpha), p.state)
    else:
        train_reference(p, window=window, negative=negative, epochs=epochs, alpha=float(alpha),
                        min_alpha=float(min_alpha))
    out[p.vocab] = p.syn0[:, :dim]
    return out
