"""labels: one row per parsed piece, one column per task (sources in ``dataset.labels``)."""

from __future__ import annotations

from musicexp.engine.registry import Step, register_step

VERSION = "2"  # 2: report.problems (each unlabeled piece / file-less row with its reason)


def run(inputs, params, ctx):
    import numpy as np

    from musicexp.data.labels import collect, make_table

    ds, lab = ctx.dataset, ctx.dataset.cfg.labels
    pieces = [p["id"] for p in inputs["notes"]["pieces"]]
    got = collect(ds, lab, pieces, bad={e["file"] for e in inputs["notes"]["errors"]})
    table = make_table(got, lab)
    columns = got["columns"]
    report = {"columns": columns, "unlabeled_pieces": got["unlabeled"], "labels_without_file": got["no_file"],
              "problems": got["problems"]}
    counts = {c: dict(zip(*np.unique(table[c], return_counts=True))) for c in columns}
    summary = {
        "pieces": len(got["kept"]),
        "unlabeled": len(got["unlabeled"]),
        "labels_without_file": len(got["no_file"]),
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
