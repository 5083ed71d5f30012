import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from helpers import make_dataset  # noqa: E402


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    """A small labelled MIDI folder shared by tests that only read it."""
    return make_dataset(tmp_path_factory.mktemp("tiny") / "midi")


@pytest.fixture
def compose(tmp_path):
    """Compose the real config tree with Hydra's compose API."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module

    from musicexp.app import setup

    def _compose(overrides: list[str]):
        setup()  # the schema of the steps registered now (a test may have added one)
        with initialize_config_module(config_module="musicexp.conf", version_base="1.3"):
            return hydra_compose(config_name="config", overrides=overrides)

    return _compose


@pytest.fixture
def replace_step():
    """Swap a registered step for a changed copy (e.g. another ``run``); restored after the test."""
    import dataclasses

    from musicexp.core import registry

    saved = {}

    def _replace(name: str, **changes):
        saved.setdefault(name, registry.get(name))
        registry.register_step(dataclasses.replace(registry.get(name), **changes))

    yield _replace
    for step in saved.values():
        registry.register_step(step)


@pytest.fixture(params=["compiled", "numpy"])
def backend(request, monkeypatch):
    """Run a test on both SGT kernels: the compiled one (musicexp.features.sgt._kernel; that it is built
    is checked by test_sgt_kernel.py, which fails without it) and the numpy one."""
    from musicexp.features.sgt import kernel as sgtcore

    if request.param == "compiled" and sgtcore.compiled is None:
        pytest.skip("compiled kernel not built (test_sgt_kernel.py fails on that)")
    monkeypatch.setattr(sgtcore, "_USE_COMPILED", request.param == "compiled")
    return request.param
