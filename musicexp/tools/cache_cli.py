"""musicexp-cache: list, verify and garbage-collect the artifact store.

    musicexp-cache ls      [--artifacts DIR] [--dataset ID] [--step NAME] [--json]
    musicexp-cache verify  [--artifacts DIR] [--remove]
    musicexp-cache gc      [--artifacts DIR] [--results FILE] [--keep-last N] [--older-than YYYY-MM-DD]
                           [--min-age-hours H] [--yes]

``verify`` recomputes every file's checksum against the artifact's meta.json. ``gc`` only
says what it would remove unless given ``--yes``. Nothing is removed while a run holds the
artifact's lock (it is computing or replacing it), and every removal renames the folder out
of its final name first, so a run never sees half an artifact.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import os
import sys
from pathlib import Path

from musicexp.engine.cache import META, Artifact, ArtifactStore, Entry, owner_alive, owner_pid

SUMMARY = ("pieces", "notes", "bad_files", "unlabeled", "score")


def _size(path: Path) -> int:
    total = 0
    for dirpath, _, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(dirpath, f)).st_size
            except OSError:
                pass
    return total


def human_size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"  # pragma: no cover


def human_age(seconds: float) -> str:
    for unit, span in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= span:
            return f"{seconds / span:.0f}{unit}"
    return f"{max(seconds, 0):.0f}s"


def committed(entry: Entry) -> dt.datetime:
    """When the artifact was committed (meta.json's time; the folder's mtime for others)."""
    stamp = (entry.meta or {}).get("committed_at")
    if stamp:
        try:
            return dt.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S%z")
        except ValueError:
            pass
    p = entry.path / META if (entry.path / META).exists() else entry.path
    return dt.datetime.fromtimestamp(p.stat().st_mtime).astimezone()


def config_summary(entry: Entry) -> str:
    meta = entry.meta or {}
    params = meta.get("params") or {}
    defaults = _defaults(entry.step)
    parts = [f"{k}={_short(v)}" for k, v in params.items() if k not in defaults or defaults[k] != v]
    if params and not parts:
        parts = ["(default options)"]
    summ = meta.get("summary") or {}
    parts += [f"{k}={_short(summ[k])}" for k in SUMMARY if k in summ]
    return " ".join(parts)


@functools.lru_cache(maxsize=None)
def _defaults(step: str) -> dict:
    """The registered step's default options as hashed (an artifact shows only what differs)."""
    import dataclasses

    from musicexp.core import registry
    from musicexp.core.hashing import canonical

    found = registry.steps().get(step)
    schema = found.schema if found is not None else None
    if schema is None:
        return {}
    return {f.name: canonical(getattr(schema(), f.name)) for f in dataclasses.fields(schema)}


def _short(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, list):
        return ",".join(map(str, v))
    return str(v)


def _describe(entry: Entry) -> str:
    if entry.kind == "temporary":
        return f"temporary folder of {'running' if owner_alive(entry.name) else 'dead'} process {owner_pid(entry.name)}"
    if entry.kind == "incomplete":
        return "incomplete: no readable meta.json (never used)"
    return config_summary(entry)


def cmd_ls(store: ArtifactStore, args) -> int:
    now = dt.datetime.now().astimezone()
    rows = []
    for e in store.entries():
        if (args.dataset and e.dataset_id != args.dataset) or (args.step and e.step != args.step):
            continue
        rows.append({"dataset": e.dataset_id, "step": e.step, "hash": e.name, "kind": e.kind,
                     "size": _size(e.path), "age_s": (now - committed(e)).total_seconds(),
                     "committed_at": committed(e).isoformat(timespec="seconds"), "summary": _describe(e)})
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    if not rows:
        print(f"no artifacts under {store.root}")
        return 0
    print(f"{'dataset':<12} {'step':<7} {'hash':<12} {'size':>9} {'age':>5}  config")
    for r in rows:
        h = r["hash"][:12] if r["kind"] != "temporary" else r["hash"][:12] + "…"
        print(f"{r['dataset']:<12} {r['step']:<7} {h:<12} {human_size(r['size']):>9} {human_age(r['age_s']):>5}  "
              f"{r['summary']}")
    n = sum(r["kind"] == "artifact" for r in rows)
    print(f"{n} artifact(s), {human_size(sum(r['size'] for r in rows))} under {store.root}")
    return 0


def _garbage(e: Entry) -> bool:
    """An incomplete folder, or a temporary one whose process is gone."""
    if e.kind == "incomplete":
        return True
    if e.kind == "temporary":
        return not owner_alive(e.name)
    return False


def cmd_verify(store: ArtifactStore, args) -> int:
    """Exit status 1 while a damaged artifact remains (leftovers of dead processes are only listed)."""
    intact = damaged = removed = leftovers = 0
    for e in store.entries():
        where = f"{e.dataset_id}/{e.step}/{e.name}"
        if e.kind == "temporary":
            if _garbage(e):
                leftovers += 1
                print(f"leftover {where}: {_describe(e)} (never used; removed by --remove or gc)")
                if args.remove and store.remove(e.dataset_id, e.step, e.name):
                    print(f"removed  {where}")
            continue  # otherwise a run is writing it right now
        problems = Artifact(e.path, e.meta).verify() if e.kind == "artifact" else [_describe(e)]
        if not problems:
            intact += 1
            print(f"ok       {where}")
            continue
        damaged += 1
        print(f"DAMAGED  {where}: {'; '.join(problems)}")
        if args.remove:
            if store.remove(e.dataset_id, e.step, e.name):
                removed += 1
                print(f"removed  {where}")
            else:
                print(f"in use   {where}: a run holds its lock; not removed")
    tail = f", {removed} removed" if args.remove else (" (--remove deletes them)" if damaged else "")
    print(f"{intact} intact, {damaged} damaged{tail}" + (f"; {leftovers} leftover folder(s)" if leftovers else ""))
    return 1 if damaged - removed else 0


def runs_in(results: Path) -> list[tuple[str, set[str]]]:
    """(run_id, step hashes it used) per run in the results log, oldest first."""
    from musicexp.engine.results import read_jsonl

    order: dict[str, set[str]] = {}
    for rec in read_jsonl(results):
        rid = rec.get("run_id")
        if rid is None:
            continue
        order.setdefault(rid, set()).update((rec.get("step_hashes") or {}).values())
    return list(order.items())


def cmd_gc(store: ArtifactStore, args) -> int:
    if args.keep_last is None and args.older_than is None:
        print("musicexp-cache gc: say what to collect: --keep-last N and/or --older-than YYYY-MM-DD", file=sys.stderr)
        return 2
    keep: set[str] | None = None
    if args.keep_last is not None:
        if args.keep_last < 0:
            print("musicexp-cache gc: --keep-last must be >= 0", file=sys.stderr)
            return 2
        if not args.results.is_file():
            print(f"musicexp-cache gc: no results log at {args.results}, so no run is known to use anything; "
                  "pass --results (refusing to treat every artifact as unused)", file=sys.stderr)
            return 2
        runs = runs_in(args.results)
        last = runs[-args.keep_last:] if args.keep_last else []
        keep = set().union(*(h for _, h in last)) if last else set()
    cutoff = None
    if args.older_than is not None:
        try:
            cutoff = dt.datetime.strptime(args.older_than, "%Y-%m-%d").astimezone()
        except ValueError:
            print(f"musicexp-cache gc: --older-than={args.older_than!r} is not a date (YYYY-MM-DD)", file=sys.stderr)
            return 2
    now = dt.datetime.now().astimezone()
    grace = dt.timedelta(hours=args.min_age_hours)
    doomed: list[tuple[Entry, str]] = []
    young = 0  # artifacts the criteria select, kept for being younger than the grace period
    for e in store.entries():
        if _garbage(e):
            doomed.append((e, _describe(e)))
            continue
        if e.kind != "artifact":
            continue
        when = committed(e)
        reasons = []
        if keep is not None:
            if e.name in keep:
                continue
            reasons.append(f"not used by the last {args.keep_last} run(s)")
        if cutoff is not None:
            if when >= cutoff:
                continue
            reasons.append(f"committed {when:%Y-%m-%d}")
        if now - when < grace:
            young += 1  # a run may be about to use it
            continue
        doomed.append((e, ", ".join(reasons)))
    total = sum(_size(e.path) for e, _ in doomed)
    verb = "removing" if args.yes else "would remove"
    for e, why in doomed:
        where = f"{e.dataset_id}/{e.step}/{e.name}"
        if args.yes:
            ok = store.remove(e.dataset_id, e.step, e.name)
            print(f"{'removed' if ok else 'in use, kept'}  {where}  ({why})")
        else:
            print(f"would remove  {where}  ({why})")
    kept = (f"; {young} matching artifact(s) younger than the {args.min_age_hours:g}-hour grace period kept "
            "(--min-age-hours 0 to include them)") if young else ""
    print(f"{verb} {len(doomed)} folder(s), {human_size(total)}" + ("" if args.yes else "; dry run: add --yes")
          + kept)
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="musicexp-cache", description=__doc__.split("\n\n")[0])
    ap.add_argument("--artifacts", type=Path, default=Path("artifacts"),
                    help="the artifact store (paths.artifacts_root; default ./artifacts)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("ls", help="artifacts with step, hash, size, age and config summary")
    p.add_argument("--dataset", help="only this dataset id")
    p.add_argument("--step", help="only this step")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p = sub.add_parser("verify", help="recompute checksums; report (and with --remove delete) damaged artifacts")
    p.add_argument("--remove", action="store_true", help="delete damaged artifacts and dead leftovers")
    p = sub.add_parser("gc", help="remove artifacts not used by the last N runs and/or older than a date")
    p.add_argument("--results", type=Path, default=Path("results/results.jsonl"),
                   help="results log naming the artifacts each run used (default ./results/results.jsonl)")
    p.add_argument("--keep-last", type=int, metavar="N", help="keep what the last N runs in the results log used")
    p.add_argument("--older-than", metavar="YYYY-MM-DD", help="only artifacts committed before this date")
    p.add_argument("--min-age-hours", type=float, default=1.0,
                   help="never remove artifacts younger than this: a running job may use them (default 1)")
    p.add_argument("--yes", action="store_true", help="really remove (default: dry run)")
    for sp in sub.choices.values():  # --artifacts also after the sub-command
        sp.add_argument("--artifacts", type=Path, default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    import musicexp.steps  # noqa: F401  (the registered steps' defaults: ls shows what differs)

    store = ArtifactStore(args.artifacts)
    return {"ls": cmd_ls, "verify": cmd_verify, "gc": cmd_gc}[args.cmd](store, args)


if __name__ == "__main__":
    sys.exit(main())
