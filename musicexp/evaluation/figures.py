"""Figures of one run, written into its folder by the train step (its ``figures`` hook): the
modes per task with their 95% intervals, the majority baseline, the metadata-only control and
the reference mode (``stats_only``), and the row-normalised confusion matrices of the pooled
test-fold predictions (one image per task, modes side by side). matplotlib is imported only
when a figure is drawn, i.e. only when the train step ran (a cached rerun draws nothing).
``pyplot`` and ``num`` serve the sweep figures too (``tools/report/plots.py``)."""

from __future__ import annotations

import io
import math
import re
from typing import Any

MODES_PNG = "modes_per_task.png"
#: the mode drawn as the reference row, when it is among the modes (records without
#: ``reference_mode``); a run's records name their own (``steps.train.reference``)
REFERENCE = "stats_only"
#: confusion cells are annotated (share and count) up to this many classes
ANNOTATE_MAX = 10
#: confusion panels per row of the grid
GRID_COLS = 4


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def num(v: Any) -> float | None:
    """``v`` as a finite float, else None (missing, text, NaN, inf)."""
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def confusion_png(task: str) -> str:
    return f"confusion_{re.sub(r'[^A-Za-z0-9_.-]', '_', task)}.png"


def panels(rec: dict) -> list[tuple[str, str, str, str]]:
    """(title, score field, baseline field, control field) of each panel: one per task, and the
    overall score when there are several (its fields are the headline's)."""
    tasks = list(rec.get("tasks") or [rec.get("task")])
    if len(tasks) == 1:
        return [(tasks[0], "f1", "baseline_f1", "metadata_f1")]
    return [(k, f"{k}_f1", f"{k}_baseline_f1", f"{k}_metadata_f1") for k in tasks] + \
        [("overall", "score", "baseline_score", "metadata_score")]


def title(rec: dict) -> str:
    folds = f"{rec.get('n_splits', '?')} folds x {rec.get('repeats', '?')} repeat{'' if rec.get('repeats') == 1 else 's'}"
    grouped = ", grouped" if rec.get("grouped") else ""
    return f"{rec.get('dataset_id', '?')} | model {rec.get('model', '?')} | {rec.get('n_pieces', '?')} pieces | " \
           f"{folds}{grouped}"


def reference_of(records: list[dict]) -> str | None:
    """The run's reference mode: the records' ``reference_mode`` when they have one, else :data:`REFERENCE`."""
    return records[0]["reference_mode"] if records and "reference_mode" in records[0] else REFERENCE


def modes_figure(records: list[dict]):
    """The modes (rows) against pooled macro-F1, one panel per task (and overall): each mode a
    point with its 95% interval, the majority baseline a dashed line, the metadata-only control
    a dotted line with its interval as a band, the reference mode (``stats_only``) in another
    colour and marker. Returns the matplotlib Figure."""
    plt = pyplot()
    recs = records[::-1]  # the first mode of steps.train.modes on top
    reference = reference_of(records)
    ps = panels(recs[0])
    fig, axes = plt.subplots(1, len(ps), figsize=(1.6 + 3.2 * len(ps), 2.0 + 0.42 * len(recs)), sharey=True,
                             squeeze=False)
    ys = list(range(len(recs)))
    for ax, (name, f, base, ctl) in zip(axes[0], ps):
        for y, r in zip(ys, recs):
            m, lo, hi = num(r.get(f)), num(r.get(f"{f}_low")), num(r.get(f"{f}_high"))
            if m is None:
                continue
            ref = r["mode"] == reference
            err = [[m - lo], [hi - m]] if lo is not None and hi is not None else None
            ax.errorbar([m], [y], xerr=err, fmt="D" if ref else "o", color="tab:orange" if ref else "tab:blue",
                        ms=7 if ref else 6, capsize=3, zorder=3)
            ax.annotate(f"{m:.3f}", (m, y), textcoords="offset points", xytext=(0, 6), ha="center", fontsize=7)
        b = num(recs[0].get(base))
        if b is not None:
            ax.axvline(b, color="grey", ls="--", lw=1.2, label="majority baseline")
        c, clo, chi = (num(recs[0].get(k)) for k in (ctl, f"{ctl}_low", f"{ctl}_high"))
        if c is not None:
            ax.axvline(c, color="tab:green", ls=":", lw=1.6, label="metadata-only control (band: 95% interval)")
            if clo is not None and chi is not None:
                ax.axvspan(clo, chi, color="tab:green", alpha=0.12, lw=0)
        values = ([f"baseline {b:.3f}"] if b is not None else []) + ([f"control {c:.3f}"] if c is not None else [])
        ax.set_title(name + (f"\n{', '.join(values)}" if values else ""), fontsize=9)
        ax.set_xlabel(f"{name}: pooled macro-F1" if f != "score" else "overall: the tasks' mean macro-F1 (score)",
                      fontsize=8)
        ax.set_xlim(0, 1.04)
        ax.grid(axis="x", alpha=0.3)
    ax0 = axes[0][0]
    ax0.set_yticks(ys, [f"{r['mode']} (reference)" if r["mode"] == reference else r["mode"] for r in recs], fontsize=8)
    for t in ax0.get_yticklabels():
        if reference and t.get_text() == f"{reference} (reference)":
            t.set_fontweight("bold")
    ax0.set_ylim(-0.6, len(recs) - 0.4)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.suptitle(f"{title(recs[0])}\npoints: pooled macro-F1 with its 95% interval", fontsize=9)
    if handles:
        fig.legend(handles, labels, loc="lower center", ncol=len(handles), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.07 if handles else 0, 1, 1))
    return fig


def confusion_figure(confusion: dict, task: str, modes: list[str], reference: str | None = REFERENCE):
    """The row-normalised confusion matrices of ``task``, one panel per mode (rows = true class),
    each cell's share and count written when there are at most :data:`ANNOTATE_MAX` classes.
    Returns the matplotlib Figure, or None when no mode has a matrix for the task."""
    import numpy as np

    keys = [(m, f"{m}/{task}") for m in modes if f"{m}/{task}" in confusion]
    if not keys:
        return None
    plt = pyplot()
    n = len(confusion[keys[0][1]]["classes"])
    cols = min(GRID_COLS, len(keys))
    rows = math.ceil(len(keys) / cols)
    side = min(4.5, max(2.6, 0.36 * n + 1.0))  # inches a panel
    longest = min(16, max(len(str(c)) for k in keys for c in confusion[k[1]]["classes"]))
    # margins in inches: class names, colour bar, title, (rotated) class names below and the next row's title
    left, right, top, below = 0.4 + 0.07 * longest, 1.0, 0.8, 0.55 + 0.05 * longest
    width, height = left + side * cols + 0.15 * (cols - 1) + right, top + (side + below) * rows + 0.3 * (rows - 1)
    fig, axes = plt.subplots(rows, cols, figsize=(width, height), sharey=True, squeeze=False)
    fig.subplots_adjust(left=left / width, right=1 - right / width, top=1 - top / height, bottom=below / height,
                        wspace=0.15 / side, hspace=(below + 0.3) / side)  # (fixed: a layout engine doubles the drawing time)
    im = None
    for ax, (mode, key) in zip(axes.flat, keys):
        cm = confusion[key]
        classes = [str(c) for c in cm["classes"]]
        share = np.asarray(cm["row_normalised"], dtype=float)
        counts = np.asarray(cm.get("counts", share), dtype=float)
        im = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
        if len(classes) <= ANNOTATE_MAX:
            for i in range(len(classes)):
                for j in range(len(classes)):
                    ax.text(j, i, f"{share[i, j]:.2f}\n({int(counts[i, j])})", ha="center", va="center", fontsize=7,
                            color="white" if share[i, j] > 0.6 else "black")
        labels = [c if len(c) <= 16 else c[:15] + "…" for c in classes]
        ax.set_xticks(range(len(classes)), labels, rotation=45, ha="right", fontsize=7)
        ax.set_xlabel("predicted", fontsize=8)
        if ax in axes[:, 0]:
            ax.set_yticks(range(len(classes)), labels, fontsize=7)
            ax.set_ylabel("true", fontsize=8)
        ax.set_title(f"{mode} (reference)" if mode == reference else mode, fontsize=9,
                     fontweight="bold" if mode == reference else "normal")
    for ax in list(axes.flat)[len(keys):]:
        ax.axis("off")
    cax = fig.add_axes((1 - 0.75 * right / width, below / height, 0.15 / width, 1 - (top + below) / height))
    fig.colorbar(im, cax=cax, label="share of the true class")
    cell = "; cell: share (count)" if n <= ANNOTATE_MAX else ""
    fig.suptitle(f"{task}: confusion of the pooled test-fold predictions (rows: true class, row-normalised{cell})",
                 fontsize=10)
    return fig


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    pyplot().close(fig)
    return buf.getvalue()


def run_figures(artifact, records: list[dict]) -> dict[str, bytes]:
    """The run's figures as PNG bytes by file name: :data:`MODES_PNG` and one
    ``confusion_<task>.png`` per task."""
    if not records:
        return {}
    out = {MODES_PNG: _png(modes_figure(records))}
    modes = [r["mode"] for r in records]
    confusion = artifact["confusion"]
    for task in records[0].get("tasks") or [records[0].get("task")]:
        fig = confusion_figure(confusion, task, modes, reference_of(records))
        if fig is not None:
            out[confusion_png(task)] = _png(fig)
    return out
