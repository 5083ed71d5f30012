"""``musicexp-report``: the report of a results file (filters: dataset, experiment, mode, task)
or, with ``--sweep DIR``, of a sweep folder rebuilt from its job files (e.g. after a killed
multirun)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from musicexp.engine.job import JOB_FILE
from musicexp.engine.schema import PathsConf
from musicexp.tools.report.summary import (best_lines, compare, filter_records, markdown_table, report_results,
                                           setting, sweep_report)


def main(argv: list[str] | None = None) -> int:
    import musicexp.steps  # noqa: F401  (the registered blocks order the modes in the charts)

    p = argparse.ArgumentParser(
        prog="musicexp-report",
        description="Write summary.csv, the CV score over the keys the runs varied (a heatmap over two, a line "
                    "chart over one) and a bar chart of modes with error bars, for a results file or a sweep folder.")
    default = PathsConf().results_jsonl
    p.add_argument("--results", type=Path, default=Path(default), help=f"results JSONL (default: {default})")
    p.add_argument("--out", type=Path, default=None,
                   help="output folder (default: <results folder>/report, or the sweep folder with --sweep)")
    p.add_argument("--sweep", type=Path, default=None,
                   help="rebuild the report of a multirun folder from its job files instead")
    p.add_argument("--table", action="store_true",
                   help="print the modes of the latest run of each dataset, task and model as a Markdown table")
    p.add_argument("--compare", nargs=2, metavar=("A", "B"),
                   help="compare two runs or configurations (run_id or config_hash, or a prefix): per mode the "
                        "difference of their CV scores and the corrected resampled t-test on the same folds")
    for flag, help_ in (("dataset", "dataset id"), ("experiment", "experiment name"), ("mode", "mode"),
                        ("task", "task")):
        p.add_argument(f"--{flag}", action="append", metavar="X",
                       help=f"keep only this {help_} (repeatable, or comma-separated: X,Y)")
    a = p.parse_args(argv)
    for flag in ("dataset", "experiment", "mode", "task"):
        if getattr(a, flag):
            setattr(a, flag, [x for v in getattr(a, flag) for x in v.split(",") if x])
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
    if a.table:
        from musicexp.engine.results import read_jsonl

        recs = filter_records(read_jsonl(a.results), a.dataset, a.experiment, None, a.task)
        if a.dataset:  # the tables in the order the datasets were named
            recs = sorted(recs, key=lambda r: a.dataset.index(str(r.get("dataset_id"))))
        lines = markdown_table(recs)
        print("\n".join(lines) if lines else "no records with intervals match the filters")
        return 0 if lines else 1
    if a.compare:
        from musicexp.engine.results import read_jsonl

        pairs = compare(read_jsonl(a.results), *a.compare)
        if not pairs:
            print(f"no records of both {a.compare[0]!r} and {a.compare[1]!r} with a common dataset, mode and task",
                  file=sys.stderr)
            return 1
        print(f"{'dataset':<10} {'mode':<16} {'task':<8} {'A':>6} {'B':>6} {'B - A':>7} {'p (corrected t)':>16}")
        for r in pairs:
            pt = "-" if r["p_t"] is None else f"{r['p_t']:.3f}"
            print(f"{r['dataset_id']:<10} {r['mode']:<16} {r['task']:<8} {r['a']:6.3f} {r['b']:6.3f} "
                  f"{r['diff']:+7.3f} {pt:>16}  {r['note']}")
        return 0
    written, rows, axes = report_results(a.results, a.out or a.results.parent / "report", a.dataset, a.experiment,
                                         a.mode, a.task)
    if not rows:
        print(f"no records in {a.results} match the filters", file=sys.stderr)
        return 1
    print(f"{len(rows)} records from {a.results}")
    for line in best_lines([r for r in rows if r.get("score") is not None],
                           lambda r: f"{r['experiment']} | {r['model']} | "
                                     + "".join(f"{k}={setting(r, k)} " for k in axes) + "|"):
        print(line)
    for k, v in written.items():
        print(f"{k}: {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
