"""The package's layering, read from the source: every ``import`` of a musicexp module (at the
top of a file or inside a function) points down or sideways, never up.

    app -> tools -> steps -> data, features, evaluation -> engine -> core

``app.py``, ``__main__.py`` and ``native_log.py`` are the top. The engine knows no step and no
domain package (``musicexp.app`` registers the dataset schema and opener with it); core imports
nothing of the others. No module imports a private name (``_x``) of another package.
"""

from __future__ import annotations

import ast
from pathlib import Path

import musicexp

PKG = Path(musicexp.__file__).parent
LAYER = {"core": 0, "engine": 1, "data": 2, "features": 2, "evaluation": 2, "steps": 3, "tools": 4, "conf": 5}
TOP = 5  # app.py, __main__.py, native_log.py


def _module(path: Path) -> str:
    parts = path.relative_to(PKG.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer(module: str) -> int:
    parts = module.split(".")
    return LAYER.get(parts[1], TOP) if len(parts) > 1 else TOP


def _imports(path: Path):
    """(line, imported module, names imported from it) for every musicexp import in ``path``."""
    module = _module(path)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("musicexp"):
                    yield node.lineno, a.name, []
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            if base.startswith("musicexp"):
                yield node.lineno, base, [a.name for a in node.names]


def _sources():
    return sorted(p for p in PKG.rglob("*.py") if "__pycache__" not in p.parts)


def test_imports_point_down_the_layers():
    bad = []
    for path in _sources():
        mine = _layer(_module(path))
        for line, target, _ in _imports(path):
            if _layer(target) > mine:
                bad.append(f"{path.relative_to(PKG.parent)}:{line} imports {target} (a layer above)")
    assert not bad, "imports that run up the layers:\n" + "\n".join(bad)


def test_the_engine_imports_only_core_and_itself():
    bad = [f"{p.relative_to(PKG.parent)}:{line} imports {t}"
           for p in _sources() if _module(p).startswith("musicexp.engine")
           for line, t, _ in _imports(p) if not t.startswith(("musicexp.engine", "musicexp.core"))]
    assert not bad, "the engine must import nothing from data, features, evaluation, steps, tools:\n" + "\n".join(bad)


def test_core_imports_only_itself():
    bad = [f"{p.relative_to(PKG.parent)}:{line} imports {t}"
           for p in _sources() if _module(p).startswith("musicexp.core")
           for line, t, _ in _imports(p) if not t.startswith("musicexp.core")]
    assert not bad, "\n".join(bad)


def test_no_module_imports_private_names_of_another_package():
    bad = []
    for path in _sources():
        package = _module(path) if path.name == "__init__.py" else _module(path).rsplit(".", 1)[0]
        for line, target, names in _imports(path):
            owner = target.rsplit(".", 1)[0] if names else target
            if owner == package or target == package:
                continue  # within one package (e.g. a kernel and its compiled _kernel)
            private = [n for n in names if n.startswith("_") and not n.startswith("__")]
            private += [target] if any(p.startswith("_") and not p.startswith("__") for p in target.split(".")) else []
            if private:
                bad.append(f"{path.relative_to(PKG.parent)}:{line} imports {private} from {target}")
    assert not bad, "\n".join(bad)


def test_every_imported_musicexp_module_exists():
    """A lazy import of a moved module fails only when its function runs: caught here instead."""
    def exists(module: str) -> bool:
        base = PKG.parent.joinpath(*module.split("."))
        return (base / "__init__.py").is_file() or base.with_suffix(".py").is_file() or base.with_suffix(".pyx").is_file()

    bad = []
    for path in _sources():
        for line, target, names in _imports(path):
            if not exists(target):
                bad.append(f"{path.relative_to(PKG.parent)}:{line} imports {target}, which does not exist")
    assert not bad, "\n".join(bad)


def test_the_checker_sees_an_upward_import():
    """The test itself: an import inside a function of an engine module is seen, and is upward."""
    fake = PKG / "engine" / "zz_layer_probe.py"
    fake.write_text("def f():\n    from musicexp.data.dataset import open_dataset\n")
    try:
        (line, target, _), = list(_imports(fake))
        assert (line, target) == (2, "musicexp.data.dataset") and _layer(target) > _layer(_module(fake))
    finally:
        fake.unlink()
