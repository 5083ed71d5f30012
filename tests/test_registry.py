"""A feature step and its block, registered from here (no package file edited), run end to end
as their own mode and in early and late fusion; the engine, the schema, the hashes and the
modes all pick them up from the registries."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

import numpy as np
import pytest

from helpers import run_cli, tiny_overrides
from musicexp.core import registry
from musicexp.core.registry import DOWNSTREAM, Step, ge, param
from musicexp.engine.runner import run
from musicexp.features import blocks

# A toy feature: per piece, the share of each pitch class (an "interval-free pianoroll"),
# optionally with onsets weighted; its block scales the histogram by a train-time power.


@dataclass
class ToyConf:
    weighted: bool = param(False, doc="weight each note by its duration")
    power: float = param(1.0, check=ge(0), hash=DOWNSTREAM, doc="histogram ** power, at train time")


def toy_run(inputs, params, ctx):
    notes, pieces = inputs["notes"]["notes"], inputs["notes"]["pieces"]
    piece = np.repeat(np.arange(len(pieces)), np.diff(notes["offsets"]))
    w = notes["duration"] if params.weighted else np.ones(len(piece))
    hist = np.zeros((len(pieces), 12))
    np.add.at(hist, (piece, notes["pitch"] % 12), w)
    hist /= np.maximum(hist.sum(1, keepdims=True), 1e-12)
    return {"hist": hist, "info": {"pieces": [p["id"] for p in pieces]}}, {"pieces": len(pieces)}


class ToyBlock:
    def __init__(self, outputs, pieces, params):
        rows = blocks.piece_rows(outputs["info"]["pieces"], pieces, "toy features")
        self.X = outputs["hist"][rows] ** params["power"]

    def matrix(self, train):
        return self.X


@pytest.fixture
def toy():
    registry.register_step(Step(name="toy", version="1", run=toy_run, schema=ToyConf, deps=("notes",)))
    blocks.register_block(blocks.Block(name="toy", step="toy", load=ToyBlock, order=30, fuse=False))
    yield
    registry.unregister_step("toy")
    blocks.unregister_block("toy")


MODES = "steps.train.modes=[toy_only,sgt_only,early:sgt+toy,late:toy+sgt]"


def test_a_registered_step_and_block_run_as_their_own_mode_and_fused(toy, compose, tiny_data, tmp_path):
    cfg = compose(tiny_overrides(tiny_data, tmp_path, MODES))
    assert cfg.steps.toy.weighted is False and cfg.steps.toy.power == 1.0  # its schema is in the config
    r = run(cfg)
    assert [rec["mode"] for rec in r.records] == ["toy_only", "sgt_only", "early:sgt+toy", "late:toy+sgt"]
    assert r.status() == dict(notes="ran", labels="ran", sgt="ran", toy="ran", train="ran")
    assert r.steps["train"].artifact.meta["upstream"] == {
        "labels": r.steps["labels"].hash, "sgt": r.steps["sgt"].hash, "toy": r.steps["toy"].hash,
        "notes": r.steps["notes"].hash}  # (notes: the metadata-only control's block)
    assert r.steps["train"].artifact.meta["params"]["toy"] == {"power": 1}  # its train-time option
    toy_only, sgt_only, early, late = r.records
    # a real model on the toy features (transposed scales: above the majority class, not perfect)
    assert toy_only["composer_baseline_f1"] < toy_only["composer_f1"] < 1
    folds = r.steps["train"].artifact["metrics"]["modes"]["early:sgt+toy"]["folds"]
    assert all(f["early:sgt+toy_inputs"] == f["sgt_inputs"] + 12 for f in folds)  # both blocks, side by side
    # (means over folds of complementary weights: they add up to 1 up to rounding)
    assert all(0 <= late[f"{k}_w_toy_mean"] <= 1 and abs(late[f"{k}_w_toy_mean"] + late[f"{k}_w_sgt_mean"] - 1) < 1e-12
               for k in ("composer", "era")), {k: v for k, v in late.items() if "_w_" in k}
    assert toy_only["steps.toy.weighted"] is False and toy_only["steps.toy.power"] == 1.0  # settings columns

    # its hashed option re-runs it and train; its train-time option re-runs train only
    r2 = run(compose(tiny_overrides(tiny_data, tmp_path, MODES, "steps.toy.weighted=true")))
    assert r2.status() == dict(notes="cached", labels="cached", sgt="cached", toy="ran", train="ran")
    r3 = run(compose(tiny_overrides(tiny_data, tmp_path, MODES, "steps.toy.power=0.5")))
    assert r3.status() == dict(notes="cached", labels="cached", sgt="cached", toy="cached", train="ran")
    assert r3.records[0]["score"] != toy_only["score"]
    # modes that do not read it leave it out of the graph
    r4 = run(compose(tiny_overrides(tiny_data, tmp_path)))
    assert "toy" not in r4.status() and r4.records[0]["score"] == sgt_only["score"]


def test_a_registered_block_is_checked_like_the_built_in_ones(toy, compose, tiny_data, tmp_path):
    from musicexp.engine.validate import ConfigError

    with pytest.raises(ConfigError) as err:
        run(compose(tiny_overrides(tiny_data, tmp_path, "steps.train.modes=[toy_onyl]", "steps.toy.power=-1")))
    msg = str(err.value)
    assert "2 config problem(s)" in msg and "did you mean 'toy_only'" in msg
    assert "steps.toy.power=-1.0 is not allowed: must be >= 0" in msg
    assert not (tmp_path / "artifacts").exists()


def test_a_plugin_module_adds_a_step_to_the_console_command(tiny_data, tmp_path):
    """MUSICEXP_PLUGINS names modules imported before the config is composed: a step of your own
    runs from the command line without touching the package."""
    plugin = tmp_path / "plugins" / "pcs_plugin.py"
    plugin.parent.mkdir()
    plugin.write_text(textwrap.dedent('''
        from musicexp.core.registry import Step, register_step
        from musicexp.features.blocks import Block, register_block


        def run(inputs, params, ctx):
            import numpy as np

            notes, pieces = inputs["notes"]["notes"], inputs["notes"]["pieces"]
            piece = np.repeat(np.arange(len(pieces)), np.diff(notes["offsets"]))
            hist = np.zeros((len(pieces), 12))
            np.add.at(hist, (piece, notes["pitch"] % 12), 1.0)
            return {"hist": hist / hist.sum(1, keepdims=True), "ids": [p["id"] for p in pieces]}, {}


        class PcsBlock:
            def __init__(self, outputs, pieces, params):
                pos = {p: i for i, p in enumerate(outputs["ids"])}
                self.X = outputs["hist"][[pos[p] for p in pieces]]

            def matrix(self, train):
                return self.X


        register_step(Step(name="pcs", version="1", run=run, deps=("notes",)))
        register_block(Block(name="pcs", step="pcs", load=PcsBlock, fuse=False))
    '''))
    env = {"MUSICEXP_PLUGINS": "pcs_plugin", "PYTHONPATH": str(plugin.parent)}
    proc = run_cli(tiny_overrides(tiny_data, tmp_path, "steps.train.modes=[pcs_only]"), tmp_path, env=env)
    assert "pcs      ran" in proc.stdout and "  pcs_only  " in proc.stdout


@dataclass
class ToyConfLater(ToyConf):
    """ToyConf after two options were added: at their ``legacy`` values they compute what the
    step computed before, so the hashes of the earlier settings must not move."""

    scale: float = param(1.0, check=ge(0), legacy=1.0, doc="multiply the histogram (1 = as before)")
    offset: float = param(0.0, hash=DOWNSTREAM, legacy=0.0, doc="add to the histogram at train time")


def test_an_option_at_its_legacy_value_leaves_the_hashes_of_earlier_settings_unchanged(compose, tiny_data, tmp_path):
    from musicexp.data.dataset import open_dataset
    from musicexp.engine.plan import plan

    def hashes(schema, *extra):
        registry.register_step(Step(name="toy", version="1", run=toy_run, schema=schema, deps=("notes",)))
        blocks.register_block(blocks.Block(name="toy", step="toy", load=ToyBlock, order=30, fuse=False))
        try:
            cfg = compose(tiny_overrides(tiny_data, tmp_path, "steps.train.modes=[toy_only]", *extra))
            return {k: n.hash for k, n in plan(cfg, open_dataset(cfg.dataset, tiny_data, progress=False)).items()}
        finally:
            registry.unregister_step("toy")
            blocks.unregister_block("toy")

    before = hashes(ToyConf)
    assert hashes(ToyConfLater) == before  # both new options at their legacy values
    scaled = hashes(ToyConfLater, "steps.toy.scale=2")
    assert scaled["toy"] != before["toy"] and scaled["train"] != before["train"]
    offset = hashes(ToyConfLater, "steps.toy.offset=0.5")  # downstream: train's hash only
    assert offset["toy"] == before["toy"] and offset["train"] != before["train"]
    assert hashes(ToyConfLater, "steps.toy.weighted=true")["toy"] == hashes(ToyConf, "steps.toy.weighted=true")["toy"]
    with pytest.raises(ValueError, match="legacy"):
        param(1, hash=False, legacy=1)
