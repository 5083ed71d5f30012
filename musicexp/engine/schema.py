"""The config schema, assembled from the registered steps and the registered dataset schema.

Hydra's structured-config pattern: each part owns the dataclass of its keys (a step its
``steps.<name>`` node, the domain its ``dataset`` node, this module the run's own keys), and
:func:`register_configs` puts the assembled root in Hydra's ConfigStore as ``musicexp_schema``,
first in ``conf/config.yaml``'s defaults list. So the YAML files hold only what differs from
the defaults, an unknown key or a wrong type fails while Hydra composes (naming the key), and
Enums list their allowed values. The checks types cannot express are :mod:`.validate`'s.
"""

from __future__ import annotations

import dataclasses
import functools
import typing
from dataclasses import dataclass, field, make_dataclass
from typing import List, Optional

from musicexp.core import registry
from musicexp.core.registry import UNHASHED, param, within
from musicexp.engine.domain import domain


@dataclass
class PathsConf:
    artifacts_root: str = param("artifacts", doc="the artifact cache (relative: to where you run musicexp)")
    results_jsonl: str = param("results/results.jsonl", doc="results log, one JSON line per mode and task")
    results_csv: str = param("results/results.csv", doc="the same records as CSV (rewritten from the JSONL)")


@dataclass
class ExperimentConf:
    name: str = param("default", doc="recorded with every result")


@dataclass
class TrackingConf:
    enabled: bool = param(False, hash=UNHASHED, doc="log each run with new results to MLflow (pip install 'musicexp[track]')")
    uri: Optional[str] = param(None, hash=UNHASHED, doc="MLflow tracking URI; null = a file store ./mlruns")
    experiment: str = param("musicexp", hash=UNHASHED, doc="MLflow experiment name")


ROOT_KEYS = [  # (name, type, field) of the root besides paths, dataset, steps, experiment
    ("seed", int, param(42, doc="seed of folds, walks, models")),
    ("deterministic_tf", bool, param(True, doc="TensorFlow op determinism (same numbers run after run)")),
    ("resume", bool, param(True, hash=UNHASHED, doc="reuse finished artifacts; false recomputes every step")),
    ("skip", List[str], param(factory=list, hash=UNHASHED, doc="steps not run: their cached artifact is used")),
    ("force", List[str], param(factory=list, hash=UNHASHED, doc="steps recomputed, with everything downstream")),
    ("progress", bool, param(True, hash=UNHASHED, doc="progress bars (on a terminal only)")),
    ("verbose", int, param(0, hash=UNHASHED, check=within(0, 2, "both"),
                           doc="0: short console; 1: + classification reports, warnings; 2: + TensorFlow's log")),
    ("dry_run", bool, param(False, hash=UNHASHED, doc="say which steps would run or be reused, compute nothing")),
]


def root_schema() -> type:
    """The root dataclass: fixed keys, the dataset's node, one ``steps.<name>`` node per registered step."""
    steps = tuple((s.name, s.schema) for s in registry.steps().values() if s.schema is not None)
    return _root(domain().dataset_schema, steps)


@functools.lru_cache(maxsize=8)
def _root(dataset: type, steps: tuple) -> type:
    steps_conf = make_dataclass("StepsConf", [(name, schema, field(default_factory=schema)) for name, schema in steps])
    return make_dataclass("Config", [
        *ROOT_KEYS[:2],
        ("paths", PathsConf, field(default_factory=PathsConf)),
        ("dataset", dataset, field(default_factory=dataset)),
        ("steps", steps_conf, field(default_factory=steps_conf)),
        ("experiment", ExperimentConf, field(default_factory=ExperimentConf)),
        ("tracking", TrackingConf, field(default_factory=TrackingConf)),
        *ROOT_KEYS[2:],
    ])


def register_configs() -> None:
    """Put the schema in Hydra's ConfigStore (after the steps and the domain are registered)."""
    from hydra.core.config_store import ConfigStore

    ConfigStore.instance().store(name="musicexp_schema", node=root_schema())


@functools.lru_cache(maxsize=None)
def nested(schema: type) -> dict[str, type]:
    """Fields of ``schema`` that are dataclasses themselves (annotations resolved)."""
    hints = typing.get_type_hints(schema)
    return {name: t for name, t in hints.items() if dataclasses.is_dataclass(t)}


def schema_keys(schema: type | None = None, prefix: str = "") -> dict[str, dataclasses.Field]:
    """Every dotted key of the schema with its field (the one place key docs come from)."""
    out: dict[str, dataclasses.Field] = {}
    schema = schema or root_schema()
    inner = nested(schema)
    for f in dataclasses.fields(schema):
        if f.name in inner:
            out.update(schema_keys(inner[f.name], f"{prefix}{f.name}."))
        else:
            out[f"{prefix}{f.name}"] = f
    return out
