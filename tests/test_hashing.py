"""Hash stability: what must not change a hash doesn't, and what must does."""

import pytest
from omegaconf import OmegaConf

from helpers import tiny_overrides
from musicexp.data.dataset import open_dataset
from musicexp.core.hashing import canonical, digest
from musicexp.engine.plan import plan


def test_key_order_and_number_form_do_not_matter():
    assert digest({"a": 1, "b": {"x": 2.0, "y": [1, 2]}}) == digest({"b": {"y": [1.0, 2], "x": 2}, "a": 1.0})
    assert digest({"alpha": 1}) == digest({"alpha": 1.0})
    assert digest({"alpha": 0.8}) != digest({"alpha": 0.80001})
    assert digest({"a": True}) != digest({"a": 1})  # a bool is not a number
    assert digest({"a": None}) != digest({"a": 0})


def test_interpolations_are_resolved_before_hashing():
    a = OmegaConf.create({"base": 0.5, "alpha": "${base}"})
    b = OmegaConf.create({"alpha": 0.5, "base": 0.5})
    assert digest(a) == digest(b)
    assert canonical(a) == {"alpha": 0.5, "base": 0.5}


def _hashes(compose, data, work, *extra):
    cfg = compose(tiny_overrides(data, work, *extra))
    ds = open_dataset(cfg.dataset, data, progress=False)
    return {k: n.hash for k, n in plan(cfg, ds).items()}


def test_step_hashes_from_composed_config(compose, tiny_data, tmp_path):
    base = _hashes(compose, tiny_data, tmp_path)
    # keys that change no output stay out of every hash
    for extra in ("steps.notes.n_jobs=1", "progress=true", "steps.train.verbose=1", "resume=false",
                  "force=[sgt]", f"paths.artifacts_root={tmp_path / 'elsewhere'}", "steps.sgt.alpha=0.80"):
        assert _hashes(compose, tiny_data, tmp_path, extra) == base, extra
    # alpha: 1 and alpha: 1.0 are the same experiment
    assert _hashes(compose, tiny_data, tmp_path, "steps.sgt.alpha=1") == _hashes(
        compose, tiny_data, tmp_path, "steps.sgt.alpha=1.0")
    # an sgt parameter changes sgt and train, not notes/labels
    h = _hashes(compose, tiny_data, tmp_path, "steps.sgt.alpha=1.2")
    assert h["notes"] == base["notes"] and h["labels"] == base["labels"]
    assert h["sgt"] != base["sgt"] and h["train"] != base["train"]
    # the vocabulary is chosen at train time: top_vocab leaves the sgt artifact alone
    h = _hashes(compose, tiny_data, tmp_path, "steps.sgt.top_vocab=8")
    assert h["sgt"] == base["sgt"] and h["train"] != base["train"]
    # the seed changes only training
    h = _hashes(compose, tiny_data, tmp_path, "seed=7")
    assert {k for k in h if h[k] != base[k]} == {"train"}


def test_hashes_are_stable_across_processes(compose, tiny_data, tmp_path):
    """The same config gives the same hashes in a fresh interpreter (no id(), no set order)."""
    import json
    import subprocess
    import sys

    code = (
        "import json,sys; sys.path.insert(0, 'tests');"
        "from hydra import compose, initialize_config_module;"
        "import musicexp.app;"
        "from helpers import tiny_overrides; from pathlib import Path;"
        "from musicexp.data.dataset import open_dataset; from musicexp.engine.plan import plan;"
        "ctx = initialize_config_module(config_module='musicexp.conf', version_base='1.3'); ctx.__enter__();"
        f"cfg = compose('config', overrides=tiny_overrides(Path({str(tiny_data)!r}), Path({str(tmp_path)!r})));"
        f"ds = open_dataset(cfg.dataset, Path({str(tiny_data)!r}), progress=False);"
        "print(json.dumps({k: n.hash for k, n in plan(cfg, ds).items()}))"
    )
    import pathlib

    root = pathlib.Path(__file__).parent.parent
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == _hashes(compose, tiny_data, tmp_path)


def test_unhashable_values_are_refused():
    with pytest.raises(TypeError):
        digest({"x": object()})
