"""The run's headline table on the console (plain Python: a cached run prints it without numpy)."""

from __future__ import annotations

from musicexp.evaluation.protocol import ALPHA


def fmt_ci(rec: dict, key: str = "score") -> str:
    """``rec[key]`` with its interval ``[<key>_low, <key>_high]`` when the record has one."""
    lo, hi = rec.get(f"{key}_low"), rec.get(f"{key}_high")
    return f"{rec[key]:.3f}" + (f" [{lo:.3f}, {hi:.3f}]" if lo is not None and hi is not None else "")


def fmt_p(p) -> str:
    return "-" if p is None else ("<0.001" if p < 0.001 else f"{p:.3f}")


def summary_lines(recs: list[dict]) -> list[str]:
    """The run's headline table: per mode its score with interval, per task, the comparison with
    the best mode, then the baselines and which differences are significant."""
    r0 = recs[0]
    tasks = r0["tasks"]
    multi = len(tasks) > 1
    pre = (lambda k: f"{k}_") if multi else (lambda k: "")
    lines = [f"{r0['dataset_id']} | {r0['experiment']} | {r0['model']} | task={r0['task']} | "
             f"{r0['n_pieces']} pieces, {r0['n_splits']} folds x {r0['repeats']} repeat(s)"
             f"{', grouped' if r0['grouped'] else ''} | intervals: {r0['interval']}"]
    head = f"  {'mode':<16} {'score (macro-F1)':<24}" + "".join(f" {k[:22]:<24}" for k in (tasks if multi else []))
    lines.append(head + "  vs best: diff, p (corrected t), p (McNemar)")
    for rec in recs:
        row = f"  {rec['mode']:<16} {fmt_ci(rec, 'score'):<24}"
        if multi:
            row += "".join(f" {fmt_ci(rec, pre(k) + 'f1'):<24}" for k in tasks)
        if rec["mode"] == rec["best_mode"]:
            row += "  best"
        else:
            mc = ", ".join(fmt_p(rec.get(f"{pre(k)}p_mcnemar_vs_best")) for k in tasks)
            row += f"  {rec['diff_to_best']:+.3f}, {fmt_p(rec['p_t_vs_best'])}, {mc}"
        lines.append(row)
    base = f"  majority baseline: {r0['baseline_score']:.3f}"
    if multi:
        base += " (" + ", ".join(f"{k} {r0[pre(k) + 'baseline_f1']:.3f}" for k in tasks) + ")"
    lines.append(base)
    if "metadata_score" in r0:
        lines.append(f"  metadata-only control (tempo, velocity, time and key signatures, programs; logistic regression, "
                     f"same folds): {fmt_ci(r0, 'metadata_score')}")
        close = [r["mode"] for r in recs if r.get("metadata_close")]
        if close:
            lines.append(f"  NOTE: the metadata-only control reaches the interval of {', '.join(close)}: these labels can be "
                         "predicted from edition metadata alone, so those scores need not come from the music "
                         "(dataset.neutralize, steps.graph.omit leave it out; docs/evaluation.md)")
    if "chance_p" in r0:
        lines.append("  chance control (labels shuffled among groups, same folds): " + ", ".join(
            f"{r['mode']} mean {r['chance_mean']:.3f}, p {fmt_p(r['chance_p'])} (n={r['chance_n']})" for r in recs))
    if "holdout_score" in r0:
        lines.append(f"  held-out part ({r0['n_holdout']} pieces, no CV saw them): " + ", ".join(
            f"{r['mode']} {fmt_ci(r, 'holdout_score')}" for r in recs))
    lines.append(f"  score (returned to a sweeper): {r0['mode']} {r0['score']:.3f}, the first mode of steps.train.modes")
    others = [r for r in recs if r["mode"] != r["best_mode"]]
    sig = [r["mode"] for r in others if r.get("significant_vs_best")]
    same = [r["mode"] for r in others if not r.get("significant_vs_best")]
    if others:
        lines.append(f"  best: {r0['best_mode']}; " + (f"significantly below it (corrected t, p < {ALPHA}): "
                                                        f"{', '.join(sig)}" if sig else "no mode is significantly below it")
                     + (f"; not distinguishable from it: {', '.join(same)}" if same else ""))
    return lines
