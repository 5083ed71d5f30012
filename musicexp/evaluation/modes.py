"""Modes, derived from the registered feature blocks (nothing else lists them).

* ``<block>_only``: a model on one block (``sgt_only``, ``emb_only``).
* ``early:<a>+<b>``: one model on the blocks' prepared matrices side by side.
* ``late:<a>+<b>``: one model per block; per task the weights of ``sum_k w_k * p_k`` are chosen
  on the inner validation part (a grid of step 0.05 over the simplex, best validation macro-F1).
* ``early_fusion`` / ``late_fusion``: the same over every block registered with ``fuse=True``
  (today ``sgt``, ``emb`` and ``stats``, in block order; ``early:sgt+emb`` is the older pair).
"""

from __future__ import annotations

import difflib
import itertools
from dataclasses import dataclass

from musicexp.features import blocks as registry

KINDS = ("early", "late")
GRID = 20  # late-fusion weights are multiples of 1/GRID


@dataclass(frozen=True)
class Mode:
    name: str
    kind: str  # single | early | late
    blocks: tuple[str, ...]

    def models(self) -> tuple[str, ...]:
        """The models this mode needs per fold (shared between modes): a block name, or ``early:a+b``."""
        if self.kind == "early":
            return (f"early:{'+'.join(self.blocks)}",)
        return self.blocks


def fused() -> tuple[str, ...]:
    return tuple(b.name for b in registry.blocks() if b.fuse and not b.control)


def default_modes() -> list[str]:
    """Each feature block alone, then early and late fusion of the fused blocks (two or more)."""
    return ([f"{b.name}_only" for b in registry.blocks() if not b.control]
            + (["early_fusion", "late_fusion"] if len(fused()) > 1 else []))


def allowed() -> list[str]:
    names = [b.name for b in registry.blocks()]
    return [f"{n}_only" for n in names] + ["early_fusion", "late_fusion", "early:<block>+<block>...",
                                           "late:<block>+<block>..."]


def parse(name: str) -> Mode:
    """The mode ``name`` names; ValueError naming the allowed ones (and the nearest) otherwise."""
    names = {b.name for b in registry.blocks()}
    if name.endswith("_only") and name[: -len("_only")] in names:
        return Mode(name, "single", (name[: -len("_only")],))
    if name in ("early_fusion", "late_fusion"):
        if len(fused()) < 2:
            raise ValueError(f"mode {name!r} needs two fused blocks; registered: {sorted(names)}")
        return Mode(name, name.split("_")[0], fused())
    kind, _, rest = name.partition(":")
    parts = tuple(rest.split("+")) if rest else ()
    if kind in KINDS and len(parts) >= 2 and set(parts) <= names and len(set(parts)) == len(parts):
        return Mode(name, kind, parts)
    near = difflib.get_close_matches(name, [a for a in allowed() if "<" not in a], n=1)
    raise ValueError(f"unknown mode {name!r}" + (f" (did you mean {near[0]!r}?)" if near else "")
                     + f"; allowed: {', '.join(allowed())} with blocks {', '.join(sorted(names))}")


def steps_for(modes: list[Mode]) -> tuple[str, ...]:
    """The steps whose artifacts the modes read, in block order."""
    used = {b for m in modes for b in m.blocks}
    return tuple(dict.fromkeys(b.step for b in registry.blocks() if b.name in used))


def control() -> Mode | None:
    """The metadata-only control (the registered control block), if any."""
    found = [b for b in registry.blocks() if b.control]
    return Mode("metadata_control", "single", (found[0].name,)) if found else None


def weight_grid(k: int):
    """Every weight vector of ``k`` blocks on the simplex with step 1/GRID; the last block's
    weight ascends fastest (for two blocks: (1, 0), (0.95, 0.05) ... (0, 1))."""
    import numpy as np

    rows = [c for c in itertools.product(range(GRID + 1), repeat=k - 1) if sum(c) <= GRID]
    rows.sort()
    w = np.array([[GRID - sum(c), *c] for c in rows], dtype=np.float64) / GRID
    w[:, 0] = 1.0 - w[:, 1:].sum(axis=1)
    return w


def late_weights(p_val: list, y_val) -> "np.ndarray":  # noqa: F821
    """The weights (one per block) maximising validation macro-F1 of ``sum_k w_k * p_val[k]``;
    the first best in :func:`weight_grid` order."""
    import numpy as np
    from sklearn.metrics import f1_score

    grid = weight_grid(len(p_val))
    if len(y_val) == 0:  # no validation part (a tiny dataset): equal weights
        return np.full(len(p_val), 1.0 / len(p_val))
    best, best_w = -1.0, grid[0]
    for w in grid:
        score = f1_score(y_val, combine(w, p_val).argmax(1), average="macro", zero_division=0)
        if score > best:
            best, best_w = score, w
    return best_w


def combine(w, probs: list):
    """``sum_k w_k * probs[k]``."""
    out = w[0] * probs[0]
    for wk, p in zip(w[1:], probs[1:]):
        out = out + wk * p
    return out
