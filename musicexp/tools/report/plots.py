"""Figures of a sweep or a results file: a heatmap of the headline over alpha x top_vocab, and a
bar chart of the modes. matplotlib is imported only when a figure is drawn."""

from __future__ import annotations

import logging
import math
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Iterable

log = logging.getLogger("musicexp")

HEATMAP_PNG = "heatmap_f1_alpha_top_vocab.png"
MODES_PNG = "modes_f1.png"
#: above this many distinct values on an axis the heatmap becomes a scatter plot (Optuna)
MAX_HEATMAP_VALUES = 12


def mode_rank(mode: Any) -> tuple:
    """Modes in registration order of their blocks, fusions after, unknown ones by name."""
    from musicexp.evaluation.modes import default_modes

    order = default_modes()
    return (order.index(mode), "") if mode in order else (len(order), str(mode))


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _num(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _fmt(v: float) -> str:
    return f"{v:g}" if abs(v - round(v)) > 1e-9 else str(int(round(v)))


def _dedupe(rows: Iterable[dict]) -> list[dict]:
    """One row per record (the last one) for figures; rows without a record_id stay."""
    seen: dict[Any, dict] = {}
    for i, r in enumerate(rows):
        seen[r.get("record_id") or ("row", i)] = r
    return list(seen.values())


def _groups(rows: list[dict]) -> dict[tuple, list[dict]]:
    g: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        g[(r.get("dataset_id"), r.get("mode"), r.get("task"), r.get("model"))].append(r)
    return dict(sorted(g.items(), key=lambda kv: (str(kv[0][0]), mode_rank(kv[0][1]), str(kv[0][2:]))))


def plot_heatmap(rows: list[dict], path: Path, max_panels: int = 6) -> Path | None:
    """Overall macro-F1 over alpha (rows) x top_vocab (columns), one panel per (dataset, mode, task,
    model) whose alpha or top_vocab varies; cells annotated "mean ± std" over folds (cells holding
    several records, e.g. other parameters varied, show their average and n)."""
    pts = []
    for r in _dedupe(rows):
        a, v, m = _num(r.get("alpha")), _num(r.get("top_vocab")), _num(r.get("macro_f1_mean"))
        if a is not None and v is not None and m is not None:
            pts.append({**r, "_a": round(a, 6), "_v": v, "_m": m, "_s": _num(r.get("macro_f1_std")) or 0.0})
    panels = [(k, g) for k, g in _groups(pts).items()
              if len({p["_a"] for p in g}) > 1 or len({p["_v"] for p in g}) > 1]
    if not panels:
        return None
    if len(panels) > max_panels:
        log.warning("heatmap: %d groups vary alpha/top_vocab; drawing the first %d (filter to see others)",
                    len(panels), max_panels)
        panels = panels[:max_panels]
    plt = _pyplot()
    vals = [p["_m"] for _, g in panels for p in g]
    vmin, vmax = min(vals), max(vals)
    if vmax - vmin < 0.02:  # don't let colour blow up differences of a few thousandths
        mid = (vmin + vmax) / 2
        vmin, vmax = mid - 0.01, mid + 0.01
    sizes = []
    for _, g in panels:
        na, nv = len({p["_a"] for p in g}), len({p["_v"] for p in g})
        sizes.append((max(3.2, 1.25 * nv + 1.4), max(2.6, 0.85 * na + 1.4)))
    fig, axes = plt.subplots(1, len(panels), figsize=(sum(w for w, _ in sizes) + 1.2, max(h for _, h in sizes) + 0.9),
                             squeeze=False)
    im = None
    for ax, ((ds, mode, task, model), g) in zip(axes[0], panels):
        alphas, vocabs = sorted({p["_a"] for p in g}), sorted({p["_v"] for p in g})
        if len(alphas) > MAX_HEATMAP_VALUES or len(vocabs) > MAX_HEATMAP_VALUES:
            im = _scatter_panel(ax, g, vmin, vmax)
        else:
            im = _heat_panel(ax, g, alphas, vocabs, vmin, vmax)
        ax.set_title(f"{ds} | {mode} | task={task} | {model}", fontsize=9)
    fig.colorbar(im, ax=list(axes[0]), shrink=0.9, label="overall macro-F1 (mean over folds)")
    fig.suptitle("overall macro-F1 over alpha x top_vocab (cell: mean ± std over folds; box: best)", fontsize=10)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def _heat_panel(ax, g: list[dict], alphas: list, vocabs: list, vmin: float, vmax: float):
    import numpy as np

    cells: dict[tuple, list[dict]] = defaultdict(list)
    for p in g:
        cells[(alphas.index(p["_a"]), vocabs.index(p["_v"]))].append(p)
    mean = np.full((len(alphas), len(vocabs)), np.nan)
    for (i, j), ps in cells.items():
        mean[i, j] = sum(p["_m"] for p in ps) / len(ps)
    im = ax.imshow(np.ma.masked_invalid(mean), cmap="viridis", vmin=vmin, vmax=vmax, aspect="auto", origin="lower")
    mid = (vmin + vmax) / 2
    for (i, j), ps in cells.items():
        s = sum(p["_s"] for p in ps) / len(ps)
        txt = f"{mean[i, j]:.3f}\n± {s:.3f}" + (f"\n(n={len(ps)})" if len(ps) > 1 else "")
        ax.text(j, i, txt, ha="center", va="center", fontsize=8, color="black" if mean[i, j] > mid else "white")
    bi, bj = np.unravel_index(np.nanargmax(mean), mean.shape)
    ax.add_patch(_rect((bj - 0.48, bi - 0.48), 0.96, 0.96))
    ax.set_xticks(range(len(vocabs)), [_fmt(v) for v in vocabs])
    ax.set_yticks(range(len(alphas)), [_fmt(a) for a in alphas])
    ax.set_xlabel("top_vocab")
    ax.set_ylabel("alpha")
    return im


def _rect(xy, w, h):
    from matplotlib.patches import Rectangle

    return Rectangle(xy, w, h, fill=False, edgecolor="red", linewidth=2)


def _scatter_panel(ax, g: list[dict], vmin: float, vmax: float):
    im = ax.scatter([p["_v"] for p in g], [p["_a"] for p in g], c=[p["_m"] for p in g], cmap="viridis",
                    vmin=vmin, vmax=vmax, s=90, edgecolors="k")
    best = max(g, key=lambda p: p["_m"])
    ax.annotate(f"{best['_m']:.3f} ± {best['_s']:.3f}", (best["_v"], best["_a"]), textcoords="offset points",
                xytext=(6, 6), fontsize=8, color="red")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("top_vocab")
    ax.set_ylabel("alpha")
    return im


def plot_modes(rows: list[dict], path: Path) -> Path:
    """Bar chart: per mode the best record's overall macro-F1 ± std over folds, one bar colour per
    (dataset, task); the black tick is that record's majority-class baseline."""
    import numpy as np

    plt = _pyplot()
    rows = [r for r in _dedupe(rows) if _num(r.get("macro_f1_mean")) is not None]
    modes = sorted({r.get("mode") for r in rows}, key=mode_rank)
    hues = sorted({(str(r.get("dataset_id")), str(r.get("task"))) for r in rows})
    best: dict[tuple, dict] = {}
    count: Counter = Counter()
    for r in rows:
        key = (str(r.get("dataset_id")), str(r.get("task")), r.get("mode"))
        count[key] += 1
        if key not in best or float(r["macro_f1_mean"]) > float(best[key]["macro_f1_mean"]):
            best[key] = r
    width = 0.8 / max(1, len(hues))
    fig, ax = plt.subplots(figsize=(max(4.5, 1.6 * len(modes) * max(1, len(hues)) ** 0.5 + 2), 4.2))
    for h, (ds, task) in enumerate(hues):
        xs, ys, es, bs, ns = [], [], [], [], []
        for m_i, mode in enumerate(modes):
            r = best.get((ds, task, mode))
            if r is None:
                continue
            xs.append(m_i + (h - (len(hues) - 1) / 2) * width)
            ys.append(float(r["macro_f1_mean"]))
            es.append(_num(r.get("macro_f1_std")) or 0.0)
            bs.append(_num(r.get("baseline_f1")))
            ns.append(count[(ds, task, mode)])
        ax.bar(xs, ys, width * 0.92, yerr=es, capsize=4, label=f"{ds} | task={task}")
        for x, y, e, b, n in zip(xs, ys, es, bs, ns):
            ax.text(x, y + e + 0.01, f"{y:.3f}" + (f"\n(best of {n})" if n > 1 else ""), ha="center",
                    va="bottom", fontsize=7)
            if b is not None:
                ax.hlines(b, x - width * 0.4, x + width * 0.4, colors="black", linestyles="--", linewidth=1.2)
    ax.set_xticks(np.arange(len(modes)), modes)
    ax.set_ylabel("macro-F1, overall over tasks (mean ± std over folds)")
    ax.set_ylim(0, min(1.2, max((float(r["macro_f1_mean"]) + (_num(r.get("macro_f1_std")) or 0)) for r in rows) + 0.15))
    ax.set_title("macro-F1 per mode (best record; dashed: majority baseline)", fontsize=10)
    if hues:
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=min(4, len(hues)), frameon=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path
