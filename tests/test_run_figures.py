"""The figures of one run: the modes per task with intervals, the majority baseline, the
metadata-only control and the reference mode; the confusion matrices; written into the run's
folder only when the train step ran."""

from __future__ import annotations

import pytest

from helpers import tiny_overrides
from musicexp.engine.paths import Launch
from musicexp.engine.runner import run
from musicexp.evaluation import figures as R

PNG = b"\x89PNG\r\n\x1a\n"
MODES = ["sgt_only", "stats_only", "early_fusion"]


def _records() -> list[dict]:
    """Two tasks, three modes (one the reference), made by hand."""
    recs = []
    for i, mode in enumerate(MODES):
        rec = {"mode": mode, "task": "both", "tasks": ["composer", "era"], "dataset_id": "handmade", "model": "logreg",
               "n_pieces": 40, "n_splits": 5, "repeats": 3, "grouped": True,
               "score": 0.5 + i / 10, "score_low": 0.4 + i / 10, "score_high": 0.6 + i / 10,
               "baseline_score": 0.2, "metadata_score": 0.3, "metadata_score_low": 0.25, "metadata_score_high": 0.35}
        for j, task in enumerate(("composer", "era")):
            rec.update({f"{task}_f1": 0.5 + i / 10 + j / 20, f"{task}_f1_low": 0.4 + i / 10, f"{task}_f1_high": 0.7 + i / 10,
                        f"{task}_baseline_f1": 0.15 + j / 10, f"{task}_metadata_f1": 0.33 + j / 10,
                        f"{task}_metadata_f1_low": 0.3 + j / 10, f"{task}_metadata_f1_high": 0.36 + j / 10})
        recs.append(rec)
    return recs


def _lines_at(ax, style: str) -> list[float]:
    return [line.get_xdata()[0] for line in ax.get_lines() if line.get_linestyle() == style]


def test_the_modes_figure_draws_each_mode_with_its_interval_the_baseline_and_the_control():
    from matplotlib.container import ErrorbarContainer

    recs = _records()
    fig = R.modes_figure(recs)
    axes = fig.get_axes()
    assert len(axes) == 3  # composer, era, overall
    for ax, (task, f, base, ctl) in zip(axes, R.panels(recs[0])):
        assert task in ax.get_title() and task in ax.get_xlabel()
        bars = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
        assert len(bars) == len(MODES)
        for bar, rec in zip(bars, recs[::-1]):  # the first mode on top
            (x,), _ = bar.lines[0].get_data()
            assert x == pytest.approx(rec[f])
        assert _lines_at(ax, "--") == [pytest.approx(recs[0][base])]  # the majority baseline
        assert _lines_at(ax, ":") == [pytest.approx(recs[0][ctl])]  # the metadata control
        (band,) = ax.patches  # its interval
        assert band.get_x() == pytest.approx(recs[0][f"{ctl}_low"])
    assert [a.get_title().split("\n")[0] for a in axes] == ["composer", "era", "overall"]
    labels = [t.get_text() for t in axes[0].get_yticklabels()]
    assert "stats_only (reference)" in labels and "sgt_only" in labels
    ref = [c for c in axes[0].containers if isinstance(c, ErrorbarContainer)][1]  # stats_only, the middle row
    assert ref.lines[0].get_marker() == "D"
    assert "handmade" in fig._suptitle.get_text() and "5 folds x 3 repeats" in fig._suptitle.get_text()
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_one_task_is_one_panel_and_a_run_without_the_reference_has_none():
    recs = [{"mode": m, "task": "composer", "tasks": ["composer"], "f1": 0.6, "f1_low": 0.5, "f1_high": 0.7,
             "baseline_f1": 0.2} for m in ("sgt_only", "emb_only")]
    fig = R.modes_figure(recs)
    (ax,) = fig.get_axes()
    assert _lines_at(ax, "--") == [0.2] and _lines_at(ax, ":") == []  # no control: no line
    assert not any("reference" in t.get_text() for t in ax.get_yticklabels())


def test_confusion_figure_has_a_panel_per_mode_and_counts_when_few_classes():
    cm = {"classes": ["a", "b"], "row_normalised": [[0.75, 0.25], [0.0, 1.0]], "counts": [[3, 1], [0, 4]]}
    fig = R.confusion_figure({f"{m}/era": cm for m in MODES}, "era", MODES)
    panels = [ax for ax in fig.get_axes() if ax.get_title()]
    assert [ax.get_title() for ax in panels] == ["sgt_only", "stats_only (reference)", "early_fusion"]
    assert "0.75\n(3)" in [t.get_text() for t in panels[0].texts]
    assert R.confusion_figure({}, "era", MODES) is None


def test_a_run_writes_its_figures_and_a_cached_rerun_draws_none(tiny_data, compose, tmp_path):
    args = tiny_overrides(tiny_data, tmp_path, "steps.train.modes=[sgt_only,emb_only]")
    first = run(compose(args), Launch(run_dir=tmp_path / "one"))
    names = {f.name for f in first.files}
    assert {"modes_per_task.png", "confusion_composer.png", "confusion_era.png"} <= names
    for name in ("modes_per_task.png", "confusion_composer.png", "confusion_era.png"):
        data = (tmp_path / "one" / name).read_bytes()
        assert data.startswith(PNG) and len(data) > 1000
    second = run(compose(args), Launch(run_dir=tmp_path / "two"))  # cached: no figures, the reports still
    assert second.status()["train"] == "cached"
    assert {f.name for f in second.files} == {"reports.txt", "summary.txt"}
