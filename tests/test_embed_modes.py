"""MIDI2vec steps and the four modes through the real pipeline (tiny data, logreg)."""

import numpy as np
import pytest

from helpers import tiny_overrides
from musicexp.engine.runner import MissingArtifactError, run

ALL_MODES = "steps.train.modes=[sgt_only,emb_only,early_fusion,late_fusion]"
SMALL_EMB = ("steps.embed.dim=16", "steps.embed.num_walks=10", "steps.embed.epochs=2")


def test_four_modes_one_record_each(compose, tiny_data, tmp_path):
    r = run(compose(tiny_overrides(tiny_data, tmp_path, ALL_MODES, *SMALL_EMB)))
    assert [rec["mode"] for rec in r.records] == ["sgt_only", "emb_only", "early_fusion", "late_fusion"]
    # (the fusions fuse every fused block: sgt, emb and stats)
    assert r.status() == dict(notes="ran", labels="ran", graph="ran", embed="ran", sgt="ran", stats="ran", train="ran")
    late = r.records[-1]
    assert 0 <= late["composer_w_emb_mean"] <= 1 and 0 <= late["era_w_emb_mean"] <= 1
    # the SGT-only numbers don't depend on which other modes ran beside them
    alone = run(compose(tiny_overrides(tiny_data, tmp_path / "alone")))
    assert alone.records[0]["score"] == r.records[0]["score"]
    assert set(alone.status()) == {"notes", "labels", "sgt", "train"}  # no graph/embed needed


def test_embedding_dim_reruns_only_embed_and_train(compose, tiny_data, tmp_path):
    run(compose(tiny_overrides(tiny_data, tmp_path, ALL_MODES, *SMALL_EMB)))
    r = run(compose(tiny_overrides(tiny_data, tmp_path, ALL_MODES, *SMALL_EMB, "steps.embed.dim=8")))
    assert r.status() == dict(notes="cached", labels="cached", graph="cached", embed="ran", sgt="cached",
                              stats="cached", train="ran")
    assert r.steps["embed"].artifact["embedding"].shape == (24, 8)
    # workers is not part of the hash
    r = run(compose(tiny_overrides(tiny_data, tmp_path, ALL_MODES, *SMALL_EMB, "steps.embed.dim=8",
                                   "steps.embed.workers=1")))
    assert set(r.status().values()) == {"cached"}


def test_same_seed_and_one_worker_give_identical_embeddings(compose, tiny_data, tmp_path):
    args = tiny_overrides(tiny_data, tmp_path, "steps.train.modes=[emb_only]", *SMALL_EMB, "steps.embed.workers=1")
    first = run(compose(args)).steps["embed"].artifact["embedding"].copy()
    again = run(compose(args + ["force=[embed]"])).steps["embed"].artifact["embedding"]
    np.testing.assert_array_equal(first, again)
    other = run(compose(tiny_overrides(tiny_data, tmp_path, "steps.train.modes=[emb_only]", *SMALL_EMB,
                                       "steps.embed.workers=1", "seed=1"))).steps["embed"].artifact["embedding"]
    assert not np.array_equal(first, other)


def test_skip_embed_without_cache_is_a_clear_error(compose, tiny_data, tmp_path):
    """skip=[embed] uses the cached embedding; with none, the run stops and says what to do
    (it does not quietly drop the modes that need it)."""
    args = tiny_overrides(tiny_data, tmp_path, ALL_MODES, *SMALL_EMB)
    with pytest.raises(MissingArtifactError, match=r"skip=\[embed\] but no cached embed artifact .* run once "
                                                   "without skipping embed"):
        run(compose(args + ["skip=[embed]"]))
    assert not (tmp_path / "results" / "results.jsonl").exists()
    first = run(compose(args))
    again = run(compose(args + ["skip=[embed]"]))
    assert again.status()["embed"] == "skipped" and again.score == first.score
