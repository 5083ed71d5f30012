"""musicexp.tools.tracking against the real MLflow, on temporary stores read back with MLflow's client."""

import importlib.util
import json
import re
from pathlib import Path

import pytest

from musicexp.core.errors import UserError
from musicexp.tools.tracking import TrackingError, log_run

# MLflow 3.7+ warns that the file store is in maintenance mode: that is MLflow's message to the user
pytestmark = pytest.mark.filterwarnings("ignore:The filesystem tracking backend:FutureWarning")

LONG = "x" * 600
SETTINGS = {
    "steps.sgt.alpha": 0.5,
    "steps.sgt.kappa": 3,
    "steps.train.hidden": [64, 32],
    "steps.train.modes": ["sgt_only", "early:sgt+toy"],
    "dataset.name": "data_100",
    "overrides.a+b": LONG,
}
PARAMS = {  # what MLflow must hold for SETTINGS
    "steps.sgt.alpha": "0.5",
    "steps.sgt.kappa": "3",
    "steps.train.hidden": "[64, 32]",
    "steps.train.modes": '["sgt_only", "early:sgt+toy"]',
    "dataset.name": "data_100",
    "overrides.a_b": "x" * 499 + "…",
}
RECORDS = [
    {"run_id": "20261202-034858-570461", "dataset_id": "data_100", "mode": "emb_only", "score": 0.61,
     "score_low": 0.49, "score_high": 0.72, "baseline_score": 0.11, "metadata_score": 0.12,
     "composer_f1": 0.6, "composer_f1_low": 0.48, "n_folds": 5, "grouped": True, "p_t_vs_best": None,
     "diff": float("nan"), "fold_f1": [0.4, 0.6], "interval": "95% percentile bootstrap"},
    {"run_id": "20261202-034858-570461", "dataset_id": "data_100", "mode": "early:sgt+toy", "score": 0.7,
     "score_low": 0.55, "score_high": 0.8, "composer_f1": 0.66},
]
METRICS = {  # what MLflow must hold for RECORDS: numbers only, names sanitised
    "emb_only.score": 0.61, "emb_only.score_low": 0.49, "emb_only.score_high": 0.72,
    "emb_only.baseline_score": 0.11, "emb_only.metadata_score": 0.12, "emb_only.composer_f1": 0.6,
    "emb_only.composer_f1_low": 0.48, "emb_only.n_folds": 5.0,
    "early_sgt_toy.score": 0.7, "early_sgt_toy.score_low": 0.55, "early_sgt_toy.score_high": 0.8,
    "early_sgt_toy.composer_f1": 0.66,
}


@pytest.fixture
def mlflow_client(tmp_path, monkeypatch):
    """MLflow's own client on a given URI; the test runs in tmp_path (SQLite stores put artifacts in ./mlruns)."""
    import mlflow  # in the dev extra: a missing install fails the suite instead of skipping it
    monkeypatch.chdir(tmp_path)
    return lambda uri: mlflow.tracking.MlflowClient(tracking_uri=uri)


def files_for(tmp_path: Path) -> dict:
    plot = tmp_path / "made" / "plot.png"
    plot.parent.mkdir()
    plot.write_bytes(b"\x89PNG fake picture")
    return {"results.jsonl": json.dumps(RECORDS[0]) + "\n", "config.yaml": b"seed: 42\n", "plots/plot.png": plot}


def check_run(client, run_id: str, experiment: str, tmp_path: Path, files: dict) -> None:
    run = client.get_run(run_id)
    assert client.get_experiment(run.info.experiment_id).name == experiment
    assert run.info.status == "FINISHED"
    assert run.data.params == PARAMS
    assert run.data.metrics == pytest.approx(METRICS)
    assert run.data.tags["musicexp.run_id"] == "20261202-034858-570461"
    assert run.data.tags["musicexp.dataset"] == "data_100"
    assert run.data.tags["origin"] == "test"
    listed = {f.path for f in client.list_artifacts(run_id)} | {f.path for f in client.list_artifacts(run_id, "plots")}
    assert listed == {"results.jsonl", "config.yaml", "plots", "plots/plot.png"}
    out = tmp_path / "downloaded"
    out.mkdir(exist_ok=True)
    for name, given in files.items():
        got = Path(client.download_artifacts(run_id, name, str(out))).read_bytes()
        want = given.read_bytes() if isinstance(given, Path) else given
        assert got == (want.encode() if isinstance(want, str) else want), name


def test_logs_settings_scores_files_and_tags_to_a_file_store(tmp_path, mlflow_client):
    import mlflow

    before = mlflow.get_tracking_uri()
    uri = (tmp_path / "store").as_uri()
    files = files_for(tmp_path)
    run_id = log_run(SETTINGS, RECORDS, files, uri=uri, experiment="musicexp-test", run_name="first",
                     tags={"origin": "test"})
    client = mlflow_client(uri)
    check_run(client, run_id, "musicexp-test", tmp_path, files)
    assert client.get_run(run_id).info.run_name == "first"
    assert mlflow.active_run() is None and mlflow.get_tracking_uri() == before  # no global state left
    assert not (tmp_path / "mlruns").exists()  # the given URI, not the default store


def test_default_uri_is_mlruns_in_the_current_folder(tmp_path, mlflow_client):
    run_id = log_run({"a": 1}, [{"mode": "m", "score": 0.5}], {}, uri=None, experiment="default-store")
    run = mlflow_client((tmp_path / "mlruns").as_uri()).get_run(run_id)
    assert run.data.params == {"a": "1"} and run.data.metrics == {"m.score": 0.5}


def test_logs_to_a_sqlite_store(tmp_path, mlflow_client):
    import alembic, sqlalchemy  # noqa: F401,E401  mlflow-skinny's SQLite store needs both (in the dev extra)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    files = files_for(tmp_path)
    run_id = log_run(SETTINGS, RECORDS, files, uri=uri, experiment="musicexp-sql", tags={"origin": "test"})
    check_run(mlflow_client(uri), run_id, "musicexp-sql", tmp_path, files)


def test_two_runs_go_into_the_same_experiment(tmp_path, mlflow_client):
    uri = (tmp_path / "store").as_uri()
    first = log_run({"seed": 1}, [{"mode": "m", "score": 0.1}], {}, uri=uri, experiment="twice")
    second = log_run({"seed": 2}, [{"mode": "m", "score": 0.2}], {"a.txt": "two"}, uri=uri, experiment="twice")
    client = mlflow_client(uri)
    experiment = client.get_experiment_by_name("twice")
    runs = {r.info.run_id: r for r in client.search_runs([experiment.experiment_id])}
    assert set(runs) == {first, second}
    assert runs[first].data.params == {"seed": "1"} and runs[second].data.params == {"seed": "2"}
    assert runs[first].data.metrics == {"m.score": 0.1} and runs[second].data.metrics == {"m.score": 0.2}


def test_names_that_sanitise_alike_stay_apart(tmp_path, mlflow_client):
    uri = (tmp_path / "store").as_uri()
    records = [{"mode": "a:b", "score": 0.1}, {"mode": "a+b", "score": 0.2}]
    run_id = log_run({"k:1": "x", "k+1": "y"}, records, {}, uri=uri, experiment="clash")
    data = mlflow_client(uri).get_run(run_id).data
    assert sorted(data.metrics.values()) == [0.1, 0.2] and sorted(data.params.values()) == ["x", "y"]
    assert all(re.fullmatch(r"[A-Za-z0-9_\-. /]+", name) for name in [*data.metrics, *data.params])


def test_a_missing_file_is_a_clear_error_and_logs_no_run(tmp_path, mlflow_client):
    uri = (tmp_path / "store").as_uri()
    with pytest.raises(TrackingError, match="no such file"):
        log_run({}, [{"mode": "m", "score": 0.1}], {"gone.txt": tmp_path / "gone.txt"}, uri=uri, experiment="e")
    assert mlflow_client(uri).get_experiment_by_name("e") is None


def test_without_mlflow_the_error_says_how_to_install_it(tmp_path, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mlflow" else real(name, *a))
    message = "experiment tracking needs MLflow: pip install 'musicexp[track]'"
    with pytest.raises(TrackingError, match=re.escape(message)) as caught:
        log_run({"a": 1}, [{"mode": "m", "score": 0.5}], {}, uri=(tmp_path / "store").as_uri(), experiment="e")
    assert isinstance(caught.value, UserError)
    assert not (tmp_path / "store").exists()
