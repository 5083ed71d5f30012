"""The command line's own answers, before Hydra composes: ``--help`` from the schema's docs and
every config folder (the packaged tree and the user's ``--config-dir``), an override Hydra's
grammar cannot read (an unquoted regex) with the quoting that works, and a mistyped key with the
nearest valid one (Hydra's messages name neither)."""

from __future__ import annotations

import dataclasses
import difflib
from pathlib import Path


def _overrides(args: list[str]):
    """Hydra's own split of the command line: (its flags, the ``key=value`` overrides)."""
    from hydra._internal.utils import get_args_parser  # Hydra's command line, as hydra.main parses it

    parsed, _ = get_args_parser().parse_known_intermixed_args(args)
    return parsed, list(parsed.overrides or [])


def config_folders(config_module: str, args: list[str] = ()) -> list:
    """The config folders the command line composes from: the packaged tree, then the user's
    (``--config-dir DIR``, ``-cd DIR``, ``--config-dir=DIR`` and the ``file://`` and ``pkg://``
    entries of ``hydra.searchpath=[...]``), each as ``(label, folder)``."""
    from importlib.resources import files

    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException

    parsed, overrides = _overrides(list(args))
    out = [("", files(config_module))]
    if parsed.config_dir:
        out.append((parsed.config_dir, Path(parsed.config_dir)))
    for o in overrides:
        if o.lstrip("+").split("=", 1)[0] != "hydra.searchpath":
            continue
        try:
            entries = OverridesParser.create().parse_overrides([o])[0].value()
        except OverrideParseException:
            continue  # (bad_override() names it)
        for entry in entries if isinstance(entries, list) else [entries]:
            scheme, _, where = str(entry).rpartition("://")
            if scheme == "pkg":
                try:
                    out.append((entry, files(where)))
                except (ModuleNotFoundError, TypeError):
                    pass  # (Hydra says it cannot find it)
            elif scheme in ("file", ""):
                out.append((entry, Path(where)))
    return [(label, folder) for label, folder in out if folder.is_dir()]


def config_groups(folders: list) -> list[str]:
    """Every config group of the config folders (a folder holding YAML files), e.g. ``steps/sgt``:
    the packaged tree's, then those only the user's folders have."""
    out: list[str] = []

    def walk(folder, prefix: str) -> None:
        for p in sorted(folder.iterdir(), key=lambda p: p.name):
            if p.is_dir() and not p.name.startswith(("_", ".")):
                if any(q.name.endswith(".yaml") for q in p.iterdir()) and prefix + p.name not in out:
                    out.append(prefix + p.name)
                walk(p, f"{prefix}{p.name}/")

    for _, root in folders:
        walk(root, "")
    return out


def _options(folders: list, group: str) -> list[str]:
    """The group's options in every folder, a user's marked with its folder (``mine (myconf)``).
    Of two files of one name Hydra reads the first folder's (the packaged one): a user's file
    it never reads is marked so."""
    found: dict[str, str] = {}
    hidden: dict[str, list[str]] = {}
    for label, root in folders:
        folder = root.joinpath(group)
        if folder.is_dir():
            for name in (p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml")):
                if name in found:
                    hidden.setdefault(name, []).append(label)
                else:
                    found[name] = label
    return [name + (f" ({found[name]})" if found[name] else "")
            + "".join(f" ({x}: not read, {'the packaged one' if not found[name] else found[name] + chr(39) + 's'} is)"
                      for x in hidden.get(name, []))
            for name in sorted(found)]


def unknown_override(args: list[str], groups: list[str]) -> str | None:
    """The first ``key=value`` override whose key the schema lacks, with the nearest valid key.

    The overrides are told from Hydra's flags (and their values) by Hydra's own parser."""
    from musicexp.engine.schema import schema_keys

    keys = schema_keys()
    for a in _overrides(args)[1]:
        key = a.split("=", 1)[0]
        if "=" not in a or key.startswith(("+", "~", "hydra")) or "/" in key or key in groups:
            continue
        if key not in keys:
            near = difflib.get_close_matches(key, list(keys), n=1, cutoff=0.6)
            return (f"unknown config key {key!r}" + (f" (did you mean {near[0]}?)" if near else "")
                    + "; `musicexp --help` lists the keys")
    return None


def bad_override(args: list[str]) -> str | None:
    """What to do about the first override Hydra's grammar cannot read (an unquoted regex ...),
    said before Hydra's own ``LexerNoViableAltException``."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException

    parser = OverridesParser.create()
    for a in _overrides(args)[1]:
        try:
            parser.parse_overrides([a])
        except OverrideParseException:
            key, _, value = a.partition("=")
            return (f"cannot read the override {a!r}: in an override's value the characters "
                    "( ) [ ] { } < > ? * , = and spaces have meanings of their own (Hydra's override grammar). "
                    "Quote the value inside the override; in bash, single quotes around the override and "
                    f"double quotes around the value (backslashes are kept): '{key}=\"{value}\"'")
    return None


def help_text(title: str, folders: list) -> str:
    """Usage, the config groups and every key with its default and doc."""
    from musicexp.engine.schema import schema_keys

    lines = [title, "",
             "usage: musicexp [GROUP=OPTION ...] [KEY=VALUE ...]   one run",
             "       musicexp -m KEY=V1,V2 ...                    a sweep (one job per combination)",
             "       musicexp --dry-run ...                       which steps would run or be reused",
             "       musicexp --cfg job ...                       print the composed config",
             "       musicexp --hydra-help                        Hydra's own options", "",
             "config groups (GROUP=OPTION; your own files with --config-dir DIR):"]
    for group in config_groups(folders):
        lines.append(f"  {group:<16} {', '.join(_options(folders, group))}")
    lines += ["", "keys (KEY=VALUE; [default]):"]
    for key, f in schema_keys().items():
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else "???")
        default = getattr(default, "value", default)
        lines.append(f"  {key} [{default}]" + (f"  {f.metadata['doc']}" if f.metadata.get("doc") else ""))
    lines += ["", "Docs: README.md (the user guide) and docs/ (methods, evaluation protocol, architecture)."]
    return "\n".join(lines)
