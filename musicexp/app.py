"""The single entrypoint: ``musicexp`` / ``python -m musicexp`` (a Hydra app).

Thin on purpose: the steps register themselves, Hydra composes and type-checks the config
against the schema they declare, the engine does the work. Extra step modules (your own
feature steps) are imported first when named in ``MUSICEXP_PLUGINS`` (comma-separated).
"""

from __future__ import annotations

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

    from musicexp.engine.runner import run
    from musicexp.errors import UserError

    try:
        return run(cfg, overrides=list(HydraConfig.get().overrides.task)).score
    except UserError as exc:
        log.error("%s", exc)
        if HydraConfig.get().mode.name == "RUN":
            sys.exit(2)
        raise


if __name__ == "__main__":
    main()
