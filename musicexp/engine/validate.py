"""The checks types cannot express, run before any work: every range check declared with
:func:`~musicexp.core.registry.param`, each schema's cross-field ``problems``, keys the schema
lacks, and step names in ``skip`` / ``force``; all problems reported at once."""

from __future__ import annotations

import dataclasses
import difflib
from typing import Any

from musicexp.core import registry
from musicexp.core.errors import UserError
from musicexp.engine.schema import nested, root_schema, schema_keys


class ConfigError(UserError):
    """Config values are impossible; the message names each key and what is allowed."""


def _walk(node: Any, schema: type, prefix: str, out: list[str]) -> None:
    """Range checks of every field of ``schema`` (recursively), and keys the schema lacks."""
    from omegaconf import DictConfig

    names = {f.name for f in dataclasses.fields(schema)}
    inner = nested(schema)
    for key in node:
        if key not in names:  # Hydra rejects unknown keys, except when forced in with +key=value
            near = difflib.get_close_matches(str(key), names, n=1)
            out.append(f"{prefix}{key}: unknown key" + (f" (did you mean {prefix}{near[0]}?)" if near else
                                                         f" (allowed under {prefix.rstrip('.') or 'the top'}: "
                                                         f"{', '.join(sorted(names))})"))
    for f in dataclasses.fields(schema):
        value = node[f.name]
        if f.name in inner and isinstance(value, DictConfig):
            _walk(value, inner[f.name], f"{prefix}{f.name}.", out)
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
        keys = schema_keys()
        docs = {k: keys[k].metadata.get("doc") for k in missing if k in keys}
        raise ConfigError(
            "missing value(s) for " + ", ".join(f"{k} ({docs[k]})" if docs.get(k) else k for k in missing)
            + f"; set them on the command line ({missing[0]}=...) or in a config file"
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
