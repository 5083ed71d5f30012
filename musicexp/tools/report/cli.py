"""``musicexp-report``: the report of a results file (filters: dataset, experiment, mode, task)
or, with ``--sweep DIR``, of a sweep folder rebuilt from its job files (e.g. after a killed
multirun)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from musicexp.engine.runner import JOB_FILE
from musicexp.tools.report.summary import report_results, sweep_report


def main(argv: list[str] | None = None) -> int:
    import musicexp.steps  # noqa: F401  (the registered blocks order the modes in the charts)

    p = argparse.ArgumentParser(
        prog="musicexp-report",
        description="Write summary.csv, a heatmap of overall macro-F1 over alpha x top_vocab (when they vary) "
                    "and a bar chart of modes with error bars, for a results file or a sweep folder.")
    p.add_argument("--results", type=Path, default=Path("results/results.jsonl"),
                   help="results JSONL (default: results/results.jsonl)")
    p.add_argument("--out", type=Path, default=None,
                   help="output folder (default: <results folder>/report, or the sweep folder with --sweep)")
    p.add_argument("--sweep", type=Path, default=None,
                   help="rebuild the report of a multirun folder from its job files instead")
    for flag, help_ in (("dataset", "dataset id"), ("experiment", "experiment name"), ("mode", "mode"),
                        ("task", "task")):
        p.add_argument(f"--{flag}", action="append", metavar="X", help=f"keep only this {help_} (repeatable)")
    a = p.parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(message)s")
    if a.sweep is not None:
        if not a.sweep.is_dir():
            p.error(f"--sweep {a.sweep}: not a folder")
        if not sweep_report(a.sweep, out_dir=a.out):
            print(f"no {JOB_FILE} under {a.sweep}", file=sys.stderr)
            return 1
        return 0
    if not a.results.is_file():
        p.error(f"--results {a.results}: no such file (run musicexp first, or pass --results)")
    written, rows = report_results(a.results, a.out or a.results.parent / "report", a.dataset, a.experiment,
                                   a.mode, a.task)
    if not rows:
        print(f"no records in {a.results} match the filters", file=sys.stderr)
        return 1
    best = max((r for r in rows if r.get("macro_f1_mean") is not None), key=lambda r: r["macro_f1_mean"], default=None)
    print(f"{len(rows)} records from {a.results}")
    if best:
        print(f"best: {best['dataset_id']} | {best['experiment']} | {best['mode']} | task={best['task']} | "
              f"alpha={best.get('alpha')} top_vocab={best.get('top_vocab')}: macro-F1 "
              f"{best['macro_f1_mean']:.3f} ± {best.get('macro_f1_std') or 0:.3f}")
    for k, v in written.items():
        print(f"{k}: {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
