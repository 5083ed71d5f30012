"""A notes-only reference for a finished run (not a test; docs/embedded-dataset.md, `essen`).

    .venv/bin/python tests/essen_notes_reference.py artifacts/essen results/results.jsonl

58 plain statistics of each piece's notes (pitch range and spread, pitch-class shares,
interval sizes and directions, note values and inter-onset intervals in beats, shares of
onsets on multiples of 1, 1.5, 2, 3 and 4 beats from the first note), a standardised logistic
regression (C = 1) per task, fitted and scored on the run's own outer folds (rebuilt with the
run's seed and checked against the record's ``folds_id``). It reads the run's `notes` and
`labels` artifacts (the newest of each under the dataset's artifact folder) and the last
sgt_only record of the results file. Printed per task: the mean over repeats of the pooled
macro-F1 (as the records' estimates) and the best mode's score on the same folds.

It measures what the issue that motivated `essen` measured (plain note statistics against the
modes); it chooses nothing, and is meant to be run once per edition, like the collection.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

_DUR_BINS = [0, .3, .4, .6, .8, 1.1, 1.6, 2.1, 3.1, 4.1, 1e9]


def statistics(pitch: np.ndarray, onset: np.ndarray, duration: np.ndarray) -> list[float]:
    """The 58 statistics of one piece (onsets and durations in beats)."""
    o = np.lexsort((pitch, onset))
    p, on, d = pitch[o].astype(float), onset[o], duration[o]
    iv = np.diff(p)
    ioi = np.diff(on)
    ioi = ioi[ioi > 0] if np.any(ioi > 0) else np.ones(1)
    length = (on[-1] + d[-1] - on[0]) or 1.0
    f = [len(p), length, len(p) / length, p.mean(), p.std(), p.min(), p.max(), p.max() - p.min(), np.median(p)]
    f += list(np.bincount(p.astype(int) % 12, minlength=12) / len(p))
    a = np.abs(iv) if len(iv) else np.zeros(1)
    f += [a.mean(), a.std(), (a == 0).mean(), ((a > 0) & (a <= 2)).mean(), ((a >= 3) & (a <= 4)).mean(),
          (a >= 5).mean(), (a >= 8).mean(), (iv > 0).mean() if len(iv) else 0.0,
          (iv < 0).mean() if len(iv) else 0.0, a.max()]
    f += [d.mean(), d.std(), d.min(), d.max(), len(np.unique(np.round(d, 3))), d[-1]]
    f += list(np.histogram(d, _DUR_BINS)[0] / len(d))
    f += [ioi.mean(), ioi.std(), len(np.unique(np.round(ioi, 3))),
          (np.abs(ioi[1:] / ioi[:-1] - 1) < 1e-6).mean() if len(ioi) > 1 else 1.0]
    rel = on - on[0]
    f += [np.mean(np.isclose(np.mod(rel, m), 0, atol=1e-6)) for m in (1, 1.5, 2, 3, 4)]
    whole = np.isclose(np.mod(d, 1), 0, atol=1e-6)
    f += [np.mean(np.isclose(np.mod(d, 1), 0.5, atol=1e-6)),
          np.mean(np.isclose(np.mod(d * 2 / 3, 1), 0, atol=1e-6) & ~whole)]
    return [float(x) for x in f]


def _newest(folder: Path, name: str) -> Path:
    found = sorted(folder.glob(f"*/{name}"), key=lambda p: p.stat().st_mtime)
    if not found:
        raise SystemExit(f"no {name} under {folder}: run musicexp on the dataset first")
    return found[-1]


def main(argv: list[str] | None = None) -> int:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from musicexp.evaluation.folds import outer_folds, pick_stratum, strata_for
    from musicexp.evaluation.records import folds_id

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("artifacts", type=Path, help="the dataset's artifact folder, e.g. artifacts/essen")
    ap.add_argument("results", type=Path, help="the run's results.jsonl")
    args = ap.parse_args(argv)
    z = np.load(_newest(args.artifacts / "notes", "notes.npz"))
    pieces = [p["id"] for p in json.loads(_newest(args.artifacts / "notes", "pieces.json").read_text())]
    lab = np.load(_newest(args.artifacts / "labels", "labels.npz"), allow_pickle=True)
    records = [json.loads(line) for line in args.results.read_text().splitlines() if line.strip()]
    rec = [r for r in records if r["mode"] == "sgt_only"][-1]
    tasks = rec["tasks"]
    off = z["offsets"]
    X = np.array([statistics(z["pitch"][a:b], z["onset"][a:b], z["duration"][a:b]) for a, b in zip(off[:-1], off[1:])])
    ids = [str(p) for p in lab["piece"]]
    X = X[[pieces.index(p) for p in ids]]
    y = {k: np.asarray(lab[k]).astype(str) for k in tasks}
    _, strat = pick_stratum(strata_for(y, tasks), rec["n_splits"])
    folds = outer_folds(strat, lab["group"], rec["n_splits"], rec["steps.train.seed"], rec["repeats"])
    if folds_id(folds, ids) != rec["folds_id"]:
        raise SystemExit("the rebuilt folds are not the run's (folds_id differs): was the run grouped, with all pieces?")
    print(f"{X.shape[1]} statistics, {len(ids)} pieces, the run's folds ({rec['folds_id']})")
    for k in tasks:
        pred = np.empty((rec["repeats"], len(ids)), dtype=object)
        for r, tr, te in folds:
            model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=5000)).fit(X[tr], y[k][tr])
            pred[r, te] = model.predict(X[te])
        f1 = [f1_score(y[k], pred[r].astype(str), average="macro") for r in range(rec["repeats"])]
        same = [r for r in records if r["folds_id"] == rec["folds_id"]]
        best = max(same, key=lambda r: r[f"{k}_f1"])
        print(f"{k}: notes-only reference {np.mean(f1):.3f} (repeats {', '.join(f'{v:.3f}' for v in f1)}); "
              f"best mode {best[f'{k}_f1']:.3f} [{best[f'{k}_f1_low']:.3f}, {best[f'{k}_f1_high']:.3f}] "
              f"({best['model']} {best['mode']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
