"""The run's console output: the step table (status, hash, seconds, each step's summary), the
problems the steps list, then the records step's own report lines."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from musicexp.engine.paths import Launch
from musicexp.engine.plan import Node


def run_lines(cfg: Any, nodes: dict[str, Node], runs: dict, records: list[dict], appended: int, seconds: float,
              launch: Launch, files: list[Path]) -> list[str]:
    lines = ["", f"{'step':<8} {'status':<8} {'hash':<12} {'seconds':>8}  summary"]
    for r in runs.values():
        summ = r.artifact.meta.get("summary", {}) if r.artifact else {}
        brief = ", ".join(f"{k}={v}" for k, v in summ.items() if not isinstance(v, (dict, list)))
        lines.append(f"{r.name:<8} {r.status:<8} {r.hash[:10]:<12} {r.seconds:>8.2f}  {brief}")
    for name, node in nodes.items():
        if node.step.problems is None:
            continue
        problems = node.step.problems(runs[name].artifact)
        if problems:
            lines.append(f"{len(problems)} {node.step.problem_kind} (listed in the {name} artifact):")
            lines.extend(f"  {e['file']}: {e['reason']}" for e in problems[:10])
            lines.extend([f"  ... and {len(problems) - 10} more"] if len(problems) > 10 else [])
    target = list(nodes)[-1]
    if launch.multirun and launch.overrides:  # a sweep job's headline names its values
        lines.append(f"job: {' '.join(launch.overrides)}")
    if nodes[target].step.report is not None:
        lines.extend(nodes[target].step.report(runs[target].artifact, records, cfg.verbose))
    shown = [str(f.relative_to(launch.cwd)) if f.is_relative_to(launch.cwd) else str(f) for f in files]
    if nodes[target].step.figures is not None and runs[target].status not in ("ran", "forced"):
        shown.append(f"(figures: drawn when {target} runs, in that run's folder; force=[{target}] redraws them)")
    lines.append(f"records appended: {appended} | total {seconds:.1f} s" + (f" | {', '.join(shown)}" if shown else ""))
    return lines

