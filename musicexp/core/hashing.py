"""Content hashes: sha256 of canonical JSON, and fingerprints of data files.

Canonical means: interpolations resolved, Enums as their values, keys sorted, integral floats
written as integers (``alpha: 1`` and ``alpha: 1.0`` hash the same), no whitespace.
"""

from __future__ import annotations

import hashlib
import json
import math
from enum import Enum
from pathlib import Path
from typing import Any, Iterable

from musicexp.core.fsutil import file_sha256


def canonical(obj: Any) -> Any:
    """A JSON-ready copy of ``obj`` whose serialisation does not depend on incidental form."""
    from omegaconf import DictConfig, ListConfig, OmegaConf

    if isinstance(obj, (DictConfig, ListConfig)):
        obj = OmegaConf.to_container(obj, resolve=True, enum_to_str=True)
    if isinstance(obj, Enum):
        return canonical(obj.value)
    if isinstance(obj, bool) or obj is None or isinstance(obj, str):
        return obj
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        if math.isfinite(obj) and obj.is_integer():
            return int(obj)
        return repr(float(obj)) if not math.isfinite(obj) else float(obj)
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, dict):
        return {str(k): canonical(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [canonical(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalars
        return canonical(obj.item())
    raise TypeError(f"cannot hash a value of type {type(obj).__name__}: {obj!r}")


def dumps(obj: Any) -> str:
    return json.dumps(canonical(obj), sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def digest(obj: Any) -> str:
    """sha256 hex digest of the canonical JSON of ``obj``."""
    return hashlib.sha256(dumps(obj).encode()).hexdigest()


def fingerprint_files(root: Path, relpaths: Iterable[str], content: bool = False) -> str:
    """Identity of a set of files: names, sizes and mtimes (or their contents)."""
    h = hashlib.sha256()
    for rel in relpaths:
        p = root / rel
        if content:
            h.update(f"{rel}\0{file_sha256(p)}\n".encode())
        else:
            st = p.stat()
            h.update(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()
