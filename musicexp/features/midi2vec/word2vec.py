"""word2vec skip-gram over node2vec walks: musicexp's deterministic SGNS kernel (``engine="sgns"``,
the default, :mod:`musicexp.features.midi2vec.sgns`) or gensim (``engine="gensim"``; with
``workers=1`` bit-reproducible, with more threads not)."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import zlib

import numpy as np

__all__ = ["word2vec", "stable_hash", "ENGINES"]

ENGINES = ("sgns", "gensim")


def stable_hash(s: str) -> int:
    """Process-independent string hash for gensim's per-word initial vectors (crc32)."""
    return zlib.crc32(s.encode("utf-8"))


def _token_width(n_nodes: int) -> int:
    return max(1, len(str(max(n_nodes - 1, 0))))


def _write_corpus(walks: np.ndarray, path: str, width: int, chunk: int = 1 << 16) -> None:
    """One walk per line, tokens = node ids zero-padded to `width` digits (vectorised bytes)."""
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    n_cols = walks.shape[1]
    with open(path, "wb") as fh:
        for a in range(0, len(walks), chunk):
            w = walks[a:a + chunk].astype(np.int64)
            line = np.empty((len(w), n_cols, width + 1), dtype=np.uint8)
            line[:, :, :width] = (w[:, :, None] // powers) % 10 + ord("0")
            line[:, :, width] = ord(" ")
            line[:, -1, width] = ord("\n")
            fh.write(line.tobytes())


class _WalkCorpus:
    """Re-iterable corpus of token lists (gensim's corpus_iterable mode)."""

    def __init__(self, walks: np.ndarray, tokens: list[str]):
        self.walks, self.tokens = walks, tokens

    def __iter__(self):
        tok = self.tokens.__getitem__
        for a in range(0, len(self.walks), 1 << 14):
            for row in self.walks[a:a + (1 << 14)].tolist():
                yield list(map(tok, row))


@contextlib.contextmanager
def _epoch_bar(epochs: int, progress: bool):
    """gensim callbacks that advance a progress bar (on stdout) by one per finished epoch."""
    if not progress:
        yield []
        return
    from gensim.models.callbacks import CallbackAny2Vec
    from tqdm import tqdm

    bar = tqdm(total=epochs, desc="word2vec", unit="epoch", leave=False, file=sys.stdout)

    class Epochs(CallbackAny2Vec):
        def on_epoch_end(self, model):
            bar.update()

    try:
        yield [Epochs()]
    finally:
        bar.close()


def word2vec(walks: np.ndarray, n_nodes: int, *, dim: int = 100, window: int = 5, epochs: int = 5,
             negative: int = 5, workers: int = 2, seed: int = 0, alpha: float = 0.025,
             min_alpha: float = 0.0001, sample: float = 1e-3, corpus: str = "file",
             progress: bool = False, engine: str = "sgns") -> np.ndarray:
    """word2vec skip-gram (sg=1, negative sampling, min_count=1) over the walks.

    ``engine="sgns"`` (default): :func:`musicexp.features.midi2vec.sgns.sgns`, one thread,
    bit-identical for the same walks and seed whatever ``workers`` (ignored) and the process;
    ``corpus`` and ``progress`` do not apply. ``engine="gensim"``: gensim, as below.

    Returns ``(n_nodes, dim)`` float32 vectors indexed by node id (zeros for a node never
    walked). Other gensim settings are its defaults (alpha 0.025 -> 0.0001, sample 1e-3,
    ns_exponent 0.75), as MIDI2vec/node2vec used them.

    Tokens are node ids zero-padded to a fixed width. The vocabulary is counted with numpy
    (``build_vocab_from_freq``), so the walks are not scanned by Python. ``corpus="file"``
    (default, faster) writes the walks once to a temporary text file and trains with gensim's
    ``corpus_file`` mode (Cython reads it, no GIL); ``corpus="iterable"`` streams token lists.

    Reproducibility: with ``workers=1`` the vectors are bit-identical across processes for the
    same walks, n_nodes and seed (tested with different PYTHONHASHSEED values). gensim < 4
    seeded each word's initial vector with ``hashfxn(word + str(seed))``, whose default
    ``hash`` is randomised per process; gensim 4.x (4.4 here) instead fills the whole matrix
    from ``np.random.default_rng(seed)`` in vocabulary order (which is deterministic here:
    descending count, ties by node id) and no longer calls ``hashfxn`` there. We still pass
    the process-independent :func:`stable_hash` so that no gensim path can depend on
    ``PYTHONHASHSEED``. With ``workers > 1`` gensim is NOT bit-reproducible (threads update
    shared weights in a racy order; in file mode each worker also trains on its own byte range
    of the file).
    """
    if engine == "sgns":
        from musicexp.features.midi2vec.sgns import sgns

        return sgns(walks, n_nodes, dim=dim, window=window, epochs=epochs, negative=negative, seed=seed,
                    alpha=alpha, min_alpha=min_alpha, sample=sample)
    if engine != "gensim":
        raise ValueError(f"engine={engine!r}: one of {', '.join(ENGINES)}")
    from gensim.models import Word2Vec

    walks = np.asarray(walks)
    if walks.ndim != 2:
        raise ValueError("walks must be a 2-D array (n_walks, walk_length)")
    if corpus not in ("file", "iterable"):
        raise ValueError("corpus must be 'file' or 'iterable'")
    out = np.zeros((n_nodes, dim), dtype=np.float32)
    if walks.size == 0:
        return out
    if walks.min() < 0 or walks.max() >= n_nodes:
        raise ValueError("walks hold node ids outside 0..n_nodes-1")
    width = _token_width(n_nodes)
    counts = np.bincount(walks.reshape(-1).astype(np.int64), minlength=n_nodes)
    walked = np.flatnonzero(counts)
    freq = {f"{i:0{width}d}": int(counts[i]) for i in walked.tolist()}
    model = Word2Vec(
        vector_size=dim, window=window, min_count=1, sg=1, hs=0, negative=negative, workers=workers,
        seed=seed, hashfxn=stable_hash, alpha=alpha, min_alpha=min_alpha, sample=sample, epochs=epochs,
    )
    model.build_vocab_from_freq(freq, corpus_count=len(walks))
    with _epoch_bar(epochs, progress) as callbacks:
        if corpus == "file":
            with tempfile.TemporaryDirectory(prefix="musicexp-w2v-") as tmp:
                path = os.path.join(tmp, "walks.txt")
                _write_corpus(walks, path, width)
                model.train(corpus_file=path, total_words=int(walks.size), total_examples=len(walks), epochs=epochs,
                            callbacks=callbacks)
        else:
            tokens = [f"{i:0{width}d}" for i in range(n_nodes)]
            model.train(corpus_iterable=_WalkCorpus(walks, tokens), total_examples=len(walks), epochs=epochs,
                        callbacks=callbacks)
    idx = np.array([int(k) for k in model.wv.index_to_key], dtype=np.int64)
    out[idx] = model.wv.vectors
    return out
