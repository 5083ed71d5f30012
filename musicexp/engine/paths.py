"""Where a run was started and every path it writes, resolved once.

:class:`Launch` is what the app reads from Hydra (the launch folder, the run's own folder, the
command-line overrides, the config groups chosen, whether it is a sweep job); the engine itself
makes no Hydra lookup. Its defaults describe a run outside Hydra (tests, benchmarks).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional


@dataclass(frozen=True)
class Launch:
    cwd: Path = field(default_factory=Path.cwd)  #: where the user ran musicexp (relative paths resolve here)
    run_dir: Optional[Path] = None  #: the run's own folder (Hydra's output dir; None: nothing is written there)
    overrides: tuple[str, ...] = ()  #: the command-line overrides of this run (or sweep job)
    choices: dict = field(default_factory=dict)  #: config groups the run was composed from (dataset, experiment ...)
    multirun: bool = False  #: a job of a sweep


@dataclass(frozen=True)
class Paths:
    """Every path of a run, resolved against the folder musicexp was started from."""

    base: Path
    artifacts: Path
    results_jsonl: Path
    results_csv: Path
    run_dir: Optional[Path]


def resolve_path(p: Any, base: Path) -> Path:
    """``p`` with ``~`` expanded; a relative path is taken relative to ``base``."""
    path = Path(os.path.expanduser(str(p)))
    return path if path.is_absolute() else base / path


def resolve_paths(cfg: Any, launch: Launch) -> Paths:
    base = launch.cwd
    return Paths(base, resolve_path(cfg.paths.artifacts_root, base), resolve_path(cfg.paths.results_jsonl, base),
                 resolve_path(cfg.paths.results_csv, base), launch.run_dir)
