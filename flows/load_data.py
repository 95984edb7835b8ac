"""The `load-data` flow: fetch the raw news dataset, validate it, store it in the data store.

Sources: an http(s):// URL, a gs://bucket/object path (read with the credentials of a `gcs-bucket`
block), a file:// URL or a local path. Without a source the flow uses the labelled sample that
ships in ``flows/data/news_sample.csv``, so the default run works offline.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from prefect import flow, task
from prefect.blocks.core import Block
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger

try:
    from flows._common import (
        DEFAULT_DATA_STORE_BLOCK,
        DEFAULT_DATASET_PATH,
        LABEL_COLUMN,
        SAMPLE_DATASET,
        FlowInputError,
        ServiceUnreachableError,
        dataset_to_csv,
        load_block,
        parse_dataset,
        retry_unless_input_error,
        write_to_store,
    )
except ModuleNotFoundError:  # run from inside flows/ rather than from the project root
    from _common import (  # type: ignore[no-redef]
        DEFAULT_DATA_STORE_BLOCK,
        DEFAULT_DATASET_PATH,
        LABEL_COLUMN,
        SAMPLE_DATASET,
        FlowInputError,
        ServiceUnreachableError,
        dataset_to_csv,
        load_block,
        parse_dataset,
        retry_unless_input_error,
        write_to_store,
    )

DEFAULT_GCS_BLOCK = "gcs-bucket/ml-data-gcs"


@task(
    retries=3,
    retry_delay_seconds=[2, 10, 30],
    retry_condition_fn=retry_unless_input_error,
    cache_policy=NO_CACHE,
)
def fetch_source(source: str | None, timeout_seconds: float = 60.0) -> bytes:
    """Return the raw bytes of an http(s) URL, a file:// URL or a local path."""
    logger = get_run_logger()
    if not source:
        logger.info("No source given: using the shipped sample %s", SAMPLE_DATASET)
        return SAMPLE_DATASET.read_bytes()
    scheme = urlparse(source).scheme.lower()
    if scheme in ("http", "https"):
        return _fetch_http(source, timeout_seconds)
    if scheme == "file":
        path = Path(unquote(urlparse(source).path))
    elif len(scheme) <= 1:  # a plain path (a one-letter scheme is a Windows drive letter)
        path = Path(source).expanduser()
    else:
        raise FlowInputError(
            f"Unsupported source {source!r}: use an https:// URL, a gs:// path, a file:// URL "
            "or a local path"
        )
    if not path.is_file():
        raise FlowInputError(f"The source file {str(path)!r} does not exist (cwd: {Path.cwd()})")
    logger.info("Reading %s", path)
    return path.read_bytes()


def _fetch_http(url: str, timeout_seconds: float) -> bytes:
    import httpx

    logger = get_run_logger()
    logger.info("Downloading %s", url)
    try:
        response = httpx.get(url, timeout=timeout_seconds, follow_redirects=True)
    except httpx.HTTPError as exc:
        raise ServiceUnreachableError(f"Could not download {url}: {exc!r}") from None
    if 400 <= response.status_code < 500 and response.status_code not in (408, 429):
        raise FlowInputError(
            f"Could not download {url}: the server answered HTTP {response.status_code} "
            f"{response.reason_phrase}"
        )
    if response.status_code >= 400:
        raise ServiceUnreachableError(
            f"Could not download {url}: the server answered HTTP {response.status_code} "
            f"{response.reason_phrase} (will retry)"
        )
    logger.info("Downloaded %d bytes", len(response.content))
    return response.content


@task(
    retries=3,
    retry_delay_seconds=[2, 10, 30],
    retry_condition_fn=retry_unless_input_error,
    cache_policy=NO_CACHE,
)
def fetch_gcs(gcs_block: Block, gcs_block_slug: str, source: str) -> bytes:
    """Return the bytes of ``gs://bucket/object``, read with the gcs-bucket block's credentials."""
    parsed = urlparse(source)
    bucket_name, object_name = parsed.netloc, parsed.path.lstrip("/")
    if not bucket_name or not object_name:
        raise FlowInputError(f"{source!r} is not a gs://bucket/object path")
    credentials = getattr(gcs_block, "gcp_credentials", None)
    if credentials is None:
        raise FlowInputError(
            f"The block {gcs_block_slug!r} has no gcp_credentials: gs:// sources need a "
            "gcs-bucket block"
        )
    get_run_logger().info("Downloading %s with the credentials of %s", source, gcs_block_slug)
    client = credentials.get_cloud_storage_client()
    blob = client.bucket(bucket_name).blob(object_name)
    try:
        return blob.download_as_bytes()
    except Exception as exc:
        if type(exc).__name__ == "NotFound":
            raise FlowInputError(f"{source} does not exist (or the bucket does not)") from None
        if type(exc).__name__ == "Forbidden":
            raise FlowInputError(
                f"The credentials of {gcs_block_slug!r} may not read {source}"
            ) from None
        raise


@task(cache_policy=NO_CACHE)
def validate_dataset(content: bytes, origin: str) -> Any:
    """Parse and validate the raw CSV (columns title, text, label); return the clean frame."""
    frame = parse_dataset(content, origin)
    counts = frame[LABEL_COLUMN].value_counts().to_dict()
    get_run_logger().info("Dataset from %s: %d rows, labels %s", origin, len(frame), counts)
    return frame


@flow(name="load-data")
def load_data(
    source: str | None = None,
    data_store_block: str = DEFAULT_DATA_STORE_BLOCK,
    dataset_path: str = DEFAULT_DATASET_PATH,
    gcs_block: str = DEFAULT_GCS_BLOCK,
    timeout_seconds: float = 60.0,
) -> dict[str, Any]:
    """Fetch the raw news dataset, validate it and store it in the data store.

    Args:
        source: an https:// (or http://) URL, a gs://bucket/object path, a file:// URL or a
            local path (relative to the working directory) of a CSV file with the columns
            title, text, label. Empty: the sample dataset shipped in flows/data/.
        data_store_block: slug (`<block-type>/<name>`) of the file-system block to store the
            dataset in: `local-file-system/ml-data` by default, `gcs-bucket/ml-data-gcs` in
            production.
        dataset_path: path of the stored dataset inside the data store.
        gcs_block: slug of the gcs-bucket block whose credentials read gs:// sources.
        timeout_seconds: timeout of an http(s) download.
    """
    logger = get_run_logger()
    store = load_block(data_store_block, "the data store")
    if source and source.lower().startswith("gs://"):
        gcs = load_block(gcs_block, "credentials for gs:// sources")
        content = fetch_gcs(gcs, gcs_block, source)
    else:
        content = fetch_source(source, timeout_seconds)
    origin = source or "the shipped sample dataset"
    frame = validate_dataset(content, origin)
    written = write_to_store(store, data_store_block, dataset_path, dataset_to_csv(frame))
    summary = {
        "source": origin,
        "rows": len(frame),
        "labels": {str(k): int(v) for k, v in frame[LABEL_COLUMN].value_counts().items()},
        "data_store_block": data_store_block,
        "dataset_path": dataset_path,
        "stored_at": written,
    }
    logger.info("Stored %d rows from %s at %s", len(frame), origin, written)
    return summary


if __name__ == "__main__":
    load_data()
