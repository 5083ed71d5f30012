"""The single entrypoint: ``musicexp`` / ``python -m musicexp`` (a Hydra app).

Thin on purpose: the steps register themselves, Hydra composes and type-checks the config
against the schema they declare, the engine does the work. Before Hydra parses the command
line, :func:`cli` answers ``--help`` from the schema's own docs, turns ``--dry-run`` into the
``dry_run`` run control, and stops an unknown key with the nearest valid one. Extra step modules
(your own feature steps) are imported first when named in ``MUSICEXP_PLUGINS`` (comma-separated).
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import sys

import hydra
from omegaconf import DictConfig

log = logging.getLogger("musicexp")


def setup() -> None:
    """Register the built-in steps and any plugin modules, then the config schema."""
    import musicexp.steps  # noqa: F401  (registers the built-in steps and blocks)
    from musicexp.engine.config import register_configs

    for name in filter(None, (m.strip() for m in os.environ.get("MUSICEXP_PLUGINS", "").split(","))):
        importlib.import_module(name)
    register_configs()


setup()


@hydra.main(version_base="1.3", config_path="pkg://musicexp.conf", config_name="config")
def main(cfg: DictConfig) -> float | None:
    from hydra.core.hydra_config import HydraConfig

    from musicexp.console import quiet
    from musicexp.engine.runner import run, show_bars
    from musicexp.errors import UserError

    quiet(cfg.verbose)  # before TensorFlow is first imported
    try:
        with _log_beside_bars(show_bars(cfg)):
            result = run(cfg, overrides=list(HydraConfig.get().overrides.task))
    except UserError as exc:
        log.error("%s", exc)
        if HydraConfig.get().mode.name == "RUN":
            sys.exit(2)
        raise
    if cfg.tracking.enabled and result.appended:
        from musicexp.tools.tracking import log_run

        run_id = log_run(result.settings, result.records, {f.name: f for f in result.files},
                         uri=cfg.tracking.uri, experiment=cfg.tracking.experiment)
        log.info("tracked as MLflow run %s (experiment %s)", run_id, cfg.tracking.experiment)
    return result.score


def _log_beside_bars(bars: bool):
    """Log lines written above the progress bars instead of through them (a terminal only)."""
    if not bars:
        return contextlib.nullcontext()
    from tqdm.contrib.logging import logging_redirect_tqdm

    return logging_redirect_tqdm()


def cli(argv: list[str] | None = None) -> None:
    """The console command: ``--help``, ``--dry-run`` and unknown keys, then the Hydra app."""
    from musicexp.engine.config import help_text, unknown_override

    args = sys.argv[1:] if argv is None else argv
    if "--help" in args or "-h" in args:
        print(help_text())
        return
    if "--dry-run" in args:
        args = [a for a in args if a != "--dry-run"] + ["dry_run=true"]
    problem = unknown_override(args)
    if problem:
        print(f"musicexp: {problem}", file=sys.stderr)
        sys.exit(2)
    sys.argv = [sys.argv[0], *args]
    main()


if __name__ == "__main__":
    cli()
