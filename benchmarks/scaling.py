"""Scaling benchmark of the whole pipeline: the steps notes, labels, sgt, graph, embed (its random
walks and word2vec apart) and train, on synthetic collections of 1,000 / 5,000 / 20,000 pieces;
per size and step the wall time, the peak memory (RSS) of that step alone, and the cost per
piece (per note for notes and sgt), with what drives it (nodes, words, notes per piece).

    python benchmarks/scaling.py --sizes 300 1000        # a first look (about 10 minutes on 2 cores)
    python benchmarks/scaling.py                         # 1,000 / 5,000 / 20,000 pieces (about an hour)
    python benchmarks/scaling.py --out scaling.json --workdir /big/disk/musicexp-scaling

From bench.py: ``from scaling import bench_scaling; bench_scaling(add)`` adds one row per
(size, step) through bench.py's ``add`` (docs/scaling.md).

Synthetic pieces. Piece k is two real pieces of the embedded dataset `data` (564 scores), A
then B, both transposed by one random shift in -5..+6 semitones; B is drawn among the pieces
with A's composer and era. The piece takes A's labels (composer, era) and A's group (its
work); the labels step runs as by default (near-duplicate melodies merged into one group), but
train splits by piece (``steps.train.grouped=false``, see TRAIN below: the near-duplicate sets
chain synthetic pieces into a few huge groups). Piece k depends only on k, so a smaller
collection is a prefix of a larger one: the files are made once, in parallel, into
<workdir>/synth-<key>/all/, and each
size is a folder of hard links to the first n of them plus its labels.csv, read as
`dataset=data` with `dataset.build=null dataset.data_root=<that folder>`.

Measurement. Every step runs with the default settings (dataset `data`'s, embed 40 walks x 10
from every node, train the four default modes, 5 folds, mlp) in a fresh child process
(this file with --child). The child composes the config, plans the run with the engine
(musicexp.engine.plan.plan, so the real hashes), takes its inputs from the engine's real
artifact store (a fresh one under <workdir>, removed after each size), loads every output of
them and imports the step's heavy library (gensim for embed, keras for train), then reads its
RSS ("before": VmRSS), times the step's ``run`` (time.perf_counter) and reads its peak RSS
(getrusage(RUSAGE_SELF).ru_maxrss; the parsing processes of `notes` are RUSAGE_CHILDREN's,
reported as workers_peak_mb). Last it commits the outputs to the store for the next child
(timed apart: save_s, disk_mb). A step shorter than 2 s is run again (up to 5 runs in all, the
time is their median; the peak is the first run's). At the largest size one more row runs
embed with ``steps.embed.walk_roots=pieces`` (walks from piece nodes only). If the labels step
fails (e.g. out of memory where many pieces share material), it is run again with
``dataset.labels.duplicates=off`` so that train still runs.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import importlib
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
GEN = 1  # version of the synthetic pieces (enters their cache key)
STEPS = ("notes", "labels", "sgt", "graph", "embed", "train")
LARGE = ("steps.embed.walk_roots=pieces",)  # the large-collection setting, tried at the largest size
# Synthetic A+B, B+C pieces share B's melody, so the near-duplicate sets chain them into a few
# huge groups per class, and a grouped CV drops the classes left with < 5 groups (at 1,000
# pieces: palestrina and mozart, 384 pieces): train splits by piece, so it sees every piece.
TRAIN = ("steps.train.grouped=false",)
NO_DUPLICATES = "dataset.labels.duplicates=off"  # only if the default labels step fails (then for every later step)
PRELOAD = {"embed": ("gensim.models",), "train": ("keras", "sklearn.linear_model")}
MARK = "SCALING-RESULT "


def compose(overrides) -> object:
    from hydra import compose as hcompose
    from hydra import initialize_config_module

    from musicexp.app import setup

    setup()
    with initialize_config_module(config_module="musicexp.conf", version_base="1.3"):
        return hcompose(config_name="config", overrides=list(overrides))


# --------------------------------------------------------------------------- synthetic pieces

def source() -> dict:
    """The embedded dataset `data` (built on first use): folder, files, label rows, columns."""
    from musicexp.engine.domain import domain

    cfg = compose(["dataset=data", "progress=false"])
    ds = domain().open_dataset(cfg.dataset, ROOT, False)
    lab = cfg.dataset.labels
    with open(ds.labels_csv(), newline="", encoding="utf-8-sig") as fh:
        rows = {r[lab.file_column]: r for r in csv.DictReader(fh)}
    return {"root": ds.root, "files": list(ds.files), "rows": rows,
            "columns": [lab.file_column, *lab.columns, lab.group_column]}


def picks(src: dict, n: int) -> list[tuple[int, int, int]]:
    """(A, B, shift) of pieces 0..n-1; each depends only on its index."""
    files, rows, labels = src["files"], src["rows"], src["columns"][1:-1]
    cls: dict[tuple, list[int]] = {}
    for i, f in enumerate(files):
        cls.setdefault(tuple(rows[f][c] for c in labels), []).append(i)
    out = []
    for k in range(n):
        rng = np.random.default_rng([GEN, k])
        a = int(rng.integers(len(files)))
        mates = [i for i in cls[tuple(rows[files[a]][c] for c in labels)] if i != a] or [a]
        out.append((a, mates[int(rng.integers(len(mates)))], int(rng.integers(-5, 7))))
    return out


def _make(job: tuple[str, str, int, str]) -> None:
    import symusic

    a, b, shift, dst = job
    sa, sb = symusic.Score(a).shift_pitch(shift), symusic.Score(b).shift_pitch(shift)
    sb = sb.shift_time(sa.end() + sa.ticks_per_quarter)  # (every file of `data` has 10080 ticks per quarter)
    for ta, tb in zip(sa.tracks, sb.tracks):
        ta.notes.extend(tb.notes)
    sa.dump_midi(dst + ".part")
    os.replace(dst + ".part", dst)


def synthetic(workdir: Path, n: int, src: dict) -> Path:
    """A folder of n synthetic pieces and their labels.csv (made once, kept in workdir)."""
    from concurrent.futures import ProcessPoolExecutor

    key = hashlib.sha1(json.dumps([GEN, src["files"]]).encode()).hexdigest()[:10]
    base = Path(workdir) / f"synth-{key}"
    every = base / "all"
    every.mkdir(parents=True, exist_ok=True)
    pk, files, root = picks(src, n), src["files"], src["root"]
    names = [f"synth_{k:05d}.mid" for k in range(n)]
    jobs = [(str(root / files[a]), str(root / files[b]), s, str(every / name))
            for (a, b, s), name in zip(pk, names) if not (every / name).exists()]
    if jobs:
        t = time.perf_counter()
        with ProcessPoolExecutor(os.cpu_count() or 1) as ex:
            list(ex.map(_make, jobs, chunksize=64))
        print(f"made {len(jobs):,} synthetic pieces in {time.perf_counter() - t:.0f} s ({every})", flush=True)
    out = base / f"n{n}"
    if not (out / "labels.csv").is_file():  # (written last)
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir()
        for name in names:
            try:
                os.link(every / name, out / name)
            except OSError:
                os.symlink(every / name, out / name)
        cols = src["columns"]
        with open(out / "labels.csv.part", "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow([*cols, "made_from"])
            for name, (a, b, s) in zip(names, pk):
                row = src["rows"][files[a]]
                w.writerow([name, *(row[c] for c in cols[1:]), f"{files[a]} + {files[b]}, {s:+d}"])
        os.replace(out / "labels.csv.part", out / "labels.csv")
    return out


# --------------------------------------------------------------------------- one step, one process

def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:")) / 1024


def child(spec: dict) -> None:
    """Run one step on its inputs from the store; print what it cost (the last line)."""
    if spec["step"] == "train":  # as musicexp.evaluation.mlp sets them before importing keras
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    for mod in PRELOAD.get(spec["step"], ()):
        importlib.import_module(mod)
    from musicexp.data.dataset import open_dataset
    from musicexp.engine.cache import ArtifactStore
    from musicexp.engine.plan import plan
    from musicexp.core.registry import Context

    cfg = compose(spec["overrides"])
    ds = open_dataset(cfg.dataset, Path(spec["root"]), progress=False)
    nodes = plan(cfg, ds)
    node = nodes[spec["step"]]
    store = ArtifactStore(spec["store"])
    inputs = {}
    for d in node.deps:
        art = store.get(ds.id, d, nodes[d].hash)
        if art is None:
            raise SystemExit(f"no {d} artifact in {spec['store']} (its child failed?)")
        for name in art.names():
            art.load(name)
        inputs[d] = art
    ctx = Context(ds, node.settings, False)
    before = _rss_mb()
    t = time.perf_counter()
    outputs, summary = node.step.run(inputs, node.params, ctx)
    times = [time.perf_counter() - t]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    if "labels" in outputs and "group" in outputs["labels"]:  # how the near-duplicate sets grouped the pieces
        _, size = np.unique(outputs["labels"]["group"], return_counts=True)
        summary = {**summary, "groups": int(len(size)), "largest_group": int(size.max())}
    t = time.perf_counter()
    art = store.commit(ds.id, node.name, node.hash, outputs, {"summary": summary, "seconds": times[0]})
    save_s = time.perf_counter() - t
    disk = sum(f["size"] for f in art.meta["files"].values()) / 2 ** 20
    del outputs, art
    while sum(times) < 2 and len(times) < 5:  # a short step is timed again (median), after its peak was read
        t = time.perf_counter()
        node.step.run(inputs, node.params, ctx)
        times.append(time.perf_counter() - t)
    print(MARK + json.dumps({"seconds": float(np.median(times)), "times": times, "rss_before_mb": before,
                             "peak_mb": peak, "workers_peak_mb": workers, "save_s": save_s, "disk_mb": disk,
                             "summary": summary, "params": node.params.plain()}, default=float), flush=True)


def run_child(step: str, root: Path, overrides: list[str], store: Path) -> dict:
    spec = {"step": step, "root": str(root), "overrides": overrides, "store": str(store)}
    p = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)], capture_output=True, text=True,
                       cwd=ROOT)
    found = [line[len(MARK):] for line in p.stdout.splitlines() if line.startswith(MARK)]
    if p.returncode != 0 or not found:
        why = f"killed by signal {-p.returncode}" if p.returncode < 0 else f"exit code {p.returncode}"
        tail = " | ".join(p.stderr.strip().splitlines()[-3:])
        return {"error": f"{why}: {tail}"[-600:]}
    return json.loads(found[-1])


# --------------------------------------------------------------------------- rows

def _rows(add, n: int, label: str, step: str, r: dict, facts: dict) -> None:
    name = f"{label}, {n:,} pieces"
    if "error" in r:
        add("scaling", name, None, target="flat per piece", extra={"pieces": n, "step": label, **r},
            note=f"FAILED ({r['error']})")
        return
    s, sec = r["summary"], r["seconds"]
    mem = {k: r[k] for k in ("rss_before_mb", "peak_mb", "save_s", "disk_mb")}
    mem["step_mb"] = r["peak_mb"] - r["rss_before_mb"]
    if step == "notes":  # (other steps' only child is `uname -p`, forked by platform at import)
        mem["workers_peak_mb"] = r["workers_peak_mb"]
    extra = {"pieces": n, "step": label, "seconds": sec, "ms_per_piece": sec / n * 1e3, **mem, "summary": s}
    drivers = []
    if step == "notes":
        facts["notes"] = s["notes"]
        drivers.append(f"{s['notes'] / n:,.0f} notes/piece")
    if step in ("notes", "sgt") and facts.get("notes"):
        extra["us_per_note"] = sec / facts["notes"] * 1e6
    if step == "labels":
        drivers.append(f"{s.get('duplicate_sets', 0)} near-duplicate sets -> {s.get('groups')} groups "
                       f"(largest {s.get('largest_group')} pieces)")
    if step == "graph":
        extra.update(nodes_per_piece=s["nodes"] / n, edges_per_piece=s["edges"] / n)
        drivers.append(f"{s['nodes'] / n:.1f} nodes, {s['edges'] / n:.0f} edges, {s['groups'] / n:.1f} group nodes per piece")
    if step == "train":
        drivers.append(f"{s.get('folds')} folds x {len(s.get('modes', []))} modes, score {s.get('score')}")
    if step == "embed":
        p = r["params"]
        walk_steps = s["walks"] * p["walk_length"]
        words = walk_steps * p["epochs"]
        extra.update(walks=s["walks"], words=words, words_per_piece=words / n)
        drivers.append(f"{s['walks'] / p['num_walks']:,.0f} roots x {p['num_walks']} walks x {p['walk_length']}"
                       f" x {p['epochs']} epochs = {words / n:,.0f} words/piece")
    note = f"{extra['ms_per_piece']:.3g} ms/piece"
    if "us_per_note" in extra:
        note += f", {extra['us_per_note']:.3g} us/note"
    note += (f"; RSS {r['rss_before_mb']:.0f} MB before, peak {r['peak_mb']:.0f} MB (+{mem['step_mb']:.0f})"
             + (f", largest parsing worker {mem['workers_peak_mb']:.0f} MB" if step == "notes" else "")
             + "".join(f"; {d}" for d in drivers))
    extra["drivers"] = "; ".join(drivers)
    add("scaling", name, sec, target="flat per piece", extra=extra, note=note)
    if step == "embed":  # its two parts, as the step's summary times them
        for part, key, what in (("random walks", "walk_s", f"{walk_steps / s['walk_s'] / 1e6:.1f} M steps/s"),
                                ("word2vec", "w2v_s", f"{words / s['w2v_s'] / 1e3:.0f} k words/s")):
            t = s[key]
            add("scaling", f"{label}: {part}, {n:,} pieces", t, target="flat per piece",
                extra={"pieces": n, "step": f"{label}: {part}", "seconds": t, "ms_per_piece": t / n * 1e3,
                       "words_per_piece": words / n, "drivers": what},
                note=f"{t / n * 1e3:.3g} ms/piece; {what}")


def bench_scaling(add, sizes=(1000, 5000, 20000), workdir=None) -> None:
    """One row per (size, step) through ``add`` (bench.py's signature); see the module's doc."""
    workdir = Path(workdir or Path(tempfile.gettempdir()) / "musicexp-scaling")
    src = source()
    for n in sorted(sizes):
        root = synthetic(workdir, n, src)
        store = workdir / f"store-{os.getpid()}-{n}"
        base = ["dataset=data", "dataset.build=null", f"dataset.data_root={root}", f"dataset.id=synth_{n}",
                "progress=false"]
        runs = [(s, s, TRAIN if s == "train" else ()) for s in STEPS]
        if n == max(sizes):
            runs.insert(STEPS.index("embed") + 1, ("embed", "embed (walk_roots=pieces)", LARGE))
        facts: dict = {}
        try:
            for step, label, extra in runs:
                r = run_child(step, root, base + list(extra), store)
                _rows(add, n, label, step, r, facts)
                if step == "labels" and "error" in r:  # (the near-duplicate search failed: go on without it)
                    base.append(NO_DUPLICATES)
                    _rows(add, n, "labels (duplicates=off)", step, run_child(step, root, base, store), facts)
        finally:
            shutil.rmtree(store, ignore_errors=True)


# --------------------------------------------------------------------------- alone

def table(rows: list[dict]) -> str:
    head = ("| pieces | step | s | ms/piece | us/note | RSS before MB | peak MB | step's +MB | disk MB | note |\n"
            "|---:|---|---:|---:|---:|---:|---:|---:|---:|---|")
    out = [head]
    for r in rows:
        def f(k, fmt):
            return format(r[k], fmt) if r.get(k) is not None else ""
        note = r["note"] if "error" in r else r.get("drivers", "")
        out.append(f"| {r['pieces']:,} | {r['step']} | {f('seconds', '.2f')} | {f('ms_per_piece', '.3g')} | "
                   f"{f('us_per_note', '.3g')} | {f('rss_before_mb', '.0f')} | {f('peak_mb', '.0f')} | "
                   f"{f('step_mb', '.0f')} | {f('disk_mb', '.0f')} | {note} |")
    return "\n".join(out)


def extrapolate(rows: list[dict], target: int = 100_000) -> list[str]:
    """Time and peak RSS at ``target`` pieces from each step's two largest sizes: time by the
    power law through them (linear from a step measured at one size), peak RSS by the straight
    line through them (the imports are its intercept)."""
    out = []
    for step in dict.fromkeys(r["step"] for r in rows):
        got = sorted(((r["pieces"], r) for r in rows if r["step"] == step and r.get("seconds")), key=lambda x: x[0])
        if not got:
            continue
        (n1, r1), (n2, r2) = got[-2:] if len(got) > 1 else (got[-1], got[-1])
        k = math.log(r2["seconds"] / r1["seconds"]) / math.log(n2 / n1) if n2 > n1 else 1.0
        line = f"  {step:<40} ~{r2['seconds'] * (target / n2) ** k / 3600:6.2f} h (time ~ n^{k:.2f}"
        if n2 > n1 and r2.get("peak_mb"):
            slope = (r2["peak_mb"] - r1["peak_mb"]) / (n2 - n1)
            line += f"), peak ~{(r2['peak_mb'] + slope * (target - n2)) / 1024:.1f} GB ({slope * 1e3:.0f} MB per 1,000 pieces"
        out.append(line + ")")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000, 20000])
    ap.add_argument("--workdir", default=None, help="synthetic pieces and temporary artifacts "
                                                     "(default: <tmp>/musicexp-scaling; kept between runs)")
    ap.add_argument("--out", default=None, help="also write the rows as JSON here")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(json.loads(args.child))
    rows: list[dict] = []

    def add(section, name, ours_s, base_s=None, *, baseline="", target="", extra=None, note=""):
        rows.append({"section": section, "row": name, "ours_s": ours_s, "target": target, **(extra or {}),
                     "note": note})
        print(f"{name:<44} {'' if ours_s is None else f'{ours_s:9.2f}s'}  {note}", flush=True)

    t0 = time.perf_counter()
    bench_scaling(add, tuple(args.sizes), args.workdir)
    print("\n" + table(rows))
    for n in sorted(set(args.sizes)):
        steps = [r for r in rows if r["pieces"] == n and r["step"] in STEPS]
        print(f"\n{n:,} pieces: the six steps {sum(r.get('seconds') or 0 for r in steps):.0f} s, "
              f"largest peak {max((r.get('peak_mb') or 0) for r in steps):.0f} MB")
    print("\nnaive extrapolation to 100,000 pieces (time: power law, memory: straight line, through each step's two"
          "\nlargest sizes; docs/scaling.md extrapolates labels and embed from their drivers instead):")
    print("\n".join(extrapolate(rows)))
    print(f"\nbenchmark {time.perf_counter() - t0:.0f} s in all")
    if args.out:
        Path(args.out).write_text(json.dumps({"sizes": args.sizes, "rows": rows}, indent=1, default=float))


if __name__ == "__main__":
    main()
