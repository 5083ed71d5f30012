"""The single entrypoint: ``musicexp`` / ``python -m musicexp`` (a Hydra app).

Thin on purpose: Hydra composes and type-checks the config, the pipeline does the work.
"""

from __future__ import annotations

import logging
import sys

import hydra
from omegaconf import DictConfig

from musicexp.config import register_configs

register_configs()
log = logging.getLogger("musicexp")


@hydra.main(version_base="1.3", config_path="pkg://musicexp.conf", config_name="config")
def main(cfg: DictConfig) -> float | None:
    from hydra.core.hydra_config import HydraConfig

    from musicexp.errors import UserError
    from musicexp.pipeline import run

    try:
        return run(cfg, overrides=list(HydraConfig.get().overrides.task)).score
    except UserError as exc:
        log.error("%s", exc)
        if HydraConfig.get().mode.name == "RUN":
            sys.exit(2)
        raise


if __name__ == "__main__":
    main()
