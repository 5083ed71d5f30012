"""``musicexp-report --table``: the README's results tables, one per dataset, in the order named."""

import re

from helpers import tiny_overrides
from musicexp.engine.results import read_jsonl
from musicexp.evaluation.headline import fmt_p
from musicexp.engine.runner import run
from musicexp.tools.report.cli import main as report_main

MODES = ("steps.train.modes=[sgt_only,emb_only]", "steps.embed.dim=8", "steps.embed.num_walks=4",
         "steps.embed.epochs=1")


def test_one_command_prints_every_dataset_table_with_power_and_reference_rows(compose, tiny_data, tmp_path, capsys):
    for ds in ("tiny_a", "tiny_b"):
        run(compose(tiny_overrides(tiny_data, tmp_path, f"dataset.id={ds}", *MODES)))
    results = tmp_path / "results" / "results.jsonl"
    recs = {(r["dataset_id"], r["mode"]): r for r in read_jsonl(results)}
    assert report_main(["--results", str(results), "--table", "--dataset", "tiny_b,tiny_a"]) == 0
    out = capsys.readouterr().out
    titles = re.findall(r"^(tiny_\w), task=both, logreg: 24 pieces, 3 folds x 1 repeat\(s\)", out, re.M)
    assert titles == ["tiny_b", "tiny_a"]  # the order named on the command line
    header = [line for line in out.splitlines() if line.startswith("| mode |")]
    assert len(header) == 2 and "| p (Holm) | MDD |" in header[0] and "vs control, p (Holm)" in header[0]
    blocks = dict(zip(titles, re.split(r"^tiny_\w, task=both.*$", out, flags=re.M)[1:]))
    for ds in ("tiny_a", "tiny_b"):
        best = recs[(ds, "sgt_only")]["best_mode"]
        other = recs[(ds, "emb_only" if best == "sgt_only" else "sgt_only")]
        row = next(line for line in blocks[ds].splitlines() if line.startswith(f"| {other['mode']} |"))
        assert row.startswith(f"| {other['mode']} | {other['score']:.3f} [")
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[4] == (f"{other['diff_to_best']:+.3f} [{other['diff_to_best_low']:+.3f}, "
                            f"{other['diff_to_best_high']:+.3f}]")
        assert cells[7] == f"{other['mdd_vs_best']:.3f}"
        assert cells[-1] == f"{other['diff_to_control']:+.3f}, {fmt_p(other['p_t_vs_control_holm'])}"
    assert out.count("| metadata-only control |") == 2 and out.count("| majority baseline |") == 2
    assert out.count("era is a function of composer on these pieces") == 2
    assert report_main(["--results", str(results), "--table", "--dataset", "tiny_b"]) == 0
    assert "tiny_a" not in capsys.readouterr().out


def test_runs_that_differ_only_in_a_dataset_setting_get_a_table_each(compose, tiny_data, tmp_path, capsys):
    for neutral in ("[]", "[velocity]"):
        run(compose(tiny_overrides(tiny_data, tmp_path, f"dataset.neutralize={neutral}")))
    results = tmp_path / "results" / "results.jsonl"
    assert report_main(["--results", str(results), "--table"]) == 0
    titles = [line for line in capsys.readouterr().out.splitlines() if line.startswith("tiny, task=both")]
    assert len(titles) == 2
    assert "(dataset.neutralize=[])" in titles[0] and '(dataset.neutralize=["velocity"])' in titles[1]
