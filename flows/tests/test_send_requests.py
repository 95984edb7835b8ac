"""send-requests against MLflow's own scoring server (`mlflow models serve`) on 127.0.0.1.

The module trains a model once (real MLflow SQLite registry), serves ``models:/...@champion`` with
``mlflow models serve --env-manager local`` and runs the flow against it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId
from prefect.filesystems import LocalFileSystem

from flows._common import DEFAULT_MODEL_SERVER_URL, FlowInputError
from flows.load_data import load_data
from flows.send_requests import REPORT_KEY, resolve_server_url, send_requests
from flows.tests.helpers import failure_message, free_port, mlflow_model_server
from flows.train_model import train_model

STORE = "local-file-system/send-requests-store"


@pytest.fixture(scope="module")
def model_server(tmp_path_factory: pytest.TempPathFactory, prefect_api: str) -> Iterator[str]:
    """Train and register a champion, serve it with `mlflow models serve`; yield /invocations."""
    root = tmp_path_factory.mktemp("send-requests")
    LocalFileSystem(basepath=str(root / "store")).save(STORE.split("/")[1], overwrite=True)
    tracking_uri = f"sqlite:///{root / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        load_data(data_store_block=STORE)
        train_model(n_trials=1, tracking_uri=tracking_uri, data_store_block=STORE)
    with mlflow_model_server(
        "models:/fake-news-classifier@champion", tracking_uri, root, root / "serve.log"
    ) as url:
        yield url


def test_reports_latency_and_accuracy_as_a_table_artifact(model_server: str) -> None:
    state = send_requests(
        n_requests=40, model_server_url=model_server, data_store_block=STORE, return_state=True
    )

    summary = state.result()
    assert summary["requests"] == summary["answered"] == 40 and summary["errors"] == 0
    assert 0.6 < summary["accuracy"] <= 1.0
    assert 0 < summary["latency_p50_ms"] <= summary["latency_p95_ms"] <= summary["latency_p99_ms"]
    assert summary["latency_p99_ms"] <= summary["latency_max_ms"]

    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id])
            )
        )
    assert [(artifact.key, artifact.type) for artifact in artifacts] == [(REPORT_KEY, "table")]
    table = artifacts[0].data
    rows = {
        row["metric"]: row["value"]
        for row in (json.loads(table) if isinstance(table, str) else table)
    }
    assert rows["requests"] == 40
    assert rows["accuracy"] == pytest.approx(summary["accuracy"], abs=1e-4)
    assert {"latency_p50_ms", "latency_p90_ms", "latency_p95_ms", "latency_p99_ms"} <= set(rows)


def test_server_url_comes_from_the_environment(
    model_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODEL_SERVER_URL", model_server.removesuffix("/invocations"))

    summary = send_requests(n_requests=3, data_store_block=STORE)

    assert summary["url"] == model_server and summary["answered"] == 3


def test_server_url_resolution(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MODEL_SERVER_URL", raising=False)
    assert resolve_server_url(None) == DEFAULT_MODEL_SERVER_URL
    assert resolve_server_url("http://models:8080/") == "http://models:8080/invocations"
    with pytest.raises(FlowInputError, match="is not an http"):
        resolve_server_url("models:/fake-news-classifier@champion")


def test_missing_model_server_fails_clearly(data_store: Path) -> None:
    load_data()
    url = f"http://127.0.0.1:{free_port()}/invocations"

    state = send_requests(
        n_requests=2, model_server_url=url, server_wait_seconds=1, return_state=True
    )

    message = failure_message(state)
    assert f"The model scoring server at {url} does not answer" in message
    assert "mlflow models serve -m models:/fake-news-classifier@champion" in message


def test_model_errors_fail_clearly(data_store: Path, http_server) -> None:
    """A server that is up but cannot score (e.g. a wrong model) fails the run with its error."""
    load_data()
    error = b'{"error_code": "BAD_REQUEST", "message": "Model is missing inputs [\'title\']"}'
    http_server.routes["/ping"] = lambda handler: (200, b"\n")
    http_server.routes["/invocations"] = lambda handler: (400, error)

    state = send_requests(
        n_requests=5, model_server_url=f"{http_server.url}/invocations", return_state=True
    )

    message = failure_message(state)
    assert "All 5 requests to" in message and "HTTP 400" in message
    assert "Model is missing inputs" in message
    assert http_server.count("/invocations") == 5


def test_min_duration_sends_the_sample_again_until_it_has_passed(
    data_store: Path, http_server
) -> None:
    load_data()
    http_server.routes["/ping"] = lambda handler: (200, b"\n")
    http_server.routes["/invocations"] = lambda handler: (200, b'{"predictions": ["fake"]}')
    started = time.monotonic()

    summary = send_requests(
        n_requests=3, model_server_url=http_server.url, min_duration_seconds=1.0
    )

    assert time.monotonic() - started >= 1.0
    assert summary["requests"] > 3 and summary["errors"] == 0
    assert http_server.count("/invocations") == summary["requests"]


def test_max_requests_per_second_paces_the_requests(data_store: Path, http_server) -> None:
    load_data()
    http_server.routes["/ping"] = lambda handler: (200, b"\n")
    http_server.routes["/invocations"] = lambda handler: (200, b'{"predictions": ["fake"]}')

    summary = send_requests(
        n_requests=3,
        model_server_url=http_server.url,
        min_duration_seconds=1.0,
        max_requests_per_second=10,
    )

    # 1 s at 10 a second: requests at 0, 0.1, ... 1.0 s, then the loop ends (an unpaced run
    # against this local server sends hundreds)
    assert 10 <= summary["requests"] <= 12 and summary["errors"] == 0
    assert http_server.count("/invocations") == summary["requests"]


def test_negative_max_requests_per_second_fails_clearly(http_server) -> None:
    state = send_requests(
        max_requests_per_second=-1, model_server_url=http_server.url, return_state=True
    )

    assert "max_requests_per_second must be 0 or more (got -1" in failure_message(state)
    assert http_server.requests == []


def test_negative_min_duration_fails_clearly(http_server) -> None:
    state = send_requests(
        min_duration_seconds=-1, model_server_url=http_server.url, return_state=True
    )

    assert "min_duration_seconds must be 0 or more (got -1" in failure_message(state)
    assert http_server.requests == []


def test_missing_dataset_fails_clearly(data_store: Path, http_server) -> None:
    state = send_requests(n_requests=1, model_server_url=http_server.url, return_state=True)

    message = failure_message(state)
    assert "is not in the data store 'local-file-system/ml-data'" in message
    assert http_server.requests == []
