"""What ``pip install .`` ships: every package under musicexp/ (found by setuptools' discovery,
so a new ``musicexp/features/<x>/`` needs no listing), every module, and the config tree."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _copy_tree(dst: Path) -> None:
    """The sources a wheel is built from, without build leftovers (a stale build/ would hide a miss)."""
    skip = shutil.ignore_patterns("__pycache__", "*.so", "*.c", "*.egg-info", "build")
    for name in ("musicexp", "conf"):
        shutil.copytree(ROOT / name, dst / name, ignore=skip)
    for name in ("setup.py", "pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, dst / name)


def test_the_wheel_holds_every_package_module_and_config_file(tmp_path):
    src, out = tmp_path / "src", tmp_path / "wheel"
    _copy_tree(src)
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(src)],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (wheel,) = out.glob("musicexp-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())

    folders = {p.parent for p in (ROOT / "musicexp").rglob("*.py") if "__pycache__" not in p.parts}
    assert all((f / "__init__.py").is_file() for f in folders), "a folder of modules without __init__.py"
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "musicexp").rglob("*.py") if "__pycache__" not in p.parts}
    assert modules - names == set(), "modules missing from the wheel"
    configs = {"musicexp/" + p.relative_to(ROOT).as_posix() for p in (ROOT / "conf").rglob("*.yaml")}
    assert configs and configs - names == set(), "config files missing from the wheel"
    assert "musicexp/conf/__init__.py" in names
    assert {"musicexp/data/manifests/default.csv", "musicexp/data/manifests/subset100.csv"} <= names
    assert any(n.startswith("musicexp/features/sgt/_kernel.") and n.endswith(".so") for n in names)
