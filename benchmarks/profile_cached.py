"""Where a fully cached `musicexp dataset=data_100 resume=true` spends its time, next to a trivial
@hydra.main app: the breakdown behind the README's cached-rerun row.

    python benchmarks/profile_cached.py            # makes a data_100 first run in a scratch folder
    python benchmarks/profile_cached.py DIR        # DIR: a folder where that first run was made

Each figure is the median of several runs, each run in a fresh process (wall time, no profiler):
the whole command, the import + registration of the schema, the two Hydra composes (get_mode,
then the run), the YAML parsing inside them, and musicexp's own pipeline.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

# Runs in the child: wraps a few functions with wall-clock timers, runs the app, prints JSON.
CHILD = r"""
import functools, json, os, runpy, sys, time
T0 = time.perf_counter()
acc = {}
def wrap(owner, name, label):
    f = getattr(owner, name)
    @functools.wraps(f)
    def g(*a, **k):
        t = time.perf_counter()
        try:
            return f(*a, **k)
        finally:
            acc[label] = acc.get(label, 0.0) + time.perf_counter() - t
    setattr(owner, name, g)
import yaml
import hydra._internal.hydra as hh
wrap(yaml, "load", "yaml_load_s")
wrap(hh.Hydra, "compose_config", "compose_s")
which = sys.argv[1]
sys.argv = [which] + sys.argv[2:]
def report():
    acc["main_process_s"] = time.perf_counter() - T0
    with open(os.environ["PROFILE_OUT"], "w") as fh:
        json.dump(acc, fh)
import atexit
atexit.register(report)
if which == "ours":
    t = time.perf_counter()
    import musicexp.app as app
    acc["import_app_and_schema_s"] = time.perf_counter() - t
    import musicexp.engine.runner as pl
    wrap(pl, "run", "pipeline_s")
    app.main()
else:
    runpy.run_path(which, run_name="__main__")
"""

TRIVIAL = ("import hydra\n\n@hydra.main(version_base='1.3', config_path=None)\n"
           "def main(cfg):\n    return 0.0\n\nif __name__ == '__main__':\n    main()\n")


def _child(args: list[str], cwd: Path) -> tuple[float, dict]:
    import os
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", CHILD, *args], cwd=cwd, check=True, capture_output=True,
                       env={**os.environ, "PROFILE_OUT": out.name})
        wall = time.perf_counter() - t
        return wall, json.loads(Path(out.name).read_text() or "{}")


def main() -> None:
    if len(sys.argv) > 1:
        folder = Path(sys.argv[1]).resolve()
    else:
        from bench import scratch_project

        folder, _ = scratch_project("data_100")
    trivial = folder / "trivial_app.py"
    trivial.write_text(TRIVIAL)
    runs: dict[str, list] = {"ours": [], "trivial": []}
    for _ in range(9):  # alternately, as the benchmark does
        runs["ours"].append(_child(["ours", "dataset=data_100", "resume=true"], folder))
        runs["trivial"].append(_child([str(trivial)], folder))
    keys = ["wall_s", "main_process_s", "import_app_and_schema_s", "compose_s", "yaml_load_s", "pipeline_s"]
    print(f"{'ms (median of 9)':<28} {'musicexp':>9} {'trivial':>9} {'extra':>8}")
    for k in keys:
        vals = {}
        for who, rs in runs.items():
            xs = [wall if k == "wall_s" else d.get(k, 0.0) for wall, d in rs]
            vals[who] = statistics.median(xs) * 1000
        print(f"{k[:-2]:<28} {vals['ours']:9.1f} {vals['trivial']:9.1f} {vals['ours'] - vals['trivial']:8.1f}")
    print("(wall times include this script's timing wrapper, the same for both; the ratio that counts is "
          "`make bench`'s cached row)")

if __name__ == "__main__":
    main()
