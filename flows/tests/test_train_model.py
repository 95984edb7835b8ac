"""train-model against a real Prefect API, a real data-store block and a real MLflow store."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from prefect.artifacts import Artifact
from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyClassifier
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import Pipeline

from flows._common import ServiceUnreachableError, check_tracking_server
from flows.data.make_news_sample import generate, to_csv
from flows.load_data import load_data
from flows.tests.helpers import failure_message, free_port
from flows.train_model import build_pipeline, train_model


def test_trains_logs_registers_and_points_the_alias(data_store: Path, mlflow_uri: str) -> None:
    load_data()

    first = train_model(n_trials=3, tracking_uri=mlflow_uri)

    # A meaningful score on the held-out split: well above chance, below perfect.
    assert first["test_rows"] == 80 and first["train_rows"] == 320
    assert 0.65 <= first["test_accuracy"] < 0.99
    assert 0.65 <= first["test_f1_macro"] < 0.99

    client = MlflowClient(tracking_uri=mlflow_uri)
    parent = client.get_run(first["run_id"])
    assert parent.data.metrics["test_accuracy"] == pytest.approx(first["test_accuracy"])
    assert parent.data.params["n_trials"] == "3"
    assert "best__classifier__C" in parent.data.params
    trials = client.search_runs(
        [parent.info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{first['run_id']}'",
    )
    assert len(trials) == 3
    assert all("cv_f1_macro" in trial.data.metrics for trial in trials)

    champion = client.get_model_version_by_alias("fake-news-classifier", "champion")
    assert str(champion.version) == first["version"] == "1"
    assert champion.run_id == first["run_id"]

    # The registered model is plain scikit-learn: pyfunc loads it by alias and predicts labels.
    mlflow.set_tracking_uri(mlflow_uri)
    model = mlflow.pyfunc.load_model("models:/fake-news-classifier@champion")
    news = pd.DataFrame(generate(50, seed=99))
    predicted = model.predict(news[["title", "text"]])
    assert set(predicted) <= {"FAKE", "REAL"}
    assert (predicted == news["label"]).mean() > 0.6

    assert first["promoted"] and first["previous_champion_version"] is None
    assert parent.data.tags["promotion.decision"] == "promoted"

    # The same training again scores the same: version 2 is registered, the alias stays on 1.
    second = train_model(n_trials=3, tracking_uri=mlflow_uri)
    assert second["version"] == "2" and not second["promoted"]
    assert second["previous_champion_f1_macro"] == pytest.approx(second["test_f1_macro"])
    assert "not better, champion kept" in second["promotion_reason"]
    assert str(client.get_model_version_by_alias("fake-news-classifier", "champion").version) == "1"
    assert client.get_run(second["run_id"]).data.tags["promotion.decision"] == "kept"
    artifact = Artifact.get("train-model-promotion")
    assert artifact is not None and "champion kept" in str(artifact.data)


def _register_champion(mlflow_uri: str, pipeline: Pipeline) -> str:
    """Register ``pipeline`` (already fitted) and point the champion alias at it."""
    mlflow.set_tracking_uri(mlflow_uri)
    mlflow.set_experiment("hand-made")
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(pipeline, name="model")
    version = mlflow.register_model(info.model_uri, "fake-news-classifier")
    MlflowClient(tracking_uri=mlflow_uri).set_registered_model_alias(
        "fake-news-classifier", "champion", version.version
    )
    return str(version.version)


def _champion(mlflow_uri: str) -> str:
    client = MlflowClient(tracking_uri=mlflow_uri)
    return str(client.get_model_version_by_alias("fake-news-classifier", "champion").version)


def test_a_better_model_moves_the_alias(data_store: Path, mlflow_uri: str) -> None:
    load_data()
    frame = pd.read_csv(data_store / "news/dataset.csv")
    features = ColumnTransformer([("title", TfidfVectorizer(), "title")])
    weak = Pipeline([("features", features), ("classifier", DummyClassifier())])
    _register_champion(mlflow_uri, weak.fit(frame[["title", "text"]], frame["label"]))

    result = train_model(n_trials=1, tracking_uri=mlflow_uri)

    assert result["promoted"] and result["previous_champion_version"] == "1"
    assert result["test_f1_macro"] > result["previous_champion_f1_macro"]
    assert _champion(mlflow_uri) == result["version"] == result["champion_version"] == "2"


def test_a_model_that_is_not_better_leaves_the_alias(data_store: Path, mlflow_uri: str) -> None:
    load_data()
    frame = pd.read_csv(data_store / "news/dataset.csv")
    # Trained on every row, the held-out split included: no model trained without those rows
    # beats it there.
    strong = build_pipeline().set_params(classifier__C=100.0)
    _register_champion(mlflow_uri, strong.fit(frame[["title", "text"]], frame["label"]))

    result = train_model(n_trials=1, tracking_uri=mlflow_uri)

    assert not result["promoted"] and result["version"] == "2"
    assert result["test_f1_macro"] < result["previous_champion_f1_macro"]
    assert _champion(mlflow_uri) == result["champion_version"] == "1"


def test_a_champion_that_cannot_be_scored_is_kept_unless_forced(
    data_store: Path, mlflow_uri: str
) -> None:
    load_data()
    # A champion that reads a column this dataset does not have.
    other = pd.DataFrame(
        {"headline": ["alpha beta", "gamma", "delta", "epsilon"], "label": ["FAKE", "REAL"] * 2}
    )
    features = ColumnTransformer([("headline", TfidfVectorizer(), "headline")])
    alien = Pipeline([("features", features), ("classifier", DummyClassifier())])
    _register_champion(mlflow_uri, alien.fit(other[["headline"]], other["label"]))

    kept = train_model(n_trials=1, tracking_uri=mlflow_uri)
    forced = train_model(n_trials=1, tracking_uri=mlflow_uri, force_promotion=True)

    assert not kept["promoted"] and "could not be scored" in kept["promotion_reason"]
    assert forced["promoted"] and "(forced)" in forced["promotion_reason"]
    assert _champion(mlflow_uri) == forced["version"] == "3"


def test_tracking_uri_comes_from_the_environment(
    data_store: Path, mlflow_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_data()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_uri)

    result = train_model(n_trials=1, registered_model_name="from-env", alias="candidate")

    client = MlflowClient(tracking_uri=mlflow_uri)
    assert (
        str(client.get_model_version_by_alias("from-env", "candidate").version) == result["version"]
    )


def test_missing_tracking_uri_fails_clearly(data_store: Path, mlflow_uri: str) -> None:
    state = train_model(n_trials=1, return_state=True)

    assert "No MLflow tracking server is configured" in failure_message(state)


def test_missing_dataset_fails_clearly(data_store: Path, mlflow_uri: str) -> None:
    state = train_model(n_trials=1, tracking_uri=mlflow_uri, return_state=True)

    message = failure_message(state)
    assert "'news/dataset.csv' is not in the data store 'local-file-system/ml-data'" in message
    assert "run the load-data flow first" in message


def test_missing_block_fails_clearly(data_store: Path, mlflow_uri: str) -> None:
    state = train_model(
        n_trials=1,
        tracking_uri=mlflow_uri,
        data_store_block="gcs-bucket/ml-data-gcs",
        return_state=True,
    )

    assert "The Prefect block 'gcs-bucket/ml-data-gcs' (the data store) does not exist" in (
        failure_message(state)
    )


def test_too_small_dataset_fails_clearly(data_store: Path, mlflow_uri: str) -> None:
    (data_store / "tiny.csv").write_text(to_csv(generate(6, seed=1)))

    state = train_model(
        n_trials=1, tracking_uri=mlflow_uri, dataset_path="tiny.csv", return_state=True
    )

    assert "is too small to train on" in failure_message(state)


@pytest.mark.parametrize(
    ("parameters", "expected"),
    [
        ({"n_trials": 0}, "n_trials must be at least 1"),
        ({"test_size": 1.5}, "test_size must be between 0 and 1"),
        ({"cv_folds": 1}, "cv_folds must be at least 2"),
    ],
)
def test_bad_parameters_fail_clearly(
    data_store: Path, mlflow_uri: str, parameters: dict, expected: str
) -> None:
    state = train_model(tracking_uri=mlflow_uri, return_state=True, **parameters)

    assert expected in failure_message(state)


def test_unreachable_tracking_server_is_reported_clearly() -> None:
    uri = f"http://127.0.0.1:{free_port()}"

    with pytest.raises(ServiceUnreachableError, match="does not answer"):
        check_tracking_server.fn(uri)
