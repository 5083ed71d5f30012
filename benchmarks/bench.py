"""`make bench`: musicexp's speed, measured against baselines in the same invocation.

Every row is the median of several runs (``--repeat``) of ours and of its baseline, and the
ratio between them; slow baselines that would take minutes per run are measured on a sample
and extrapolated, which the row says. Prints a table, writes benchmarks/results.json.

    python benchmarks/bench.py            # everything (about 90 minutes on 2 cores; scaling alone about an hour)
    python benchmarks/bench.py --quick    # fewer repeats, no end-to-end first runs
    python benchmarks/bench.py --only parse sgt   # replaces those sections' rows in results.json
    python benchmarks/bench.py --only stats       # the stats step on data and on 100,000 synthetic pieces
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
import baselines  # noqa: E402
import scaling  # noqa: E402
from scaling import compose  # noqa: E402  (one Hydra compose for both scripts)

ROWS: list[dict] = []


def median_time(fn, repeat: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), times


def add(section: str, name: str, ours_s: float | None, base_s: float | None = None, *, baseline: str = "",
        target: str = "", extra: dict | None = None, note: str = "") -> None:
    ratio = base_s / ours_s if (ours_s and base_s) else None
    row = {"section": section, "row": name, "ours_s": ours_s, "baseline": baseline, "baseline_s": base_s,
           "ratio": ratio, "target": target, **(extra or {}), "note": note}
    ROWS.append(row)
    r = f"{ratio:8.1f}x" if ratio else " " * 9
    o = f"{ours_s:9.4f}s" if ours_s is not None else " " * 10
    b = f"{base_s:9.3f}s" if base_s is not None else " " * 10
    print(f"{section:<9} {name:<44} {o} {b} {r}  {target:<10} {note}", flush=True)


def dataset(name: str):
    """The embedded dataset's folder (built on first use) and its Dataset object."""
    from musicexp.engine.domain import domain

    cfg = compose([f"dataset={name}", "progress=false"])
    return cfg, domain().open_dataset(cfg.dataset, ROOT, False)


def run_step(cfg, name: str, inputs: dict, ds=None):
    """One step's run, with the params the engine gives it."""
    from musicexp.core import registry
    from musicexp.engine.plan import step_params
    from musicexp.core.registry import Context

    params, settings = step_params(cfg, name)
    return registry.get(name).run(inputs, params, Context(ds, settings, False))


def notes_of(name: str):
    cfg, ds = dataset(name)
    out, _ = run_step(cfg, "notes", {}, ds)
    return cfg, ds, out


# --------------------------------------------------------------------------- rows


def bench_parse(repeat: int, base_repeat: int) -> None:
    from multiprocessing import get_context

    from musicexp.data.notes import parse_all

    _, ds = dataset("data")
    paths = [str(ds.path(f)) for f in ds.files]
    n_notes = sum(len(r[0]["columns"]["pitch"]) for r in parse_all(paths, 1, False))
    base = {}
    for w in (1, 2):
        if w == 1:
            b, _ = median_time(lambda: [baselines.older_notes(p) for p in paths], base_repeat)
        else:
            def older_pool():
                with get_context("fork").Pool(2) as pool:
                    pool.map(baselines.older_notes, paths, chunksize=8)
            b, _ = median_time(older_pool, base_repeat)
        base[w] = b
    for w in (1, 2):
        ours, _ = median_time(lambda: parse_all(paths, w, False), repeat)
        add("parse", f"notes: {len(paths)} files, {n_notes} notes, {w} worker(s)", ours, base[w],
            baseline=f"pretty_midi, {w} worker(s)", target=">=20x" if w == 1 else "",
            extra={"files_per_s": len(paths) / ours, "notes_per_s": n_notes / ours,
                   "baseline_files_per_s": len(paths) / base[w]},
            note=f"{len(paths) / ours:,.0f} files/s, {n_notes / ours / 1e6:.2f} M notes/s")


def bench_sgt(repeat: int, base_repeat: int, n_pkg: int) -> None:
    from musicexp.features.sgt.events import tokenize
    from musicexp.features.sgt.kernel import pair_sums
    from musicexp.features.sgt.vocab import normalize

    cfg, _, notes_out = notes_of("data")
    ours, _ = median_time(lambda: run_step(cfg, "sgt", {"notes": notes_out}), repeat)
    notes, offsets = notes_out["notes"], notes_out["notes"]["offsets"]
    tok, keep, _ = tokenize(notes, cfg.steps.sgt.token_mode.value, False)
    vocab_index = {t: i for i, t in enumerate(np.unique(tok))}
    pieces = []
    for k in range(len(offsets) - 1):
        sl = slice(offsets[k], offsets[k + 1])
        o = notes["onset"][sl][keep[sl]]
        order = np.argsort(o, kind="stable")
        pieces.append((o[order].tolist(), tok[sl][keep[sl]][order].tolist()))

    def older():
        for o, t in pieces:
            baselines.older_sgt(o, t, vocab_index, cfg.steps.sgt.alpha, cfg.steps.sgt.max_dt_beats)

    base, _ = median_time(older, base_repeat)
    add("sgt", f"sgt step on data ({len(notes['pitch'])} notes, window 8 beats)", ours, base,
        baseline="older per-pair Python loop", target=">=100x")

    # the published SGT: 200 random sequences of length 2,000 over 64 symbols
    from sgt import SGT

    rng = np.random.default_rng(0)
    seqs = [rng.integers(0, 64, 2000) for _ in range(200)]
    pos = np.arange(2000, dtype=np.float64)
    alpha = 1.0

    def ours_pub():
        return [normalize(*pair_sums(pos, s, 64, alpha, None), "sgt", alpha) for s in seqs]

    t_ours, _ = median_time(ours_pub, repeat)
    mine = ours_pub()
    pkg = SGT(alphabets=list(range(64)), kappa=alpha, lengthsensitive=False, flatten=False)
    sample = seqs[:n_pkg]
    t_pkg, _ = median_time(lambda: [pkg.fit(list(s)) for s in sample], base_repeat)
    diff = max(float(np.abs(np.asarray(pkg.fit(list(s)), float) - m).max()) for s, m in zip(sample, mine))
    add("sgt", "published SGT: 200 seqs x 2,000 over 64 symbols", t_ours, t_pkg * len(seqs) / n_pkg,
        baseline=f"package sgt 2.0.3 ({n_pkg} seqs, x{len(seqs) // n_pkg} extrapolated)", target=">=300x",
        extra={"max_abs_diff": diff}, note=f"max |diff| {diff:.1e} (target < 1e-9)")


def tile_notes(notes: dict, pieces: list[dict], n: int) -> tuple[dict, list[dict]]:
    """A synthetic note table of ``n`` pieces: piece k is real piece k mod P, transposed by
    (k // P) % 12 - 5 semitones (as benchmarks/scaling.py transposes its pieces), with the
    columns the sgt and stats steps read."""
    offsets = notes["offsets"]
    P = len(offsets) - 1
    reps = -(-n // P)
    lens = np.tile(np.diff(offsets), reps)[:n]
    total = int(lens.sum())
    out = {k: np.tile(notes[k], reps)[:total] for k in ("track", "program", "is_drum", "onset", "duration")}
    shift = np.repeat((np.arange(n) // P) % 12 - 5, lens).astype(np.int16)
    out["pitch"] = np.clip(np.tile(notes["pitch"], reps)[:total] + shift, 0, 127).astype(np.int16)
    del shift
    out["offsets"] = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    return out, [{"id": f"synth{k:06d}", "tpq": pieces[k % P]["tpq"]} for k in range(n)]


def bench_stats(repeat: int, n_synth: int = 100_000) -> None:
    """The stats step (global note statistics) on `data` and on a synthetic collection of
    ``n_synth`` pieces, against the sgt step on the same notes (the other vectorised feature
    step), timed in the same invocation."""
    import gc

    cfg, _, notes_out = notes_of("data")
    n_notes = len(notes_out["notes"]["pitch"])
    ours, _ = median_time(lambda: run_step(cfg, "stats", {"notes": notes_out}), repeat)
    base, _ = median_time(lambda: run_step(cfg, "sgt", {"notes": notes_out}), repeat)
    add("stats", f"stats step on data ({n_notes} notes)", ours, base, baseline="sgt step, same notes",
        extra={"notes_per_s": n_notes / ours}, note=f"{n_notes / ours / 1e6:.2f} M notes/s")
    notes, pieces = tile_notes(notes_out["notes"], notes_out["pieces"], n_synth)
    big = {"notes": notes, "pieces": pieces}
    n_big = len(notes["pitch"])
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t = time.perf_counter()
    run_step(cfg, "stats", {"notes": big})
    ours = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    gc.collect()
    t = time.perf_counter()
    run_step(cfg, "sgt", {"notes": big})
    base = time.perf_counter() - t
    add("stats", f"stats step, {n_synth:,} synthetic pieces ({n_big:,} notes)", ours, base,
        baseline="sgt step, same notes", target="< 60 s",
        extra={"notes_per_s": n_big / ours, "peak_mb_before": before, "peak_mb_after_stats": peak},
        note=f"one run each; data's pieces tiled; {n_big / ours / 1e6:.2f} M notes/s; peak RSS {peak:,.0f} MB "
             f"(the table {before:,.0f} MB before)")


def bench_graph(repeat: int) -> None:
    from musicexp.features.midi2vec.graph import build_graph, group_notes

    cfg, _, notes_out = notes_of("data")
    notes, pieces, offsets = notes_out["notes"], notes_out["pieces"], notes_out["notes"]["offsets"]
    g = cfg.steps.graph
    ours, _ = median_time(lambda: build_graph(notes, pieces, max_groups=g.max_groups,
                                              group_window_s=g.group_window_s), repeat)
    piece = np.repeat(np.arange(len(pieces)), np.diff(offsets))
    grp, _ = median_time(lambda: group_notes(piece, notes["onset_s"], g.group_window_s), repeat)
    # the quadratic baseline on every 10th piece, extrapolated by the sum of n^2 (its cost model)
    sizes = np.diff(offsets).astype(np.float64)
    sample = list(range(0, len(pieces), 10))
    onsets = [np.sort(notes["onset_s"][offsets[k]:offsets[k + 1]]).tolist() for k in sample]
    t0 = time.perf_counter()
    for o in onsets:
        baselines.older_grouping(o, g.group_window_s)
    scale = float((sizes ** 2).sum() / (sizes[sample] ** 2).sum())
    base = (time.perf_counter() - t0) * scale
    add("midi2vec", f"note grouping on data ({int(sizes.sum())} notes)", grp, base,
        baseline=f"older quadratic loop ({len(sample)} pieces, x{scale:.1f} by sum n^2)")
    add("midi2vec", "whole graph build on data (vectorised)", ours, base,
        baseline="older grouping alone (as above)")


def _embed_walks(cfg, graph_out) -> tuple[np.ndarray, int]:
    """The walks the embed step trains on (its defaults: roots, order), and the node count."""
    from musicexp.features.midi2vec.walks import random_walks

    e = cfg.steps.embed
    graph = graph_out["graph"]
    indptr, indices = graph["indptr"], graph["indices"]
    n_nodes = len(indptr) - 1
    roots = np.arange(n_nodes)[np.diff(indptr) > 0]
    walks = random_walks(indptr, indices, roots, num_walks=e.num_walks, walk_length=e.walk_length, p=e.p, q=e.q,
                         seed=cfg.seed)
    return walks[np.random.default_rng(cfg.seed).permutation(len(walks))], n_nodes


def _w2v_rows(label: str, walks: np.ndarray, n_nodes: int, epochs: int, note: str) -> None:
    """Words per second of the sgns kernel vs gensim with 1 and 2 threads on the same walks."""
    from musicexp.features.midi2vec.word2vec import word2vec

    words = walks.size * epochs

    def timed(engine, workers):  # wall and CPU seconds (the machine may be shared: CPU time shows the work)
        t, c = time.perf_counter(), time.process_time()
        word2vec(walks, n_nodes, epochs=epochs, engine=engine, workers=workers, seed=0)
        return time.perf_counter() - t, time.process_time() - c

    ours, ours_cpu = timed("sgns", 1)
    for workers in (2, 1):
        base, base_cpu = timed("gensim", workers)
        add("w2v", f"word2vec {label}: sgns vs gensim {workers} thread{'s' * (workers > 1)}", ours, base,
            baseline=f"gensim workers={workers}", target="1x (2 threads)" if workers == 2 else "",
            extra={"words": words, "nodes": n_nodes, "ours_words_per_s": words / ours,
                   "baseline_words_per_s": words / base, "ours_cpu_s": ours_cpu, "baseline_cpu_s": base_cpu},
            note=f"{words / 1e6:.1f} M words; sgns {words / ours / 1e3:.0f} k words/s, gensim "
                 f"{words / base / 1e3:.0f} k words/s; CPU s {ours_cpu:.1f} vs {base_cpu:.1f}{note}")


def bench_w2v(sizes=(20000,), sample_words: float = 5e6, data_epochs: int | None = None) -> None:
    """word2vec alone on the walks of `data` (the embed step's defaults, every word; 5 epochs, or
    ``data_epochs``), then on a synthetic collection per size (benchmarks/scaling.py; its whole
    vocabulary and graph, the first walks of the shuffled set up to ``sample_words`` words of one
    epoch). sgns, then gensim with 2 threads, then with 1, on the same walks."""
    cfg, ds, notes_out = notes_of("data")
    graph_out, _ = run_step(cfg, "graph", {"notes": notes_out}, ds)
    walks, n_nodes = _embed_walks(cfg, graph_out)
    epochs = data_epochs or cfg.steps.embed.epochs
    _w2v_rows(f"on data ({n_nodes:,} nodes)", walks, n_nodes, epochs, f"; {epochs} epoch{'s' * (epochs > 1)}")
    src = scaling.source()
    workdir = Path(tempfile.gettempdir()) / "musicexp-scaling"
    for n in sizes:
        root = scaling.synthetic(workdir, n, src)
        scfg = compose(["dataset=data", "dataset.build=null", f"dataset.data_root={root}", f"dataset.id=synth_{n}",
                        "progress=false"])
        from musicexp.engine.domain import domain

        sds = domain().open_dataset(scfg.dataset, ROOT, False)
        s_notes, _ = run_step(scfg, "notes", {}, sds)
        s_graph, _ = run_step(scfg, "graph", {"notes": s_notes}, sds)
        del s_notes
        walks, n_nodes = _embed_walks(scfg, s_graph)
        keep = max(1, int(sample_words // walks.shape[1]))
        _w2v_rows(f"at {n:,} pieces ({n_nodes:,} nodes)", walks[:keep], n_nodes, 1,
                  f"; the first {keep:,} of {len(walks):,} walks, 1 epoch")


def _musicexp() -> str:
    """The console command a user runs (beside this Python)."""
    import shutil

    return shutil.which("musicexp", path=str(Path(sys.executable).parent)) or "musicexp"


_SCRATCH: dict[str, tuple] = {}  # dataset -> (TemporaryDirectory, first-run seconds)


def scratch_project(name: str) -> tuple[Path, float]:
    """A scratch folder a user could have run in: the embedded datasets are the user's (built
    once, in the per-user data folder), everything else (artifacts, results, outputs) is fresh. The first call per
    dataset makes the first run there, `musicexp dataset=<name> progress=false`, and times it;
    the cached-rerun row then reuses that cache, so the rerun is timed on a cache this version
    wrote, and data_100 is computed once per benchmark."""
    if name not in _SCRATCH:
        dataset(name)  # build the embedded dataset if missing (not timed)
        tmp = tempfile.TemporaryDirectory()
        t = time.perf_counter()
        subprocess.run([_musicexp(), f"dataset={name}", "progress=false"], cwd=tmp.name, check=True,
                       capture_output=True)
        _SCRATCH[name] = (tmp, time.perf_counter() - t)
    tmp, first = _SCRATCH[name]
    return Path(tmp.name), first


def bench_cached(repeat: int) -> None:
    """The command exactly as a user types it, `musicexp dataset=data_100 resume=true`, in the
    folder of a finished first run, against a trivial @hydra.main app run there the same way
    (console script vs script file, no overrides). Timed alternately, so a load change on the
    machine hits both; `python -X importtime` lists what the cached run imports."""
    tmp, _ = scratch_project("data_100")
    trivial = tmp / "trivial_app.py"
    trivial.write_text(
        "import hydra\n\n@hydra.main(version_base='1.3', config_path=None)\n"
        "def main(cfg):\n    return 0.0\n\nif __name__ == '__main__':\n    main()\n")
    ours_cmd = [_musicexp(), "dataset=data_100", "resume=true"]
    base_cmd = [sys.executable, str(trivial)]
    imported = subprocess.run([sys.executable, "-X", "importtime", "-m", "musicexp", *ours_cmd[1:]], cwd=tmp,
                              check=True, capture_output=True, text=True).stderr
    heavy = sorted(m for m in ("numpy", "tensorflow", "keras", "pandas", "sklearn", "filelock", "gensim",
                               "symusic", "music21") if re.search(rf"\| {m}$", imported, flags=re.M))
    ours, base = [], []
    for _ in range(max(repeat, 11)):
        for cmd, times in ((ours_cmd, ours), (base_cmd, base)):
            t = time.perf_counter()
            out = subprocess.run(cmd, cwd=tmp, check=True, capture_output=True, text=True)
            times.append(time.perf_counter() - t)
            assert cmd is base_cmd or "records appended: 0" in out.stdout, out.stdout[-2000:]
    best = min(ours) / min(base)  # (timeit's advice: the minimum is the least noisy estimate)
    ours, base = statistics.median(ours), statistics.median(base)
    add("cached", "fully cached `musicexp dataset=data_100 resume=true`", ours, base,
        baseline="trivial @hydra.main app", target="<=1.5x slower",
        extra={"slowdown": ours / base, "slowdown_of_minima": best, "heavy_imports": heavy},
        note=f"{ours / base:.2f}x the trivial app's time (medians; minima {best:.2f}x); "
             f"heavy modules imported: {heavy or 'none'}")


def bench_e2e() -> None:
    for name in ("data_100", "data"):
        tmp, total = scratch_project(name)
        per_step = {}
        for meta in (tmp / "artifacts").glob("*/*/*/meta.json"):
            m = json.loads(meta.read_text())
            per_step[m["step"]] = m["seconds"]
            if m["step"] == "embed":
                emb = m["summary"]
        recs = [r for r in map(json.loads, (tmp / "results" / "results.jsonl").read_text().splitlines())
                if r["dataset_id"] == name]
        steps = ", ".join(f"{k} {v:.1f}s" for k, v in per_step.items())
        add("e2e", f"first run of {name}, all steps, 4 modes", total, extra={"per_step_s": per_step},
            note=steps)
        f1 = {r["mode"]: round(r["overall_f1_mean"], 3) for r in recs}
        add("midi2vec", f"random walks on the {name} graph", emb["walk_s"],
            extra={"steps_per_s": emb["walk_steps_per_s"], "emb_only_f1": f1.get("emb_only")},
            note=f"{emb['walk_steps_per_s'] / 1e6:.1f} M steps/s; emb_only overall macro-F1 {f1.get('emb_only')}")
        add("midi2vec", f"word2vec on the {name} walks (2 workers)", emb["w2v_s"],
            extra={"words_per_s": emb["w2v_words_per_s"], "emb_only_f1": f1.get("emb_only"), "f1_by_mode": f1},
            note=f"{emb['w2v_words_per_s'] / 1e3:.0f} k words/s; macro-F1 by mode {f1}")


def train_child(folder: str, trainer: str) -> dict:
    """In a fresh process, in ``folder`` (a finished run of ``data``): the train step with the
    trainer ``trainer``, on the cached inputs; the time inside the MLP fits, apart."""
    os.chdir(folder)
    from musicexp.core import registry
    from musicexp.core.registry import Context
    from musicexp.engine import plan
    from musicexp.engine.cache import ArtifactStore
    from musicexp.engine.domain import domain
    from musicexp.engine.paths import Launch, resolve_paths
    from musicexp.evaluation import models

    cfg = compose(["dataset=data", "progress=false", f"steps.train.trainer={trainer}"])
    paths = resolve_paths(cfg, Launch())
    ds = domain().open_dataset(cfg.dataset, paths.base, False)
    nodes = plan.plan(cfg, ds)
    store = ArtifactStore(paths.artifacts)
    node = nodes["train"]
    inputs = {d: store.get(ds.id, d, nodes[d].hash) for d in node.deps}
    assert all(v is not None for v in inputs.values()), "the scratch folder lacks a cached input of train"
    t = time.perf_counter()
    from musicexp.evaluation import mlp

    mlp._keras(None, True)  # TensorFlow + Keras, imported once (timed apart)
    import_s = time.perf_counter() - t
    fits, inner = [], models.MODELS["mlp"]

    def timed(X_tr, *args, **kw):
        t = time.perf_counter()
        out = inner(X_tr, *args, **kw)
        fits.append({"s": time.perf_counter() - t, "epochs": out[1]["epochs"], "rows": len(X_tr),
                     "n_in": int(X_tr.shape[1]), "n_val": len(args[1]), "classes": list(args[3].values())})
        return out

    models.MODELS["mlp"] = timed
    t = time.perf_counter()
    _, summary = registry.get("train").run(inputs, node.params, Context(ds, node.settings, False))
    step_s = time.perf_counter() - t
    return {"trainer": trainer, "import_s": import_s, "step_s": step_s, "fits": fits, "score": summary["score"]}


def fit_flops(fit: dict, tc) -> float:
    """Floating-point operations of the matrix products of one fit like ``fit`` (its epochs,
    rows, inputs, classes): per training batch the forward products and per layer the two
    backward ones (weights and inputs; none for the network's input), per epoch a forward pass
    over the validation rows. A multiply-add counts 2."""
    widths = [fit["n_in"], *tc.hidden]
    trunk = list(zip(widths, widths[1:]))
    heads = [pair for k in fit["classes"] for pair in ((widths[-1], tc.head_units), (tc.head_units, k))]
    forward = sum(2 * a * b for a, b in trunk + heads)  # per row
    backward = 2 * forward - 2 * trunk[0][0] * trunk[0][1]
    return fit["epochs"] * (fit["rows"] * (forward + backward) + fit["n_val"] * forward)


def gemm_rate(repeat: int = 5) -> float:
    """The machine's float32 matrix-product rate (FLOP/s) on large products (numpy's BLAS)."""
    a = np.random.default_rng(0).random((2048, 2048), dtype=np.float32)
    best = min(median_time(lambda: a @ a, 1)[0] for _ in range(repeat))
    return 2 * 2048 ** 3 / best


def bench_train() -> None:
    """The train step on `data` (4 modes x 5 folds: 15 MLP fits) with the compiled trainer and
    with plain keras.Model.fit, each in a fresh process on the same cached inputs and folds; the
    time per fit against its matrix products; and `musicexp dataset=data` on a warm cache after
    a change of steps.sgt.alpha (sgt and train recomputed), with each trainer."""
    tmp, _ = scratch_project("data")
    res = {}
    for trainer in ("compiled", "keras_fit"):
        out = subprocess.run([sys.executable, "-c", f"import sys, json; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
                              f"from bench import train_child; print(json.dumps(train_child({str(tmp)!r}, {trainer!r})))"],
                             check=True, capture_output=True, text=True, cwd=ROOT)
        res[trainer] = json.loads(out.stdout.strip().splitlines()[-1])
    ours, base = res["compiled"], res["keras_fit"]
    fit_s = {k: sum(f["s"] for f in r["fits"]) for k, r in res.items()}
    n = len(ours["fits"])
    add("train", f"MLP fits of the train step on data ({n} fits)", fit_s["compiled"], fit_s["keras_fit"],
        baseline="keras.Model.fit, same folds", target=">=10x",
        extra={"runs": res}, note=f"first fit (traces the graph) {ours['fits'][0]['s']:.2f} s; "
                                   f"epochs {[f['epochs'] for f in ours['fits']]} vs {[f['epochs'] for f in base['fits']]}")
    add("train", "train step on data, whole (TF import apart)", ours["step_s"], base["step_s"],
        baseline="same step, keras.Model.fit",
        note=f"score {ours['score']} vs {base['score']}; TensorFlow import {ours['import_s']:.1f} s not included")
    tc = compose(["dataset=data"]).steps.train
    steady = ours["fits"][1:]  # (the first one traces)
    fit = sorted(steady, key=lambda f: f["s"])[len(steady) // 2]  # the median fit
    keras_fit = base["fits"][ours["fits"].index(fit)]  # the same fold and model, trained by keras.Model.fit
    lower = fit_flops(fit, tc) / gemm_rate()
    per_epoch = {"ours": fit["s"] / fit["epochs"], "keras": keras_fit["s"] / keras_fit["epochs"], "lower": lower / fit["epochs"]}
    add("train", "one fit, per epoch, vs its matrix products", per_epoch["ours"], per_epoch["keras"],
        baseline="keras.Model.fit per epoch", extra={"per_epoch_s": per_epoch, "fit": fit, "keras_fit": keras_fit},
        note=f"the median fit ({fit['n_in']} inputs, {fit['rows']} rows, {fit['epochs']} epochs, {fit['s']:.2f} s); "
             f"its matrix products at the machine's large-GEMM rate: {per_epoch['lower'] * 1e3:.2f} ms/epoch; "
             f"ours {per_epoch['ours'] / per_epoch['lower']:.0f}x that, keras.Model.fit {per_epoch['keras'] / per_epoch['lower']:.0f}x")
    warm = {}
    for trainer, alpha in (("compiled", 0.7), ("keras_fit", 0.9)):
        t = time.perf_counter()
        subprocess.run([_musicexp(), "dataset=data", "progress=false", f"steps.sgt.alpha={alpha}",
                        f"steps.train.trainer={trainer}"], cwd=tmp, check=True, capture_output=True)
        warm[trainer] = time.perf_counter() - t
    add("train", "`musicexp dataset=data` after steps.sgt.alpha changed", warm["compiled"], warm["keras_fit"],
        baseline="the same with keras.Model.fit", target="<15 s",
        note="warm cache: notes, labels, graph, embed reused; sgt + train (4 modes x 5 folds) recomputed")


def machine() -> dict:
    cpu = ""
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    from importlib.metadata import version

    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "numpy": np.__version__, "symusic": version("symusic"), "gensim": version("gensim"),
            "date": time.strftime("%Y-%m-%d"), "platform": platform.platform()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer repeats; skip end-to-end and scaling")
    ap.add_argument("--only", nargs="*", default=None,
                    help="sections: parse sgt stats graph cached e2e train w2v scaling")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results.json"))
    args = ap.parse_args()
    repeat, base_repeat = (3, 1) if args.quick else (5, 3)
    sections = args.only or (["parse", "sgt", "stats", "graph", "cached"]
                             + ([] if args.quick else ["e2e", "train", "w2v", "scaling"]))
    info = machine()
    print(f"machine: {info['cpu']} | {info['cores']} cores | Python {info['python']} | {info['date']}")
    print(f"{'section':<9} {'row':<44} {'ours':>10} {'baseline':>10} {'ratio':>9}  {'target':<10} note")
    t0 = time.perf_counter()
    for s in sections:
        {"parse": lambda: bench_parse(repeat, base_repeat),
         "sgt": lambda: bench_sgt(repeat, base_repeat, 4 if args.quick else 8),
         "stats": lambda: bench_stats(repeat, 20_000 if args.quick else 100_000),
         "graph": lambda: bench_graph(repeat),
         "cached": lambda: bench_cached(repeat),
         "e2e": bench_e2e,
         "train": bench_train,
         "w2v": lambda: bench_w2v(sample_words=2e6 if args.quick else 5e6, data_epochs=1 if args.quick else None),
         "scaling": lambda: scaling.bench_scaling(add)}[s]()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out = Path(args.out)
    kept = []  # --only: the other sections' rows of the previous file stay, each with its own run's facts
    if args.only and out.exists():
        old = json.loads(out.read_text())
        kept = [{"run": {k: old.get(k) for k in ("machine", "seconds")}, **r} if "run" not in r else r
                for r in old["rows"] if r["section"] not in sections]
    out.write_text(json.dumps({"machine": info, "repeat": repeat, "baseline_repeat": base_repeat, "sections": sections,
                               "seconds": time.perf_counter() - t0, "peak_mb": peak, "rows": kept + ROWS},
                              indent=1, default=float))
    print(f"wrote {args.out} ({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
