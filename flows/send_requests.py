"""The `send-requests` flow: query the served `champion` model and report latency and accuracy.

The model is served by MLflow's own scoring server, e.g.
``mlflow models serve -m models:/fake-news-classifier@champion --env-manager local -p 5001``.
The flow samples rows of the stored dataset, sends one request per row to ``/invocations``
(``{"dataframe_split": {"columns": ["title", "text"], "data": [[...]]}}``), compares the
predictions with the labels and publishes latency percentiles and accuracy as a Prefect table
artifact (key ``send-requests-report``).
"""

from __future__ import annotations

import os
import time
from typing import Any
from urllib.parse import urlparse, urlunparse

import numpy as np
from prefect import flow, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger

try:
    from flows._common import (
        DEFAULT_DATA_STORE_BLOCK,
        DEFAULT_DATASET_PATH,
        DEFAULT_MODEL_SERVER_URL,
        FEATURE_COLUMNS,
        LABEL_COLUMN,
        FlowInputError,
        ServiceUnreachableError,
        load_block,
        parse_dataset,
        read_from_store,
    )
except ModuleNotFoundError:  # run from inside flows/ rather than from the project root
    from _common import (  # type: ignore[no-redef]
        DEFAULT_DATA_STORE_BLOCK,
        DEFAULT_DATASET_PATH,
        DEFAULT_MODEL_SERVER_URL,
        FEATURE_COLUMNS,
        LABEL_COLUMN,
        FlowInputError,
        ServiceUnreachableError,
        load_block,
        parse_dataset,
        read_from_store,
    )

REPORT_KEY = "send-requests-report"
PERCENTILES = (50, 90, 95, 99)


def resolve_server_url(model_server_url: str | None) -> str:
    """The parameter, else ``MODEL_SERVER_URL``, else ``http://127.0.0.1:5001/invocations``."""
    url = model_server_url or os.environ.get("MODEL_SERVER_URL") or DEFAULT_MODEL_SERVER_URL
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise FlowInputError(f"model_server_url {url!r} is not an http(s) URL")
    if parsed.path in ("", "/"):
        url = urlunparse(parsed._replace(path="/invocations"))
    return url


@task(cache_policy=NO_CACHE)
def wait_for_server(url: str, wait_seconds: float) -> None:
    """Poll the scoring server's /ping until it answers 200, for at most ``wait_seconds``."""
    import httpx

    logger = get_run_logger()
    ping = urlunparse(urlparse(url)._replace(path="/ping", query=""))
    deadline = time.monotonic() + max(wait_seconds, 0)
    while True:
        try:
            response = httpx.get(ping, timeout=5)
            if response.status_code == 200:
                logger.info("Scoring server %s is up", ping)
                return
            problem = f"answered HTTP {response.status_code} to {ping} (is the model loaded?)"
        except httpx.HTTPError as exc:
            problem = f"does not answer ({type(exc).__name__}: {exc})"
        if time.monotonic() >= deadline:
            raise ServiceUnreachableError(
                f"The model scoring server at {url} {problem}. Serve the champion model with "
                "`mlflow models serve -m models:/fake-news-classifier@champion` (prefect-stack's "
                "model-server unit), or pass model_server_url / set MODEL_SERVER_URL"
            )
        logger.info("Waiting for the scoring server at %s: it %s", ping, problem)
        time.sleep(1)


@task(cache_policy=NO_CACHE)
def send(
    url: str,
    rows: list[dict[str, str]],
    timeout_seconds: float,
    min_duration_seconds: float = 0.0,
    max_requests_per_second: float = 0.0,
) -> list[dict[str, Any]]:
    """POST one request per row, through one connection; return each one's latency, prediction
    or error. With ``min_duration_seconds``, the rows are sent again, in turn, until at least that
    long has passed since the first request. With ``max_requests_per_second``, request n starts
    no earlier than n / rate seconds after the first."""
    import httpx

    interval = 1 / max_requests_per_second if max_requests_per_second > 0 else 0.0
    results = []
    with httpx.Client(timeout=timeout_seconds) as client:
        first_request = time.monotonic()
        sent = 0
        while sent < len(rows) or time.monotonic() - first_request < min_duration_seconds:
            if interval:
                time.sleep(max(first_request + sent * interval - time.monotonic(), 0))
            row = rows[sent % len(rows)]
            sent += 1
            payload = {
                "dataframe_split": {
                    "columns": list(FEATURE_COLUMNS),
                    "data": [[row[column] for column in FEATURE_COLUMNS]],
                }
            }
            started = time.perf_counter()
            try:
                response = client.post(url, json=payload)
                latency = time.perf_counter() - started
            except httpx.HTTPError as exc:
                results.append({"error": f"{type(exc).__name__}: {exc}"})
                continue
            if response.status_code != 200:
                results.append({"error": f"HTTP {response.status_code}: {response.text[:300]}"})
                continue
            try:
                prediction = response.json()["predictions"][0]
            except (ValueError, KeyError, IndexError, TypeError):
                results.append({"error": f"unexpected answer: {response.text[:300]}"})
                continue
            results.append(
                {"latency": latency, "prediction": str(prediction), "label": row[LABEL_COLUMN]}
            )
    return results


def summarize(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Latency percentiles (ms), accuracy and error count of ``send``'s results."""
    answered = [result for result in results if "error" not in result]
    latencies_ms = np.array([result["latency"] * 1000 for result in answered])
    summary: dict[str, Any] = {
        "requests": len(results),
        "answered": len(answered),
        "errors": len(results) - len(answered),
    }
    if answered:
        for percentile in PERCENTILES:
            summary[f"latency_p{percentile}_ms"] = float(np.percentile(latencies_ms, percentile))
        summary["latency_mean_ms"] = float(latencies_ms.mean())
        summary["latency_max_ms"] = float(latencies_ms.max())
        correct = sum(result["prediction"] == result["label"] for result in answered)
        summary["accuracy"] = correct / len(answered)
    return summary


@flow(name="send-requests")
def send_requests(
    n_requests: int = 100,
    model_server_url: str | None = None,
    data_store_block: str = DEFAULT_DATA_STORE_BLOCK,
    dataset_path: str = DEFAULT_DATASET_PATH,
    random_state: int = 0,
    timeout_seconds: float = 10.0,
    server_wait_seconds: float = 30.0,
    min_duration_seconds: float = 0.0,
    max_requests_per_second: float = 0.0,
) -> dict[str, Any]:
    """Send requests sampled from the stored dataset to the model server and report on them.

    Args:
        n_requests: number of requests (one row each; rows are sampled with replacement when
            the dataset has fewer rows).
        model_server_url: the scoring server's /invocations URL; empty: the MODEL_SERVER_URL
            environment variable, else http://127.0.0.1:5001/invocations.
        data_store_block: slug of the file-system block load-data stored the dataset in.
        dataset_path: path of the dataset inside the data store.
        random_state: seed of the sampling.
        timeout_seconds: timeout of one request.
        server_wait_seconds: how long to wait for the scoring server to answer /ping.
        min_duration_seconds: keep sending the sampled rows again, in turn, until at least this
            many seconds have passed since the first request (e.g. to cover a model swap);
            0: each sampled row once.
        max_requests_per_second: at most this many requests a second (e.g. to cover a swap
            without taking the scoring server's cores); 0: each as soon as the one before is
            answered.
    """
    logger = get_run_logger()
    if n_requests < 1:
        raise FlowInputError(f"n_requests must be at least 1 (got {n_requests})")
    if min_duration_seconds < 0:
        raise FlowInputError(f"min_duration_seconds must be 0 or more (got {min_duration_seconds})")
    if max_requests_per_second < 0:
        raise FlowInputError(
            f"max_requests_per_second must be 0 or more (got {max_requests_per_second})"
        )
    url = resolve_server_url(model_server_url)
    store = load_block(data_store_block, "the data store")
    content = read_from_store(store, data_store_block, dataset_path)
    frame = parse_dataset(content, f"{dataset_path!r} in {data_store_block!r}")
    sample = frame.sample(
        n=n_requests, replace=n_requests > len(frame), random_state=random_state
    ).to_dict("records")
    wait_for_server(url, server_wait_seconds)
    if min_duration_seconds > 0:
        logger.info(
            "Sending %d sampled rows to %s, in turn, for at least %.0f s",
            n_requests,
            url,
            min_duration_seconds,
        )
    else:
        logger.info("Sending %d requests to %s", n_requests, url)
    results = send(url, sample, timeout_seconds, min_duration_seconds, max_requests_per_second)
    summary = summarize(results)
    errors = [result["error"] for result in results if "error" in result]
    if not summary["answered"]:
        raise FlowInputError(
            f"All {len(results)} requests to {url} failed; the first error: {errors[0]}"
        )
    if errors:
        logger.warning("%d of %d requests failed, e.g. %s", len(errors), len(results), errors[0])
    table = [
        {"metric": key, "value": round(value, 4) if isinstance(value, float) else value}
        for key, value in summary.items()
    ]
    create_table_artifact(
        key=REPORT_KEY,
        table=table,
        description=f"send-requests: {summary['requests']} requests to {url}",
    )
    logger.info(
        "Accuracy %.3f, latency p50 %.1f ms, p95 %.1f ms, %d errors",
        summary["accuracy"],
        summary["latency_p50_ms"],
        summary["latency_p95_ms"],
        summary["errors"],
    )
    return {"url": url, **summary}


if __name__ == "__main__":
    send_requests()
