"""The run's headline table on the console (plain Python: a cached run prints it without numpy)."""

from __future__ import annotations

from musicexp.evaluation.protocol import ALPHA

#: per metadata family (musicexp.features.metadata.FAMILIES): how it is named, what takes it out
REMEDY = {
    "tempo": ("the tempo map alone gives", "dataset.neutralize=[tempo] removes it"),
    "velocity": ("velocities alone give", "dataset.neutralize=[velocity] removes them"),
    "tracks": ("the number of tracks alone gives", "no setting removes it: merge the tracks of the files"),
    "time_signatures": ("time signatures alone give", "dataset.neutralize=[time_signature] removes them"),
    "key_signatures": ("key signatures alone give", "dataset.neutralize=[key_signature] removes them"),
    "programs": ("programs alone give", "steps.sgt.token_mode=pitch_class and steps.graph.omit=[program] keep "
                                        "them out of the features"),
}


def fmt_ci(rec: dict, key: str = "score") -> str:
    """``rec[key]`` with its interval ``[<key>_low, <key>_high]`` when the record has one."""
    lo, hi = rec.get(f"{key}_low"), rec.get(f"{key}_high")
    return f"{rec[key]:.3f}" + (f" [{lo:.3f}, {hi:.3f}]" if lo is not None and hi is not None else "")


def fmt_p(p) -> str:
    return "-" if p is None else ("<0.001" if p < 0.001 else f"{p:.3f}")


def fmt_diff(rec: dict) -> str:
    """The difference to the best mode with its paired bootstrap interval, when the record has it."""
    lo, hi = rec.get("diff_to_best_low"), rec.get("diff_to_best_high")
    return f"{rec['diff_to_best']:+.3f}" + (f" [{lo:+.3f}, {hi:+.3f}]" if lo is not None and hi is not None else "")


def fmt_mdd(mdd) -> str:
    return "-" if mdd is None else f"{mdd:.3f}"


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
    lines.append(head + "  vs best: diff [95% paired CI], p corrected t (Holm), MDD, p McNemar")
    for rec in recs:
        row = f"  {rec['mode']:<16} {fmt_ci(rec, 'score'):<24}"
        if multi:
            row += "".join(f" {fmt_ci(rec, pre(k) + 'f1'):<24}" for k in tasks)
        if rec["mode"] == rec["best_mode"]:
            row += "  best"
        else:
            mc = ", ".join(fmt_p(rec.get(f"{pre(k)}p_mcnemar_vs_best")) for k in tasks)
            row += (f"  {fmt_diff(rec)}, p {fmt_p(rec['p_t_vs_best'])} ({fmt_p(rec.get('p_t_vs_best_holm'))}), "
                    f"MDD {fmt_mdd(rec.get('mdd_vs_best'))}, {mc}")
        lines.append(row)
    base = f"  majority baseline: {r0['baseline_score']:.3f}"
    if multi:
        base += " (" + ", ".join(f"{k} {r0[pre(k) + 'baseline_f1']:.3f}" for k in tasks) + ")"
    lines.append(base)
    if "metadata_score" in r0:
        per_task = ", ".join(f"{k} {fmt_ci(r0, pre(k) + 'metadata_f1')}" for k in tasks) if multi else ""
        lines.append(f"  metadata-only control (tempo, velocity, tracks, time and key signatures, programs; logistic "
                     f"regression, same folds): {fmt_ci(r0, 'metadata_score')}" + (f" ({per_task})" if per_task else ""))
        if "p_t_vs_control" in r0:
            above = [r["mode"] for r in recs if r["diff_to_control"] > 0 and r["p_t_vs_control_holm"] < ALPHA]
            lines.append(f"  modes above the control (corrected t, Holm-adjusted p < {ALPHA}): {', '.join(above) or 'none'}"
                         + "".join(f"; {r['mode']} {r['diff_to_control']:+.3f}, p {fmt_p(r['p_t_vs_control_holm'])}"
                                   for r in recs if r["mode"] not in above))
        lines.extend(_metadata_notes(recs, tasks, pre))
    lines.extend(reference_lines(recs, tasks, pre))
    for b, a in (r0.get("derived_tasks") or {}).items():
        lines.append(f"  NOTE: {b} is a function of {a} on these pieces (each {a} class has one {b}): the score, their "
                     f"average, counts {a}'s distinctions twice; read the tasks' own columns, or steps.train.task={a}")
    if "chance_p" in r0:
        lines.append("  chance control (labels shuffled among groups, same folds): " + ", ".join(
            f"{r['mode']} mean {r['chance_mean']:.3f}, p {fmt_p(r['chance_p'])} (n={r['chance_n']})" for r in recs))
    if "holdout_score" in r0:
        works = "; ".join(f"{k}: " + ", ".join(f"{c} {n}" for c, n in r0["holdout_works"][k].items())
                          for k in tasks) if "holdout_works" in r0 else ""
        absent = [f"{c} ({k})" for k in tasks for c in r0.get("holdout_absent", {}).get(k, [])]
        lines.append(f"  held-out part ({r0['n_holdout']} pieces, no CV saw them"
                     + (f"; works per class: {works}" if works else "") + "): " + ", ".join(
                         f"{r['mode']} {fmt_ci(r, 'holdout_score')}" for r in recs)
                     + (f"; macro-F1 over the classes it holds: it lacks {', '.join(absent)}" if absent else ""))
    goal = next((r for r in recs if r.get("is_objective")), r0)
    lines.append(f"  objective (the run's score, returned to a sweeper): {goal['mode']} {goal['score']:.3f} "
                 + ("(steps.train.objective)" if goal.get("steps.train.objective") else
                    "(the first of steps.train.modes; steps.train.objective names another)"))
    others = [r for r in recs if r["mode"] != r["best_mode"]]
    sig = [r["mode"] for r in others if r.get("significant_vs_best")]
    same = [r["mode"] for r in others if not r.get("significant_vs_best")]
    if others:
        lines.append(f"  best: {r0['best_mode']}; " + (f"significantly below it (corrected t, Holm-adjusted p < {ALPHA}): "
                                                        f"{', '.join(sig)}" if sig else "no mode is significantly below it")
                     + (f"; not distinguishable from it: {', '.join(same)}" if same else ""))
        mdds = sorted(r["mdd_vs_best"] for r in others if r.get("mdd_vs_best") is not None)
        if mdds:
            span = f"{mdds[0]:.3f}" + (f" to {mdds[-1]:.3f}" if mdds[-1] > mdds[0] else "")
            lines.append(f"  power: with these folds the corrected t-test detects a difference to the best mode of "
                         f"{span} (MDD: minimum detectable difference, 80% power, alpha {ALPHA}); smaller ones go unseen")
    return lines


def fmt_ref(rec: dict, pre: str = "") -> str:
    """The difference to the reference mode with its paired interval and p (Holm), when the record has it."""
    d = rec.get(f"{pre}diff_to_reference")
    if d is None:
        return "-"
    lo, hi = rec.get(f"{pre}diff_to_reference_low"), rec.get(f"{pre}diff_to_reference_high")
    return (f"{d:+.3f}" + (f" [{lo:+.3f}, {hi:+.3f}]" if lo is not None and hi is not None else "")
            + f", p {fmt_p(rec.get(f'{pre}p_t_vs_reference'))} ({fmt_p(rec.get(f'{pre}p_t_vs_reference_holm'))})")


def reference_lines(recs: list[dict], tasks: list[str], pre) -> list[str]:
    """Each mode against the reference row (``stats_only`` by default: global note statistics),
    overall and, with several tasks, per task; then the modes significantly above it."""
    ref = recs[0].get("reference_mode")
    others = [r for r in recs if r["mode"] != ref]
    if not ref or not others or "diff_to_reference" not in others[0]:
        return []
    multi = len(tasks) > 1
    lines = [f"  reference: {ref} (steps.train.reference), each mode against it on the same folds: diff [95% paired CI], "
             "p corrected t (Holm)" + (f"; per task: {', '.join(tasks)}" if multi else "")]
    for r in others:
        lines.append(f"    {r['mode']:<16} {fmt_ref(r)}" + ("".join(f"; {k} {fmt_ref(r, pre(k))}" for k in tasks)
                                                              if multi else ""))
    above = [r["mode"] for r in others if r["diff_to_reference"] > 0 and r.get("significant_vs_reference")]
    below = [r["mode"] for r in others if r["diff_to_reference"] < 0 and r.get("significant_vs_reference")]
    lines.append(f"  modes above the reference {ref} (corrected t, Holm-adjusted p < {ALPHA}): {', '.join(above) or 'none'}"
                 + (f"; below it: {', '.join(below)}" if below else ""))
    return lines


def _metadata_notes(recs: list[dict], tasks: list[str], pre) -> list[str]:
    """A NOTE per task whose labels the metadata-only control predicts as well as a mode: the
    task, the control's score, the modes it reaches, and the family that carries it with the
    setting that takes that family out."""
    r0, out = recs[0], []
    for k in tasks:
        close = [r["mode"] for r in recs if r.get(f"{pre(k)}metadata_close")]
        if not close:
            continue
        note = (f"  NOTE: {k}: the metadata-only control reaches {r0[pre(k) + 'metadata_f1']:.3f}, within the interval "
                f"of {', '.join(close)}: {k} can be predicted from edition metadata, so those scores need not come "
                "from the music")
        fam = r0.get(f"{pre(k)}metadata_family")
        if fam:
            said, remedy = REMEDY.get(fam, (f"{fam} alone give", "see docs/evaluation.md"))
            note += f"; {said} {r0[f'{pre(k)}metadata_f1_{fam}']:.3f}; {remedy}"
        out.append(note)
    return out
