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

    from musicexp.config import register_configs

    register_configs()

    def _compose(overrides: list[str]):
        with initialize_config_module(config_module="musicexp.conf", version_base="1.3"):
            return hydra_compose(config_name="config", overrides=overrides)

    return _compose


@pytest.fixture(params=["compiled", "numpy"])
def backend(request, monkeypatch):
    """Run a test on both SGT kernels: the compiled one (musicexp._sgtkernel; that it is built
    is checked by test_sgt_kernel.py, which fails without it) and the numpy one."""
    from musicexp import sgtcore

    if request.param == "compiled" and sgtcore._sgtkernel is None:
        pytest.skip("compiled kernel not built (test_sgt_kernel.py fails on that)")
    monkeypatch.setattr(sgtcore, "_USE_COMPILED", request.param == "compiled")
    return request.param
