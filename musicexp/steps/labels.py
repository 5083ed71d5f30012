"""labels: one row per parsed piece, one column per task (sources in ``dataset.labels``)."""

from __future__ import annotations

from musicexp.core.registry import Step, register_step

VERSION = "4"  # 4: tasks that are a function of another named (derived); 3: near-duplicates grouped (2: report.problems, each unlabeled piece with its reason)


def run(inputs, params, ctx):
    import numpy as np

    from musicexp.data.duplicates import near_duplicates
    from musicexp.data.labels import collect, derived_tasks, make_table, merge_duplicate_groups

    ds, lab = ctx.dataset, ctx.dataset.cfg.labels
    pieces = [p["id"] for p in inputs["notes"]["pieces"]]
    got = collect(ds, lab, pieces, bad={e["file"] for e in inputs["notes"]["errors"]})
    table, dups = make_table(got, lab), []
    if lab.duplicates.value == "group":
        table, dups = merge_duplicate_groups(table, near_duplicates(inputs["notes"]["notes"], pieces))
    columns = got["columns"]
    derived = derived_tasks(table, columns) if len(columns) > 1 else {}
    report = {"columns": columns, "derived": derived, "unlabeled_pieces": got["unlabeled"], "labels_without_file": got["no_file"],
              "problems": got["problems"], "duplicates": dups}
    counts = {c: dict(zip(*np.unique(table[c], return_counts=True))) for c in columns}
    summary = {
        "pieces": len(got["kept"]),
        "unlabeled": len(got["unlabeled"]),
        "labels_without_file": len(got["no_file"]),
        "duplicate_sets": len(dups),
        **({"derived": ", ".join(f"{b} of {a}" for b, a in derived.items())} if derived else {}),
        "classes": {c: {str(k): int(v) for k, v in counts[c].items()} for c in columns},
    }
    return {"labels": table, "report": report}, summary


def preflight(ds, params) -> list[dict]:
    from musicexp.data.labels import discovered

    return discovered(ds)["problems"]


register_step(Step(
    name="labels", version=VERSION, run=run, deps=("notes",),
    identity=lambda ds: ds.labels_identity(),
    preflight=preflight,
    problems=lambda art: art["report"].get("problems", []),
    problem_kind="labelling problem(s), pieces left out",
))
