"""Figures of a sweep or a results file: the headline over the keys the runs varied (a heatmap
over two, a line chart over one), and a bar chart of the modes. matplotlib is imported only
when a figure is drawn."""

from __future__ import annotations

import logging
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterable

from musicexp.evaluation.figures import num as _num
from musicexp.evaluation.figures import pyplot as _pyplot

log = logging.getLogger("musicexp")

MODES_PNG = "modes_f1.png"
#: above this many distinct values on an axis the heatmap becomes a scatter plot (Optuna)
MAX_HEATMAP_VALUES = 12


def sweep_png(axes: list[str]) -> str:
    """The figure's file name, after the keys on its axes (the first two)."""
    return f"heatmap_f1_{axes[0]}_x_{axes[1]}.png" if len(axes) > 1 else f"line_f1_{axes[0]}.png"


def mode_rank(mode: Any) -> tuple:
    """Modes in registration order of their blocks, fusions after, unknown ones by name."""
    from musicexp.evaluation.modes import default_modes

    order = default_modes()
    return (order.index(mode), "") if mode in order else (len(order), str(mode))


def _fmt(v: float) -> str:
    return f"{v:g}" if abs(v - round(v)) > 1e-9 else str(int(round(v)))


def _dedupe(rows: Iterable[dict]) -> list[dict]:
    """One row per record (the last one) for figures; rows without a record_id stay."""
    seen: dict[Any, dict] = {}
    for i, r in enumerate(rows):
        seen[r.get("record_id") or ("row", i)] = r
    return list(seen.values())


#: the prefixes of a record's settings columns (every hashed option of a run)
SETTINGS = ("steps.", "dataset.")


def config_key(r: dict, besides: Iterable[str] = ()) -> tuple:
    """The settings of a row other than ``besides`` (rows of one key may share a panel or bar)."""
    skip = set(besides)
    return tuple(sorted((k, str(v)) for k, v in r.items() if k.startswith(SETTINGS) and k not in skip))


def _groups(rows: list[dict], axes: list[str]) -> dict[tuple, list[dict]]:
    """Rows by (dataset, mode, task, model, every other setting): no panel mixes configurations."""
    g: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        g[(r.get("dataset_id"), r.get("mode"), r.get("task"), r.get("model"), config_key(r, axes))].append(r)
    return dict(sorted(g.items(), key=lambda kv: (str(kv[0][0]), mode_rank(kv[0][1]), str(kv[0][2:]))))


def _value(v: Any) -> Any:
    """An axis value: a number when it is one, else its text (a config group's option, a list)."""
    f = _num(v)
    return round(f, 6) if f is not None else str(v)


def _ticks(values: Iterable) -> list:
    vs = set(values)
    return sorted(vs) if all(isinstance(v, float) for v in vs) else sorted(vs, key=str)


def _label(v: Any) -> str:
    return _fmt(v) if isinstance(v, float) else str(v)


def plot_sweep(rows: list[dict], out_dir: Path, axes: list[str], max_panels: int = 6) -> Path | None:
    """The CV score (pooled macro-F1, the one that chooses) over the swept keys ``axes``: over two
    a heatmap (the first key's values as rows, the second's as columns), over one a line chart;
    with more than two the first two are drawn and each combination of the others is a panel
    of its own (a warning says so). One panel per configuration whose swept values vary; the
    95% intervals shown; the best cell boxed, cells not significantly below the chosen record
    (``below_chosen`` False: corrected t on the same folds, Holm) marked "≈" (the sweep does not
    separate them). Cells holding several records (repeated runs) show their average."""
    if not axes:
        return None
    if len(axes) > 2:
        log.warning("report: %d keys were swept (%s); the figure is over the first two, one panel per value "
                    "of the others", len(axes), ", ".join(axes))
    xs = axes[:2]
    pts = []
    for r in _dedupe(rows):
        m = _num(r.get("score"))
        vals = [r.get(k) for k in xs]
        if m is not None and all(v is not None for v in vals):
            pts.append({**r, "_a": _value(vals[0]), "_v": _value(vals[-1]), "_m": m, "_lo": _num(r.get("score_low")),
                        "_hi": _num(r.get("score_high"))})
    panels = [(k, g) for k, g in _groups(pts, xs).items()
              if len({p["_a"] for p in g}) > 1 or len({p["_v"] for p in g}) > 1]
    if not panels:
        return None
    if len(panels) > max_panels:
        log.warning("report: %d groups vary %s; drawing the first %d (filter to see others)",
                    len(panels), " x ".join(xs), max_panels)
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
        sizes.append((max(3.2, 1.25 * nv + 1.4), max(2.6, 0.85 * na + 1.4)) if len(xs) > 1 else (max(3.6, nv + 2), 3.2))
    fig, panes = plt.subplots(1, len(panels), figsize=(sum(w for w, _ in sizes) + 1.2, max(h for _, h in sizes) + 0.9),
                              squeeze=False)
    im = None
    differing = _differing([k[4] for k, _ in panels])
    for ax, ((ds, mode, task, model, cfg), g) in zip(panes[0], panels):
        rows_, cols = _ticks(p["_a"] for p in g), _ticks(p["_v"] for p in g)
        if len(xs) == 1:
            _line_panel(ax, g, cols, xs[0])
        elif (len(rows_) > MAX_HEATMAP_VALUES or len(cols) > MAX_HEATMAP_VALUES) and all(
                isinstance(v, float) for v in rows_ + cols):
            im = _scatter_panel(ax, g, vmin, vmax, xs)
        else:
            im = _heat_panel(ax, g, rows_, cols, vmin, vmax, xs)
        extra = " ".join(f"{k.rsplit('.', 1)[-1]}={v}" for k, v in cfg if k in differing)
        ax.set_title(f"{ds} | {mode} | task={task} | {model}" + (f"\n{extra}" if extra else ""), fontsize=9)
    if im is not None:
        fig.colorbar(im, ax=list(panes[0]), shrink=0.9, label="CV score: pooled macro-F1")
        fig.suptitle(f"CV score over {xs[0]} x {xs[1]} (cell: score [95% CI]; box: chosen; "
                     "≈: not significantly below it, paired corrected t, Holm)", fontsize=10)
    else:
        fig.suptitle(f"CV score over {xs[0]} (bars: 95% CI; red: chosen)", fontsize=10)
    path = out_dir / sweep_png(xs)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def _line_panel(ax, g: list[dict], values: list, key: str) -> None:
    """The score (mean of a value's records) with its interval, at each value of one swept key."""
    at = {v: [p for p in g if p["_v"] == v] for v in values}
    pos = values if all(isinstance(v, float) for v in values) else list(range(len(values)))
    ys = [sum(p["_m"] for p in ps) / len(ps) for ps in at.values()]
    lo = [y - (_mean_of([p["_lo"] for p in ps]) if _mean_of([p["_lo"] for p in ps]) is not None else y)
          for y, ps in zip(ys, at.values())]
    hi = [(_mean_of([p["_hi"] for p in ps]) if _mean_of([p["_hi"] for p in ps]) is not None else y) - y
          for y, ps in zip(ys, at.values())]
    ax.errorbar(pos, ys, yerr=[lo, hi], marker="o", capsize=4)
    best = max(range(len(ys)), key=ys.__getitem__)
    ax.plot([pos[best]], [ys[best]], "o", color="red", zorder=5)
    for x, y in zip(pos, ys):
        ax.annotate(f"{y:.3f}", (x, y), textcoords="offset points", xytext=(4, 6), fontsize=8)
    ax.set_xticks(pos, [_label(v) for v in values])
    ax.set_xlabel(key)
    ax.set_ylabel("CV score: pooled macro-F1")


def _heat_panel(ax, g: list[dict], ys: list, xs: list, vmin: float, vmax: float, axes: list[str]):
    import numpy as np

    cells: dict[tuple, list[dict]] = defaultdict(list)
    for p in g:
        cells[(ys.index(p["_a"]), xs.index(p["_v"]))].append(p)
    mean = np.full((len(ys), len(xs)), np.nan)
    for (i, j), ps in cells.items():
        mean[i, j] = sum(p["_m"] for p in ps) / len(ps)
    im = ax.imshow(np.ma.masked_invalid(mean), cmap="viridis", vmin=vmin, vmax=vmax, aspect="auto", origin="lower")
    mid = (vmin + vmax) / 2
    bi, bj = np.unravel_index(np.nanargmax(mean), mean.shape)
    for (i, j), ps in cells.items():
        lo, hi = _mean_of([p["_lo"] for p in ps]), _mean_of([p["_hi"] for p in ps])
        near = "≈ " if (i, j) != (bi, bj) and all(p.get("below_chosen") is False for p in ps) else ""
        txt = f"{near}{mean[i, j]:.3f}" + (f"\n[{lo:.2f}, {hi:.2f}]" if lo is not None else "") \
            + (f"\n(n={len(ps)})" if len(ps) > 1 else "")
        ax.text(j, i, txt, ha="center", va="center", fontsize=8, color="black" if mean[i, j] > mid else "white")
    ax.add_patch(_rect((bj - 0.48, bi - 0.48), 0.96, 0.96))
    ax.set_xticks(range(len(xs)), [_label(v) for v in xs])
    ax.set_yticks(range(len(ys)), [_label(a) for a in ys])
    ax.set_xlabel(axes[1])
    ax.set_ylabel(axes[0])
    return im


def _differing(configs: list[tuple]) -> set[str]:
    """Setting names whose values differ between the given configurations."""
    values: dict[str, set] = defaultdict(set)
    for cfg in configs:
        for k, v in cfg:
            values[k].add(v)
    return {k for k, vs in values.items() if len(vs) > 1 or any(k not in dict(c) for c in configs)}


def _mean_of(xs: list) -> float | None:
    xs = [x for x in xs if x is not None]
    return sum(xs) / len(xs) if xs else None


def _rect(xy, w, h):
    from matplotlib.patches import Rectangle

    return Rectangle(xy, w, h, fill=False, edgecolor="red", linewidth=2)


def _scatter_panel(ax, g: list[dict], vmin: float, vmax: float, axes: list[str]):
    im = ax.scatter([p["_v"] for p in g], [p["_a"] for p in g], c=[p["_m"] for p in g], cmap="viridis",
                    vmin=vmin, vmax=vmax, s=90, edgecolors="k")
    best = max(g, key=lambda p: p["_m"])
    ci = f" [{best['_lo']:.2f}, {best['_hi']:.2f}]" if best["_lo"] is not None else ""
    ax.annotate(f"{best['_m']:.3f}{ci}", (best["_v"], best["_a"]), textcoords="offset points",
                xytext=(6, 6), fontsize=8, color="red")
    if min(p["_v"] for p in g) > 0 and max(p["_v"] for p in g) >= 16 * min(p["_v"] for p in g):
        ax.set_xscale("log", base=2)  # (a vocabulary size from 8 to 512)
    ax.set_xlabel(axes[1])
    ax.set_ylabel(axes[0])
    return im


def plot_modes(rows: list[dict], path: Path) -> Path:
    """Bar chart of the modes of the latest run of each (dataset, task, model): its CV score per
    mode with the 95% interval (one run: one configuration per bar); dashed: majority baseline."""
    import numpy as np

    plt = _pyplot()
    rows = [r for r in _dedupe(rows) if _num(r.get("score")) is not None]
    latest: dict[tuple, str] = {}
    for r in rows:  # rows come in results order: the last run id of each group wins
        latest[(str(r.get("dataset_id")), str(r.get("task")), str(r.get("model")))] = r.get("run_id")
    rows = [r for r in rows if latest[(str(r.get("dataset_id")), str(r.get("task")), str(r.get("model")))]
            == r.get("run_id")]
    modes = sorted({r.get("mode") for r in rows}, key=mode_rank)
    hues = sorted(latest)
    width = 0.8 / max(1, len(hues))
    fig, ax = plt.subplots(figsize=(max(4.5, 1.6 * len(modes) * max(1, len(hues)) ** 0.5 + 2), 4.2))
    top = 0.0
    for h, hue in enumerate(hues):
        got = {r.get("mode"): r for r in rows if (str(r.get("dataset_id")), str(r.get("task")), str(r.get("model")))
               == hue}
        xs, ys, lo, hi, bs = [], [], [], [], []
        for m_i, mode in enumerate(modes):
            r = got.get(mode)
            if r is None:
                continue
            y = float(r["score"])
            xs.append(m_i + (h - (len(hues) - 1) / 2) * width)
            ys.append(y)
            lo.append(y - (_num(r.get("score_low")) if r.get("score_low") is not None else y))
            hi.append((_num(r.get("score_high")) if r.get("score_high") is not None else y) - y)
            bs.append(_num(r.get("baseline_f1")))
        ax.bar(xs, ys, width * 0.92, yerr=[lo, hi], capsize=4, label=f"{hue[0]} | task={hue[1]} | {hue[2]}")
        for x, y, e, b in zip(xs, ys, hi, bs):
            ax.text(x, y + e + 0.01, f"{y:.3f}", ha="center", va="bottom", fontsize=7)
            top = max(top, y + e)
            if b is not None:
                ax.hlines(b, x - width * 0.4, x + width * 0.4, colors="black", linestyles="--", linewidth=1.2)
    ax.set_xticks(np.arange(len(modes)), modes)
    ax.set_ylabel("CV score: pooled macro-F1 [95% CI]")
    ax.set_ylim(0, min(1.2, top + 0.15))
    ax.set_title("modes of the latest run (dashed: majority baseline)", fontsize=10)
    if hues:
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=min(3, len(hues)), frameon=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path
