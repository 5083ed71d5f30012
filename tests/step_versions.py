"""The source digest of each step, kept beside its version (``tests/step_versions.json``).

A step's cached artifacts are reused as long as its hash is unchanged, and the hash holds the
step's ``version``, not its code: a change to what a step computes must come with a bump of
``version=`` in its ``register_step(...)``. ``tests/test_step_versions.py`` fails when a step's
source changed but its version did not.

**A step's source** is its module (``musicexp/steps/<name>.py``) and every musicexp module it
imports, at any depth (imports inside functions count, and so does a ``"musicexp.x.y:Name"``
string, as a block's ``load`` is written), except ``musicexp.core`` and ``musicexp.engine``: they
run and store every step and compute none. Each module is digested as its syntax tree without
docstrings, so comments, docstrings and formatting change nothing.

    python tests/step_versions.py                          what changed since the record
    python tests/step_versions.py --update                 record steps whose version was bumped (or new)
    python tests/step_versions.py --update --keep-version S  record S's new source at the same version
                                                            (a change that cannot alter its outputs)
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
import sys
from pathlib import Path

RECORD = Path(__file__).with_name("step_versions.json")
MACHINERY = ("musicexp.core", "musicexp.engine")
_LOAD = re.compile(r"""["'](musicexp(?:\.\w+)+):\w+["']""")


ROOT = Path(__file__).resolve().parent.parent  # the source tree: modules are found as files (none is imported)


def _file(module: str) -> Path | None:
    """The source file of a musicexp module (a package's __init__.py; the compiled kernel's .pyx)."""
    base = ROOT.joinpath(*module.split("."))
    for p in (base / "__init__.py", base.with_suffix(".py"), base.with_suffix(".pyx")):
        if p.is_file():
            return p
    return None


def _imports(module: str, path: Path) -> set[str]:
    out = set(_LOAD.findall(path.read_text()))
    if path.suffix != ".py":
        return out
    tree = ast.parse(path.read_text())
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            out.add(base)
            out.update(f"{base}.{a.name}" for a in node.names if _file(f"{base}.{a.name}"))
    return {m for m in out if m.startswith("musicexp") and not m.startswith(MACHINERY)}


def source_modules(module: str) -> list[str]:
    """``module`` and every musicexp module it imports, at any depth (machinery left out)."""
    seen, todo = set(), [module]
    while todo:
        m = todo.pop()
        path = _file(m)
        if m in seen or path is None:
            continue
        seen.add(m)
        todo.extend(_imports(m, path))
    return sorted(seen)


def module_digest(path: Path) -> str:
    """sha256 of the syntax tree without docstrings (comments and layout are not in it); of the
    text for the Cython kernel."""
    if path.suffix != ".py":
        return hashlib.sha256(path.read_bytes()).hexdigest()
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) \
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
            node.body = body[1:] or [ast.Pass()]
    return hashlib.sha256(ast.dump(tree, include_attributes=False).encode()).hexdigest()


def current() -> dict[str, dict]:
    """Per step of the package: its version and the digest of each module of its source."""
    import musicexp.steps  # noqa: F401  (registers the built-in steps)
    from musicexp.core import registry

    out = {}
    for name, step in registry.steps().items():
        if not step.run.__module__.startswith("musicexp."):
            continue  # a step a test or a plugin registered: not this package's
        mods = source_modules(step.run.__module__)
        out[name] = {"version": step.version, "module": step.run.__module__,
                     "sources": {_file(m).relative_to(ROOT).as_posix(): module_digest(_file(m)) for m in mods}}
    return out


def problems(recorded: dict, now: dict) -> dict[str, str]:
    """Step -> what is wrong: its source changed at the same version, or it has no record."""
    out = {}
    for name, cur in now.items():
        rec = recorded.get(name)
        where = cur["module"].replace(".", "/") + ".py"
        if rec is None:
            out[name] = f"step {name!r} has no recorded source digest: run `python tests/step_versions.py --update`"
            continue
        changed = sorted(set(rec["sources"].items()) ^ set(cur["sources"].items()))
        files = sorted({f for f, _ in changed})
        if not files:
            continue
        if rec["version"] == cur["version"]:
            out[name] = (f"step {name!r}: its source changed ({', '.join(files)}) but its version is still "
                         f"{cur['version']!r}. If the change can alter what the step computes, bump version= in "
                         f"{where} (its cached artifacts, and those of the steps reading them, are then recomputed) "
                         f"and run `python tests/step_versions.py --update`; if it cannot (a refactor), run "
                         f"`python tests/step_versions.py --update --keep-version {name}`.")
        else:
            out[name] = (f"step {name!r}: version {rec['version']!r} -> {cur['version']!r}; record its source: "
                         "`python tests/step_versions.py --update`")
    return out


def load() -> dict:
    return json.loads(RECORD.read_text()) if RECORD.is_file() else {}


def update(keep_version: tuple[str, ...] = ()) -> list[str]:
    """Record the steps whose version changed (or that are new), and those named in ``keep_version``;
    returns the steps still refused (source changed at the same version, not named)."""
    recorded, now = load(), current()
    refused = []
    for name, cur in now.items():
        rec = recorded.get(name)
        if rec is None or rec["version"] != cur["version"] or name in keep_version:
            recorded[name] = {"version": cur["version"], "sources": cur["sources"]}
        elif rec["sources"] != cur["sources"]:
            refused.append(name)
    for name in set(recorded) - set(now):
        del recorded[name]
    RECORD.write_text(json.dumps(dict(sorted(recorded.items())), indent=1, sort_keys=True) + "\n")
    return refused


if __name__ == "__main__":
    args = sys.argv[1:]
    if "--update" in args:
        keep = tuple(args[i + 1] for i, a in enumerate(args) if a == "--keep-version" and i + 1 < len(args))
        refused = update(keep)
        for name in refused:
            print(problems(load(), current())[name], file=sys.stderr)
        sys.exit(1 if refused else 0)
    found = problems(load(), current())
    print("\n".join(found.values()) or "every step's source matches its recorded version")
    sys.exit(1 if found else 0)
