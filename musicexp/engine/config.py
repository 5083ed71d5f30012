"""The config schema, assembled from the registered steps, and the checks types cannot express.

Hydra's structured-config pattern: each library part owns the dataclass of its keys (a step its
``steps.<name>`` node, the dataset module ``dataset``), and :func:`register_configs` puts the
assembled root in Hydra's ConfigStore as ``musicexp_schema``, first in ``conf/config.yaml``'s
defaults list. So the YAML files hold only what differs from the defaults, an unknown key or a
wrong type fails while Hydra composes (naming the key), and Enums list their allowed values.
:func:`validate` then runs every range check declared with :func:`~musicexp.engine.registry.param`
and reports all problems at once, before any work.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import os
import typing
from dataclasses import dataclass, field, make_dataclass
from pathlib import Path
from typing import Any, List, Optional

from musicexp.data.dataset import DatasetConf
from musicexp.engine import registry
from musicexp.engine.registry import UNHASHED, param, within
from musicexp.errors import UserError


class ConfigError(UserError):
    """Config values are impossible; the message names each key and what is allowed."""


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
    """The root dataclass: fixed keys plus one ``steps.<name>`` node per registered step."""
    return _root(tuple((s.name, s.schema) for s in registry.steps().values() if s.schema is not None))


@functools.lru_cache(maxsize=8)
def _root(steps: tuple) -> type:
    steps_conf = make_dataclass("StepsConf", [(name, schema, field(default_factory=schema)) for name, schema in steps])
    return make_dataclass("Config", [
        *ROOT_KEYS[:2],
        ("paths", PathsConf, field(default_factory=PathsConf)),
        ("dataset", DatasetConf, field(default_factory=DatasetConf)),
        ("steps", steps_conf, field(default_factory=steps_conf)),
        ("experiment", ExperimentConf, field(default_factory=ExperimentConf)),
        ("tracking", TrackingConf, field(default_factory=TrackingConf)),
        *ROOT_KEYS[2:],
    ])


def register_configs() -> None:
    """Put the schema in Hydra's ConfigStore (after the steps are registered, before composing)."""
    from hydra.core.config_store import ConfigStore

    ConfigStore.instance().store(name="musicexp_schema", node=root_schema())


# --------------------------------------------------------------------------- paths

@dataclass(frozen=True)
class Paths:
    """Every path of a run, resolved once against the folder musicexp was started from."""

    base: Path
    artifacts: Path
    results_jsonl: Path
    results_csv: Path
    data_root: Path
    run_dir: Optional[Path]  # the Hydra job folder (None outside a Hydra app)


def launch_dir() -> Path:
    """Where the user ran musicexp from (not Hydra's run folder)."""
    from hydra.core.hydra_config import HydraConfig  # (hydra.utils would import instantiate: slow)

    return Path(HydraConfig.get().runtime.cwd) if HydraConfig.initialized() else Path.cwd()


def resolve_path(p: str, base: Path) -> Path:
    path = Path(os.path.expanduser(str(p)))
    return path if path.is_absolute() else base / path


def resolve_paths(cfg: Any) -> Paths:
    from hydra.core.hydra_config import HydraConfig

    base = launch_dir()
    run_dir = Path(HydraConfig.get().runtime.output_dir) if HydraConfig.initialized() else None
    return Paths(base, resolve_path(cfg.paths.artifacts_root, base), resolve_path(cfg.paths.results_jsonl, base),
                 resolve_path(cfg.paths.results_csv, base), resolve_path(cfg.dataset.data_root, base), run_dir)


# --------------------------------------------------------------------------- checks

@functools.lru_cache(maxsize=None)
def _nested(schema: type) -> dict[str, type]:
    """Fields of ``schema`` that are dataclasses themselves (annotations resolved)."""
    hints = typing.get_type_hints(schema)
    return {name: t for name, t in hints.items() if dataclasses.is_dataclass(t)}


def _walk(node: Any, schema: type, prefix: str, out: list[str]) -> None:
    """Range checks of every field of ``schema`` (recursively), and keys the schema lacks."""
    from omegaconf import DictConfig

    names = {f.name for f in dataclasses.fields(schema)}
    nested = _nested(schema)
    for key in node:
        if key not in names:  # Hydra rejects unknown keys, except when forced in with +key=value
            near = difflib.get_close_matches(str(key), names, n=1)
            out.append(f"{prefix}{key}: unknown key" + (f" (did you mean {prefix}{near[0]}?)" if near else
                                                         f" (allowed under {prefix.rstrip('.') or 'the top'}: "
                                                         f"{', '.join(sorted(names))})"))
    for f in dataclasses.fields(schema):
        value = node[f.name]
        if f.name in nested and isinstance(value, DictConfig):
            _walk(value, nested[f.name], f"{prefix}{f.name}.", out)
            continue
        check = f.metadata.get("check")
        if check is not None and value is not None:
            allowed = check(value)
            if allowed:
                out.append(f"{prefix}{f.name}={_show(value)} is not allowed: {allowed}")
    extra = getattr(schema, "problems", None)  # cross-field checks a schema declares
    if extra is not None:
        out.extend(f"{prefix}{p}" for p in extra(node))


def _show(value: Any) -> str:
    from omegaconf import ListConfig

    return repr(list(value)) if isinstance(value, ListConfig) else repr(getattr(value, "value", value))


def validate(cfg: Any) -> None:
    """Every check that types cannot express; raise one ConfigError listing all problems."""
    from omegaconf import OmegaConf

    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        hint = {"dataset.data_root": "the folder of your MIDI files", "dataset.id": "a name for its artifacts"}
        raise ConfigError(
            "missing value(s) for " + ", ".join(f"{k} ({hint[k]})" if k in hint else k for k in missing)
            + "; set them on the command line (e.g. dataset.data_root=/data/midi) or in the dataset file"
        )
    problems: list[str] = []
    _walk(cfg, root_schema(), "", problems)
    names = list(registry.steps())
    for key in ("skip", "force"):
        bad = [s for s in cfg[key] if s not in names]
        if bad:
            problems.append(f"{key}={list(cfg[key])} is not allowed: step names are {', '.join(names)}")
    if problems:
        raise ConfigError(f"{len(problems)} config problem(s):\n  " + "\n  ".join(problems)
                          if len(problems) > 1 else problems[0])


# --------------------------------------------------------------------------- the command line

#: config groups whose options are chosen on the command line (``dataset=data_100``)
GROUPS = ("dataset", "experiment", "steps/sgt", "hydra/launcher", "hydra/sweeper")
#: Hydra's flags that take a value (the next argument is not an override)
_FLAGS_WITH_VALUE = {"--config-path", "-cp", "--config-name", "-cn", "--config-dir", "-cd", "--cfg", "-c",
                     "--package", "-p", "--info", "-i", "--experimental-rerun"}


def schema_keys(schema: type | None = None, prefix: str = "") -> dict[str, dataclasses.Field]:
    """Every dotted key of the schema with its field (the one place key docs come from)."""
    out: dict[str, dataclasses.Field] = {}
    schema = schema or root_schema()
    nested = _nested(schema)
    for f in dataclasses.fields(schema):
        if f.name in nested:
            out.update(schema_keys(nested[f.name], f"{prefix}{f.name}."))
        else:
            out[f"{prefix}{f.name}"] = f
    return out


def unknown_override(args: list[str]) -> str | None:
    """The first ``key=value`` argument whose key the schema lacks, with the nearest valid key."""
    keys = schema_keys()
    skip = False
    for a in args:
        if skip or a.startswith("-"):
            skip = not skip and a in _FLAGS_WITH_VALUE
            continue
        key = a.split("=", 1)[0]
        if "=" not in a or key.startswith(("+", "~", "hydra")) or "/" in key or key in GROUPS:
            continue
        if key not in keys:
            near = difflib.get_close_matches(key, list(keys), n=1, cutoff=0.6)
            return (f"unknown config key {key!r}" + (f" (did you mean {near[0]}?)" if near else "")
                    + "; `musicexp --help` lists the keys")
    return None


def _options(group: str) -> list[str]:
    from importlib.resources import files

    folder = files("musicexp.conf").joinpath(group)
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml")) if folder.is_dir() else []


def help_text() -> str:
    """``musicexp --help``: usage, the config groups and every key with its default and doc."""
    lines = ["musicexp: reproducible symbolic-music classification experiments (a Hydra app).", "",
             "usage: musicexp [GROUP=OPTION ...] [KEY=VALUE ...]   one run",
             "       musicexp -m KEY=V1,V2 ...                    a sweep (one job per combination)",
             "       musicexp --dry-run ...                       which steps would run or be reused",
             "       musicexp --cfg job ...                       print the composed config",
             "       musicexp --hydra-help                        Hydra's own options", "",
             "config groups (GROUP=OPTION; your own files with --config-dir DIR):"]
    for group in GROUPS:
        found = _options(group)
        if found:
            lines.append(f"  {group:<16} {', '.join(found)}")
    lines += ["", "keys (KEY=VALUE; [default]):"]
    for key, f in schema_keys().items():
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else "???")
        default = getattr(default, "value", default)
        lines.append(f"  {key} [{default}]" + (f"  {f.metadata['doc']}" if f.metadata.get("doc") else ""))
    lines += ["", "Docs: README.md (the user guide) and docs/ (methods, evaluation protocol, architecture)."]
    return "\n".join(lines)
