"""The evaluation protocol: folds (class support in groups, inner split, held-out part, repeats),
the headline convention, intervals, the paired comparison of modes, the chance control,
class weighting, and comparing two runs in musicexp-report."""

from __future__ import annotations

import csv
import logging
from types import SimpleNamespace

import numpy as np
import pytest

from helpers import STYLES, make_dataset, style_notes, tiny_overrides, write_midi
from musicexp.engine.runner import run
from musicexp.evaluation import folds as F
from musicexp.evaluation import statistics as st

LOGREG = ("steps.train.n_splits=3",)


def train_params(**kw):
    base = dict(task="both", n_splits=5, min_class_count=None, grouped=True, holdout=0.0, holdout_seed=0)
    return SimpleNamespace(**{**base, **kw})


def table(rng, spec: dict[str, list[int]], era: dict[str, str]) -> dict:
    """A label table: per composer the sizes of its groups (works)."""
    comp, grp = [], []
    for c, sizes in spec.items():
        for g, n in enumerate(sizes):
            comp += [c] * n
            grp += [f"{c}-{g}"] * n
    comp, grp = np.array(comp), np.array(grp)
    return {"piece": np.array([f"p{i}" for i in range(len(comp))]), "composer": comp,
            "era": np.array([era[c] for c in comp]), "group": grp}


# --------------------------------------------------------------------------- folds


def test_class_support_is_counted_in_groups_and_named(caplog):
    rng = np.random.default_rng(0)
    lab = table(rng, {"bach": [2] * 8, "haydn": [5, 4], "mozart": [1] * 6, "trecento": [3] * 6},
                {"bach": "baroque", "haydn": "classical", "mozart": "classical", "trecento": "medieval"})
    pl = F.plan(lab, ["composer", "era"], train_params())
    # haydn: 9 pieces but 2 works -> dropped; mozart: 6 pieces in 6 works -> kept
    assert pl["dropped"]["composer"] == {"haydn": {"groups": 2, "pieces": 9}}
    assert set(lab["composer"][pl["cv"]]) == {"bach", "mozart", "trecento"}
    assert pl["unit"] == "groups" and pl["min_count"] == 5
    ungrouped = F.plan(lab, ["composer", "era"], train_params(grouped=False))
    assert ungrouped["dropped"]["composer"] == {} and ungrouped["unit"] == "pieces"  # 9 pieces >= 5


def test_a_class_too_small_everywhere_is_a_clear_error():
    lab = table(None, {"a": [3, 3], "b": [2, 2, 2]}, {"a": "x", "b": "y"})
    with pytest.raises(F.TrainError, match=r"steps.train.n_splits=5: classes with fewer groups are dropped.*"
                                           r"b: 3 groups, a: 2 groups.*allowed: at most 2"):
        F.plan(lab, ["composer"], train_params(task="composer"))


@pytest.mark.parametrize("seed", range(12))
def test_inner_split_puts_every_class_with_two_groups_on_both_sides(seed):
    rng = np.random.default_rng(seed)
    n_groups = int(rng.integers(8, 40))
    g_class = rng.integers(0, int(rng.integers(2, 7)), n_groups)  # a class per group (a work)
    g_era = g_class % 2
    sizes = rng.integers(1, 12, n_groups)
    groups = np.repeat(np.arange(n_groups), sizes).astype(str)
    y1, y2 = np.repeat(g_class, sizes), np.repeat(g_era, sizes)
    idx = np.sort(rng.choice(len(groups), size=int(len(groups) * 0.8), replace=False))
    tr, va = F.inner_split(idx, [y1, y2], groups, 0.1, seed)
    assert sorted(np.concatenate([tr, va])) == sorted(idx)
    assert not set(groups[tr]) & set(groups[va])  # no work on both sides
    for y in (y1, y2):
        for c in np.unique(y[idx]):
            n = len(np.unique(groups[idx][y[idx] == c]))
            assert (c in y[tr]) and ((c in y[va]) == (n >= 2)), (c, n)  # one work: inner training only


def test_inner_split_without_groups_stratifies_pieces():
    y = np.array([0] * 30 + [1] * 6 + [2] * 2)
    tr, va = F.inner_split(np.arange(len(y)), [y], None, 0.1, 3)
    assert set(y[va]) == {0, 1, 2} and set(y[tr]) == {0, 1, 2}
    assert 3 <= len(va) <= 8


def test_holdout_is_stratified_by_groups_and_leaves_each_class_its_folds():
    rng = np.random.default_rng(1)
    lab = table(rng, {"a": [3] * 12, "b": [2] * 7, "c": [4] * 5}, {"a": "x", "b": "y", "c": "y"})
    pl = F.plan(lab, ["composer", "era"], train_params(holdout=0.25))
    held, cv = pl["holdout"], pl["cv"]
    assert not (held & cv).any() and not set(lab["group"][held]) & set(lab["group"][cv])
    for c, n_groups in (("a", 12), ("b", 7), ("c", 5)):
        in_cv = len(set(lab["group"][cv & (lab["composer"] == c)]))
        in_held = len(set(lab["group"][held & (lab["composer"] == c)]))
        # a and b keep n_splits works for their folds; c (exactly 5 works) gives one all the same
        assert in_held >= 1 and in_cv == (4 if c == "c" else n_groups - in_held) and (in_cv >= 5 or c == "c"), c
    again = F.plan(lab, ["composer", "era"], train_params(holdout=0.25, n_splits=5))
    assert (again["holdout"] == held).all()  # a function of the labels and holdout_seed only


def test_repeats_derive_their_fold_seeds_from_seed():
    y = np.repeat(np.arange(3), 10)
    one = F.outer_folds(y, None, 5, 42, 1)
    three = F.outer_folds(y, None, 5, 42, 3)
    assert [r for r, _, _ in three] == [0] * 5 + [1] * 5 + [2] * 5
    assert all((a[2] == b[2]).all() for a, b in zip(one, three[:5]))  # repeat 0 = the folds of `seed`
    tests = [tuple(sorted(te)) for _, _, te in three]
    assert len(set(tests[:5]) & set(tests[5:10])) < 5  # another shuffle


# --------------------------------------------------------------------------- records


def test_headline_pools_predictions_over_the_full_class_set_and_folds_use_present_classes():
    """Two test folds, class 2 only in the first: the pooled macro-F1 over all three classes is
    not the mean of the per-fold scores (each over the classes present in its fold)."""
    from musicexp.evaluation.cv import Study
    from musicexp.evaluation.modes import Mode
    from musicexp.evaluation.records import build

    y = np.array([0, 0, 1, 2, 0, 1, 1, 1])
    pred = np.array([0, 1, 1, 2, 0, 1, 0, 1])
    folds = [(0, np.arange(4, 8), np.arange(0, 4)), (0, np.arange(0, 4), np.arange(4, 8))]
    proba = np.eye(3)[pred]
    fold_scores = [{"acc": float(np.mean(y[te] == pred[te])), "f1": st.macro_f1_present(y[te], pred[te])}
                   for _, _, te in folds]
    study = Study(modes=[Mode("x_only", "single", ("x",))], tasks=["t"], classes={"t": np.array(["a", "b", "c"])},
                  y={"t": y}, groups=None, pieces=[f"p{i}" for i in range(8)], folds=folds,
                  proba=[{"x_only": {"t": proba}}], fold_scores={"x_only": {"t": fold_scores}},
                  baseline=[{"t": np.array([1, 1, 1, 1, 0, 0, 0, 0])}],
                  fold_info={"x_only": [{}, {}]}, plan={"strat_name": "t", "n_labelled": 8, "min_count": 2,
                                                        "unit": "pieces", "dropped": {"t": {}}})
    params = SimpleNamespace(task="t", model="logreg", objective=None, n_splits=2, repeats=1, class_weight="none", seed=0,
                             n_boot=200)
    (rec,) = build(study, params)
    from sklearn.metrics import f1_score

    # by hand: class 0: P=2/3 R=2/3 F=2/3; class 1: P=3/4 R=3/4 F=3/4; class 2: F=1 -> mean 29/36
    assert rec["f1"] == pytest.approx(29 / 36, abs=1e-12)
    assert rec["f1"] == pytest.approx(f1_score(y, pred, labels=[0, 1, 2], average="macro"), abs=1e-12)
    # fold 1 (classes 0, 1, 2 present): 0: F=2/3, 1: F=2/3, 2: F=1 -> 7/9; fold 2 (0, 1): 0: 2/3, 1: 0.8 -> 11/15
    assert rec["f1_mean"] == pytest.approx((7 / 9 + 11 / 15) / 2, abs=1e-12)
    assert rec["f1_std"] == pytest.approx(np.std([7 / 9, 11 / 15], ddof=1), abs=1e-12)
    assert rec["score"] == rec["f1"] and rec["score_low"] <= rec["score"] <= rec["score_high"]
    assert rec["acc"] == 6 / 8 and rec["n_classes"] == 3
    # majority baseline, pooled: predicts 1 (fold 1), 0 (fold 2): acc 2/8
    assert rec["baseline_acc"] == pytest.approx(2 / 8)
    assert rec["best_mode"] == "x_only" and rec["p_t_vs_best"] is None


# --------------------------------------------------------------------------- whole runs


def _shuffled(root, seed: int):
    """The tiny dataset (10 pieces a composer, in pairs of works) with its labels shuffled among works."""
    make_dataset(root, per_class=10, groups=True)
    rows = list(csv.DictReader(open(root / "labels.csv")))
    works = sorted({r["group"] for r in rows})
    label = dict(zip(works, np.random.default_rng(seed).permutation([
        next((r["composer"], r["era"]) for r in rows if r["group"] == w) for w in works]).tolist()))
    with open(root / "labels.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        for r in rows:
            r["composer"], r["era"] = label[r["group"]]
            w.writerow(r)
    return root


def test_labels_unrelated_to_the_music_score_at_chance(compose, tmp_path):
    data = _shuffled(tmp_path / "midi", seed=3)
    r = run(compose(tiny_overrides(data, tmp_path, "dataset.labels.group_column=group", *LOGREG,
                                   "steps.train.permutations=19")))
    (rec,) = r.records
    assert rec["overall_acc_low"] <= rec["overall_baseline_acc"] <= rec["overall_acc_high"]
    assert rec["chance_n"] == 19 and rec["chance_p"] > 0.05


def test_real_labels_beat_the_chance_control(compose, tmp_path):
    data = make_dataset(tmp_path / "midi", per_class=20, groups=True)
    r = run(compose(tiny_overrides(data, tmp_path, "dataset.labels.group_column=group", *LOGREG,
                                   "steps.train.permutations=19")))
    (rec,) = r.records
    assert rec["chance_p"] == pytest.approx(1 / 20)  # better than every shuffle
    assert rec["score_low"] > rec["chance_mean"] and rec["score_low"] > rec["baseline_score"]


def test_modes_are_compared_with_the_best_one(compose, tiny_data, tmp_path, caplog):
    args = tiny_overrides(tiny_data, tmp_path, "steps.train.modes=[sgt_only,emb_only]", "steps.embed.dim=8",
                          "steps.embed.num_walks=4", "steps.embed.epochs=1", "steps.train.repeats=2")
    with caplog.at_level(logging.INFO, logger="musicexp"):
        r = run(compose(args))
    best, other = sorted(r.records, key=lambda x: -x["score"])
    assert best["best_mode"] == other["best_mode"] == best["mode"] and best["p_t_vs_best"] is None
    assert other["diff_to_best"] == pytest.approx(other["score"] - best["score"])
    n_tr, n_te = other["fold_train_mean"], other["fold_test_mean"]
    diffs = np.array(other["fold_f1"]) - np.array(best["fold_f1"])
    assert len(diffs) == 2 * 3 and other["p_t_vs_best"] == st.corrected_resampled_ttest(diffs, n_tr, n_te).p
    assert 0 <= other["composer_p_mcnemar_vs_best"] <= 1 and "era_p_mcnemar_vs_best" in other
    assert other["p_t_vs_best_holm"] == other["p_t_vs_best"]  # one comparison: Holm changes nothing
    assert other["significant_vs_best"] == (other["p_t_vs_best_holm"] < 0.05)
    # the comparison's power: the minimum detectable difference of that very t-test
    t = st.corrected_resampled_ttest(diffs, n_tr, n_te)
    assert best["mdd_vs_best"] is None and other["mdd_vs_best"] == st.min_detectable_difference(t.se, t.df, 0.05)
    assert other["mdd_vs_best"] > 0
    assert other["diff_to_best_low"] <= other["diff_to_best"] <= other["diff_to_best_high"]
    assert best["diff_to_best_low"] is None
    # each mode against the metadata-only control on the same folds
    for rec in r.records:
        ctrl = st.corrected_resampled_ttest(np.array(rec["fold_f1"]) - np.array(rec["metadata_fold_f1"]), n_tr, n_te)
        assert rec["p_t_vs_control"] == ctrl.p and rec["mdd_vs_control"] == st.min_detectable_difference(ctrl.se, ctrl.df)
        assert rec["diff_to_control"] == pytest.approx(rec["score"] - rec["metadata_score"])
        assert len(rec["metadata_fold_f1"]) == len(rec["fold_f1"])
    # in the tiny set era is a function of composer (alpha, beta: old; gamma: new)
    assert best["derived_tasks"] == {"era": "composer"}
    text = "\n".join(caplog.messages)
    assert f"{other['mdd_vs_best']:.3f}" in text and "power: with these folds" in text
    assert "NOTE: era is a function of composer" in text and "modes above the control" in text
    assert f"  {best['mode']:<16} {best['score']:.3f} [{best['score_low']:.3f}, {best['score_high']:.3f}]" in text
    assert "majority baseline:" in text and f"best: {best['mode']}" in text


def test_repeat_zero_is_the_run_without_repeats(compose, tiny_data, tmp_path):
    one = run(compose(tiny_overrides(tiny_data, tmp_path / "a")))
    two = run(compose(tiny_overrides(tiny_data, tmp_path / "b", "steps.train.repeats=2")))
    p1 = one.steps["train"].artifact["predictions"]["sgt_only__composer__proba"]
    p2 = two.steps["train"].artifact["predictions"]["sgt_only__composer__proba"]
    assert p2.shape[0] == 2 and np.array_equal(p1[0], p2[0]) and not np.array_equal(p2[0], p2[1])
    assert two.records[0]["n_folds"] == 6 and len(two.records[0]["fold_f1"]) == 6


def test_the_held_out_part_is_never_in_a_cv_and_is_scored(compose, tmp_path):
    data = make_dataset(tmp_path / "midi", per_class=12, groups=True)
    over = ("dataset.labels.group_column=group", *LOGREG, "steps.train.holdout=0.34")
    runs = [run(compose(tiny_overrides(data, tmp_path, *over, f"seed={s}"))) for s in (1, 2)]
    held = []
    for r in runs:
        preds = r.steps["train"].artifact["predictions"]
        assert not set(preds["holdout_piece"]) & set(preds["piece"])
        held.append(sorted(preds["holdout_piece"]))
        (rec,) = r.records
        assert rec["n_holdout"] == len(preds["holdout_piece"]) > 0
        assert rec["holdout_score_low"] <= rec["holdout_score"] <= rec["holdout_score_high"]
    assert held[0] == held[1]  # the seed moves the folds, not the held-out part


def test_the_held_out_part_represents_a_class_of_exactly_n_splits_works(compose, tmp_path, caplog):
    """gamma keeps exactly n_splits = 3 works: it still gives one to the held-out part (the CV keeps
    2), so that part is scored over every class, on the CV score's scale."""
    data = make_dataset(tmp_path / "midi", per_class=12, groups=True)
    rows = list(csv.DictReader(open(data / "labels.csv")))
    keep = [r for r in rows if not (r["composer"] == "gamma" and r["group"] >= "gamma-3")]
    for r in rows:
        if r not in keep:
            (data / r["file"]).unlink()
    with open(data / "labels.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(keep)
    with caplog.at_level(logging.INFO, logger="musicexp"):
        r = run(compose(tiny_overrides(data, tmp_path, "dataset.labels.group_column=group", *LOGREG,
                                       "steps.train.holdout=0.2", "dataset.labels.duplicates=off")))
    (rec,) = r.records
    preds = r.steps["train"].artifact["predictions"]
    held = set(preds["holdout_piece"])
    by_piece = {x["file"]: x for x in keep}
    assert {by_piece[p]["composer"] for p in held} == {"alpha", "beta", "gamma"}
    assert rec["holdout_absent"] == {"composer": [], "era": []}
    assert rec["holdout_works"]["composer"] == {"alpha": 1, "beta": 1, "gamma": 1}
    assert len({by_piece[p]["group"] for p in preds["piece"] if by_piece[p]["composer"] == "gamma"}) == 2
    # the held-out macro-F1 over all three classes, recomputed from the stored probabilities
    classes = np.array(sorted({x["composer"] for x in keep}))
    y = np.searchsorted(classes, [by_piece[p]["composer"] for p in preds["holdout_piece"]])
    pred = preds["holdout__sgt_only__composer__proba"].argmax(1)
    assert rec["composer_holdout_f1"] == st.macro_f1(y, pred, 3)
    assert "works per class: composer: alpha 1, beta 1, gamma 1" in "\n".join(caplog.messages)


def test_holdout_mask_represents_every_class_it_can_and_the_rest_is_named():
    from musicexp.evaluation.folds import holdout_mask

    # a: 10 works, b: exactly n_splits = 5 works, c: 2 works (too few to give one and keep 2)
    y = np.array(["a"] * 10 + ["b"] * 5 + ["c"] * 2)
    groups = np.array([f"w{i}" for i in range(len(y))])
    for seed in range(5):
        held = holdout_mask({"k": y}, ["k"], groups, 0.2, seed, 5)
        assert sorted(np.unique(y[held])) == ["a", "b"]
        assert (y[held] == "a").sum() == 2 and (y[held] == "b").sum() == 1 and (y[~held] == "c").sum() == 2


def test_balanced_class_weights_for_both_models():
    from musicexp.evaluation.mlp import balanced_weights

    assert balanced_weights(np.array([0, 0, 0, 1]), 2) == pytest.approx([2 / 3, 2 / 3, 2 / 3, 2])
    assert balanced_weights(np.array([0, 2, 2, 2]), 3) == pytest.approx([2, 2 / 3, 2 / 3, 2 / 3])


def test_class_weight_reaches_the_models(compose, tmp_path):
    data = make_dataset(tmp_path / "midi", per_class=6)
    rng = np.random.default_rng(4)
    with open(data / "labels.csv", "a") as fh:  # a large class makes the weighting matter
        for i in range(30):
            write_midi(data / f"extra_{i}.mid", style_notes("alpha", rng))
            fh.write(f"extra_{i}.mid,alpha,{STYLES['alpha']['era']}\n")
    # (prog_pitch: features that do not separate these styles perfectly, so the weighting shows)
    recs = {cw: run(compose(tiny_overrides(data, tmp_path / cw, *LOGREG, f"steps.train.class_weight={cw}",
                                           "steps.sgt.token_mode=prog_pitch"))).records[0]
            for cw in ("none", "balanced")}
    assert recs["none"]["class_weight"] == "none" and recs["balanced"]["class_weight"] == "balanced"
    assert recs["none"]["score"] != recs["balanced"]["score"]


def test_report_compares_two_runs_on_the_same_folds(compose, tiny_data, tmp_path, capsys):
    from musicexp.tools.report import cli

    a = run(compose(tiny_overrides(tiny_data, tmp_path)))
    b = run(compose(tiny_overrides(tiny_data, tmp_path, "steps.sgt.alpha=1.5")))
    c = run(compose(tiny_overrides(tiny_data, tmp_path, "seed=9")))
    results = str(tmp_path / "results" / "results.jsonl")
    assert cli.main(["--results", results, "--compare", a.records[0]["run_id"], b.records[0]["run_id"]]) == 0
    out = capsys.readouterr().out
    diffs = np.array(b.records[0]["fold_f1"]) - np.array(a.records[0]["fold_f1"])
    p = st.corrected_resampled_ttest(diffs, a.records[0]["fold_train_mean"], a.records[0]["fold_test_mean"]).p
    assert f"{b.records[0]['score'] - a.records[0]['score']:+7.3f} {p:16.3f}" in out
    assert cli.main(["--results", results, "--compare", a.records[0]["run_id"], c.records[0]["run_id"]]) == 0
    assert "different folds" in capsys.readouterr().out


def test_old_records_still_load_in_the_report(tmp_path, capsys):
    """A record written before intervals and settings columns existed (fields as they were)."""
    import json

    from musicexp.tools.report import cli

    old = {"run_id": "20261127-101010-abcdef", "dataset_id": "data_100", "experiment": "default",
           "mode": "sgt_only", "task": "both", "seed": 42, "score": 0.49, "tasks": ["composer", "era"],
           "composer_f1_mean": 0.4, "composer_f1_std": 0.1, "era_f1_mean": 0.58, "era_f1_std": 0.1,
           "overall_f1_mean": 0.49, "overall_f1_std": 0.12, "overall_baseline_f1": 0.096, "model": "mlp",
           "overrides": ["steps.sgt.alpha=0.5"], "step_hashes": {"sgt": "ab" * 32}, "record_id": "x:sgt_only:both"}
    results = tmp_path / "results.jsonl"
    results.write_text(json.dumps(old) + "\n")
    assert cli.main(["--results", str(results), "--out", str(tmp_path / "rep")]) == 0
    out = capsys.readouterr().out
    assert "chosen by the CV score (data_100, task=both)" in out and "0.490" in out
    rows = list(csv.DictReader(open(tmp_path / "rep" / "summary.csv")))
    assert rows[0]["steps.sgt.alpha"] == "0.5" and rows[0]["score"] == "0.49" and rows[0]["score_low"] == ""


def test_paired_bootstrap_of_a_difference_equals_the_replicate_by_replicate_computation():
    """records.replicates (all replicates at once, weighted sums) against each replicate drawn as
    pieces and scored with the plain macro-F1: the paired difference of two modes per replicate."""
    from musicexp.evaluation import records

    rng = np.random.default_rng(5)
    n, classes = 60, 3
    y = {"a": rng.integers(0, classes, n), "b": rng.integers(0, 2, n)}
    groups = np.repeat(np.arange(20), 3)
    noisy = lambda t, p: np.where(rng.random(n) < p, rng.integers(0, int(t.max()) + 1, n), t)  # noqa: E731
    mode1 = [{k: noisy(v, 0.3) for k, v in y.items()}]
    mode2 = [{k: noisy(v, 0.6) for k, v in y.items()}]
    nc = {"a": classes, "b": 2}
    est1, reps1 = records.replicates(y, mode1, nc, ["a", "b"], groups, "f1", 11, 200)
    est2, reps2 = records.replicates(y, mode2, nc, ["a", "b"], groups, "f1", 11, 200)
    counts = st.bootstrap_counts(n, groups, 200, 11)
    for r in (0, 17, 199):
        idx = np.repeat(np.arange(n), counts[r].astype(int))
        by_hand = [np.mean([st.macro_f1(y[k][idx], m[0][k][idx], nc[k]) for k in ("a", "b")]) for m in (mode1, mode2)]
        assert reps1[r] - reps2[r] == pytest.approx(by_hand[0] - by_hand[1], abs=1e-12)
    assert est1 == pytest.approx(np.mean([st.macro_f1(y[k], mode1[0][k], nc[k]) for k in "ab"]), abs=1e-12)
    lo, hi = np.quantile(reps1 - reps2, [0.025, 0.975])
    assert lo <= est1 - est2 <= hi


def test_the_objective_is_a_named_mode_and_the_runs_score(compose, tiny_data, tmp_path, caplog):
    args = tiny_overrides(tiny_data, tmp_path, "steps.train.modes=[sgt_only,meta_only]")
    with caplog.at_level(logging.INFO, logger="musicexp"):
        first = run(compose(args))
        named = run(compose(args + ["steps.train.objective=meta_only"]))
    # by default the first mode; named, that mode: the score a sweeper gets and the step table's
    assert [r["is_objective"] for r in first.records] == [True, False] and first.score == first.records[0]["score"]
    meta = next(r for r in named.records if r["mode"] == "meta_only")
    assert meta["is_objective"] and meta["objective"] == "meta_only" and named.score == meta["score"]
    assert named.steps["train"].artifact.meta["summary"]["objective"] == "meta_only"
    text = "\n".join(caplog.messages)
    assert f"objective (the run's score, returned to a sweeper): meta_only {meta['score']:.3f} " \
           "(steps.train.objective)" in text
    assert "(the first of steps.train.modes; steps.train.objective names another)" in text


def test_an_objective_that_is_not_a_mode_is_a_config_error(compose, tiny_data, tmp_path):
    from musicexp.engine.validate import ConfigError

    with pytest.raises(ConfigError, match=r"objective='late_fusion' is not allowed: it must be one of modes"):
        run(compose(tiny_overrides(tiny_data, tmp_path, "steps.train.objective=late_fusion")))


def test_compare_calls_no_embedding_difference_within_its_run_to_run_noise():
    from musicexp.tools.report.summary import EMBED_NOISE, compare

    def rec(run, mode, score, folds):
        return {"run_id": run, "dataset_id": "d", "mode": mode, "task": "both", "score": score, "fold_f1": folds,
                "folds_id": "f", "fold_train_mean": 80.0, "fold_test_mean": 20.0}

    folds = [0.7, 0.72, 0.69, 0.71, 0.73]
    recs = [rec("A", "emb_only", 0.71, folds), rec("A", "sgt_only", 0.70, folds),
            rec("B", "emb_only", 0.71 + EMBED_NOISE / 2, [f + 0.01 for f in folds]),
            rec("B", "sgt_only", 0.71, [f + 0.01 for f in folds])]
    rows = {r["mode"]: r for r in compare(recs, "A", "B")}
    assert rows["emb_only"]["note"].startswith("within the run-to-run noise of the 2-thread embedding")
    assert rows["sgt_only"]["note"] == ""  # bit-reproducible: every difference counts
    recs[2]["score"] = 0.71 + 2 * EMBED_NOISE
    assert compare(recs, "A", "B")[0]["note"] == ""
