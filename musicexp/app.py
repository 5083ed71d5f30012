"""The single entrypoint: ``musicexp`` / ``python -m musicexp`` (a Hydra app).

Thin on purpose: the steps register themselves, this module registers the dataset schema and
opener with the engine (which imports no domain package), Hydra composes and type-checks the
config against the schema they declare, the engine does the work. Every Hydra lookup of a run
(launch folder, run folder, overrides, choices, sweep or not) is made here, in :func:`launch`. Before Hydra parses the command
line, :func:`cli` answers ``--help`` from the schema's own docs, turns ``--dry-run`` into the
``dry_run`` run control, and stops an override Hydra's grammar cannot read (with the quoting
that works) and an unknown key (with the nearest valid one). Extra step modules
(your own feature steps) are imported first when named in ``MUSICEXP_PLUGINS`` (comma-separated).
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import sys
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig

log = logging.getLogger("musicexp")

#: the package of the config tree (conf/ in the source tree)
CONFIG_MODULE = "musicexp.conf"
#: libraries whose versions every artifact records
PACKAGES = ("musicexp", "numpy", "pandas", "scikit-learn", "tensorflow", "keras", "symusic", "music21",
            "hydra-core", "omegaconf")


def open_dataset(node: Any, base: Path, progress: bool):
    """The engine's dataset opener: ``dataset.data_root`` resolved against the launch folder."""
    from musicexp.data.dataset import open_dataset
    from musicexp.engine.paths import resolve_path

    return open_dataset(node, resolve_path(node.data_root, base), progress=progress)


def setup() -> None:
    """Register the built-in steps, any plugin modules and the domain, then the config schema."""
    import musicexp.steps  # noqa: F401  (registers the built-in steps and blocks)
    from musicexp.data.dataset import DatasetConf
    from musicexp.engine.domain import Domain, register_domain
    from musicexp.engine.schema import register_configs

    for name in filter(None, (m.strip() for m in os.environ.get("MUSICEXP_PLUGINS", "").split(","))):
        importlib.import_module(name)
    register_domain(Domain(DatasetConf, open_dataset, PACKAGES))
    register_configs()


setup()


@hydra.main(version_base="1.3", config_path=f"pkg://{CONFIG_MODULE}", config_name="config")
def main(cfg: DictConfig) -> float | None:
    from hydra.core.hydra_config import HydraConfig

    from musicexp.core.errors import UserError
    from musicexp.engine.runner import run, show_bars
    from musicexp.native_log import quiet

    quiet(cfg.verbose)  # before TensorFlow is first imported
    try:
        with _log_beside_bars(show_bars(cfg)):
            result = run(cfg, launch())
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


def launch():
    """How this run was started, read from Hydra (the engine makes no Hydra lookup itself)."""
    from hydra.core.hydra_config import HydraConfig

    from musicexp.engine.paths import Launch

    hc = HydraConfig.get()
    return Launch(cwd=Path(hc.runtime.cwd), run_dir=Path(hc.runtime.output_dir), overrides=tuple(hc.overrides.task),
                  choices={k: v for k, v in hc.runtime.choices.items() if not k.startswith("hydra")},
                  multirun=hc.mode.name == "MULTIRUN")


def _log_beside_bars(bars: bool):
    """Log lines written above the progress bars instead of through them (a terminal only)."""
    if not bars:
        return contextlib.nullcontext()
    from tqdm.contrib.logging import logging_redirect_tqdm

    return logging_redirect_tqdm()


def cli(argv: list[str] | None = None) -> None:
    """The console command: ``--help``, ``--dry-run``, unreadable overrides and unknown keys,
    then the Hydra app."""
    from musicexp.engine.help import bad_override, config_folders, config_groups, help_text, unknown_override

    args = sys.argv[1:] if argv is None else argv
    folders = config_folders(CONFIG_MODULE, args)  # the packaged tree and the user's --config-dir
    if "--help" in args or "-h" in args:
        print(help_text("musicexp: reproducible symbolic-music classification experiments (a Hydra app).",
                        folders))
        return
    if "--dry-run" in args:
        args = [a for a in args if a != "--dry-run"] + ["dry_run=true"]
    problem = bad_override(args) or unknown_override(args, config_groups(folders))
    if problem:
        print(f"musicexp: {problem}", file=sys.stderr)
        sys.exit(2)
    sys.argv = [sys.argv[0], *args]
    main()


if __name__ == "__main__":
    cli()
