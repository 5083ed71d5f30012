"""The command line's own answers: ``--help`` from the schema's docs, and a mistyped key stopped
with the nearest valid one before Hydra composes (Hydra's message names no alternative)."""

from __future__ import annotations

import dataclasses
import difflib


def config_groups(config_module: str) -> list[str]:
    """Every config group of the config tree (a folder holding YAML files), e.g. ``steps/sgt``."""
    from importlib.resources import files

    out = []

    def walk(folder, prefix: str) -> None:
        for p in sorted(folder.iterdir(), key=lambda p: p.name):
            if p.is_dir() and not p.name.startswith(("_", ".")):
                if any(q.name.endswith(".yaml") for q in p.iterdir()):
                    out.append(prefix + p.name)
                walk(p, f"{prefix}{p.name}/")

    walk(files(config_module), "")
    return out


def _options(config_module: str, group: str) -> list[str]:
    from importlib.resources import files

    folder = files(config_module).joinpath(group)
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def unknown_override(args: list[str], groups: list[str]) -> str | None:
    """The first ``key=value`` override whose key the schema lacks, with the nearest valid key.

    The overrides are told from Hydra's flags (and their values) by Hydra's own parser."""
    from hydra._internal.utils import get_args_parser  # Hydra's command line, as hydra.main parses it

    from musicexp.engine.schema import schema_keys

    parsed, _ = get_args_parser().parse_known_intermixed_args(args)
    keys = schema_keys()
    for a in parsed.overrides or []:
        key = a.split("=", 1)[0]
        if "=" not in a or key.startswith(("+", "~", "hydra")) or "/" in key or key in groups:
            continue
        if key not in keys:
            near = difflib.get_close_matches(key, list(keys), n=1, cutoff=0.6)
            return (f"unknown config key {key!r}" + (f" (did you mean {near[0]}?)" if near else "")
                    + "; `musicexp --help` lists the keys")
    return None


def help_text(title: str, config_module: str, groups: list[str]) -> str:
    """Usage, the config groups and every key with its default and doc."""
    from musicexp.engine.schema import schema_keys

    lines = [title, "",
             "usage: musicexp [GROUP=OPTION ...] [KEY=VALUE ...]   one run",
             "       musicexp -m KEY=V1,V2 ...                    a sweep (one job per combination)",
             "       musicexp --dry-run ...                       which steps would run or be reused",
             "       musicexp --cfg job ...                       print the composed config",
             "       musicexp --hydra-help                        Hydra's own options", "",
             "config groups (GROUP=OPTION; your own files with --config-dir DIR):"]
    for group in groups:
        lines.append(f"  {group:<16} {', '.join(_options(config_module, group))}")
    lines += ["", "keys (KEY=VALUE; [default]):"]
    for key, f in schema_keys().items():
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else "???")
        default = getattr(default, "value", default)
        lines.append(f"  {key} [{default}]" + (f"  {f.metadata['doc']}" if f.metadata.get("doc") else ""))
    lines += ["", "Docs: README.md (the user guide) and docs/ (methods, evaluation protocol, architecture)."]
    return "\n".join(lines)
