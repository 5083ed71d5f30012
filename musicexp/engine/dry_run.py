"""The dry run (``--dry-run``, as ``snakemake -n``): what a run would do, with every step's
hash, computing and writing nothing (the store is only looked at)."""

from __future__ import annotations

from typing import Any

from musicexp.engine.cache import ArtifactStore
from musicexp.engine.plan import Node


def would_be(cfg: Any, store: ArtifactStore, dataset_id: str, nodes: dict[str, Node], forced: set) -> dict[str, str]:
    """Per step: reused, run, forced, skipped or MISSING (skipped but not cached)."""
    out = {}
    for name, node in nodes.items():
        cached = store.get(dataset_id, name, node.hash) is not None
        out[name] = ("skipped" if cached else "MISSING") if name in cfg.skip else \
            ("forced" if cached else "run") if name in forced else ("reused" if cached else "run")
    return out


def lines(nodes: dict[str, Node], status: dict[str, str], root: Any) -> list[str]:
    """What a dry run prints: per step what it would be, its hash and what it reads."""
    out = ["", "dry run: nothing is computed or written", f"{'step':<8} {'would be':<10} {'hash':<12}  reads"]
    for name, node in nodes.items():
        out.append(f"{name:<8} {status[name]:<10} {node.hash[:10]:<12}  {', '.join(node.deps) or root}")
    todo = [n for n, s in status.items() if s in ("run", "forced")]
    out.append(f"{len(todo)} step(s) would run: {', '.join(todo)}" if todo else "everything is cached: the run "
                 "would only print its summary")
    if any(s == "MISSING" for s in status.values()):
        out.append("MISSING: skipped but not cached; the run would stop there")
    return out
