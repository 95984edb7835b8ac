"""Helpers shared by the flows: blocks, the data store, dataset validation, MLflow settings.

Prefect loads a deployment's entrypoint (``flows/load_data.py:load_data``) as a script, with the
working directory (the project root) on ``sys.path``, so the flow files import this module as
``flows._common``. They fall back to ``_common`` when a flow file is run from inside ``flows/``.

Errors that a user can fix (a missing block, a bad data file, a missing model) are raised as
:class:`FlowInputError` with a message that says what is wrong and what to do, and ``from None``
so that the log shows that message rather than a traceback from deep inside a library.
"""

from __future__ import annotations

import io
import os
import uuid
from pathlib import Path
from typing import Any

import pandas as pd
from prefect import task
from prefect.blocks.core import Block
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger

REQUIRED_COLUMNS = ("title", "text", "label")
FEATURE_COLUMNS = ("title", "text")
LABEL_COLUMN = "label"

DEFAULT_DATA_STORE_BLOCK = "local-file-system/ml-data"
DEFAULT_DATASET_PATH = "news/dataset.csv"
DEFAULT_MODEL_NAME = "fake-news-classifier"
DEFAULT_ALIAS = "champion"
DEFAULT_MODEL_SERVER_URL = "http://127.0.0.1:5001/invocations"
SAMPLE_DATASET = Path(__file__).resolve().parent / "data" / "news_sample.csv"


class FlowInputError(RuntimeError):
    """Something the flow needs (a block, a data file, a model) is missing or malformed."""


class ServiceUnreachableError(RuntimeError):
    """A server the flow talks to does not answer (tasks retry this one)."""


def retry_unless_input_error(task: Any, task_run: Any, state: Any) -> bool:
    """Task ``retry_condition_fn``: retry I/O errors, but not errors that a retry cannot fix."""
    return not isinstance(getattr(state, "data", None), (FlowInputError, ImportError))


def _split_slug(slug: str) -> tuple[str, str]:
    block_type, _, name = slug.partition("/")
    if not block_type or not name or "/" in name:
        raise FlowInputError(
            f"{slug!r} is not a Prefect block slug: expected '<block-type>/<block-name>', "
            "e.g. 'local-file-system/ml-data' or 'gcs-bucket/ml-data-gcs'"
        )
    return block_type, name


@task(
    retries=2,
    retry_delay_seconds=[2, 10],
    retry_condition_fn=retry_unless_input_error,
    cache_policy=NO_CACHE,
)
def load_block(slug: str, purpose: str) -> Block:
    """Load the block document ``slug`` (``type/name``), failing clearly when it does not exist."""
    block_type, name = _split_slug(slug)
    try:
        block = Block.load(slug)
    except ValueError as exc:
        if "Unable to find block document" not in str(exc):
            raise
        raise FlowInputError(
            f"The Prefect block {slug!r} ({purpose}) does not exist: create a {block_type!r} block "
            f"named {name!r} (prefect-stack does it from the `prefect_blocks` variable) or pass "
            "the slug of another block as a flow parameter"
        ) from None
    except KeyError:
        # The block document exists but its type's Python class is not installed here.
        raise FlowInputError(
            f"The Prefect block {slug!r} ({purpose}) has type {block_type!r}, whose Python "
            "package is not installed on this worker (gcs-bucket needs prefect-gcp)"
        ) from None
    get_run_logger().info("Loaded block %s for %s", slug, purpose)
    return block


def _require_file_system(block: Block, slug: str) -> None:
    if not (
        callable(getattr(block, "read_path", None)) and callable(getattr(block, "write_path", None))
    ):
        raise FlowInputError(
            f"The Prefect block {slug!r} is a {type(block).__name__}, which cannot store files: "
            "use a file-system block such as local-file-system or gcs-bucket"
        )


@task(
    retries=2,
    retry_delay_seconds=[2, 10],
    retry_condition_fn=retry_unless_input_error,
    cache_policy=NO_CACHE,
)
def write_to_store(block: Block, slug: str, path: str, content: bytes) -> str:
    """Write ``content`` to ``path`` in the data-store block; return where it went.

    A reader never sees a half-written file: on a local file system the content goes to a
    temporary name beside the target, is flushed to disk and then renamed over it (an object
    store such as GCS publishes an object only once its upload is complete).
    """
    _require_file_system(block, slug)
    from prefect.filesystems import LocalFileSystem

    if isinstance(block, LocalFileSystem):
        written = _replace_local_file(block, path, content)
    else:
        written = block.write_path(path, content)
    get_run_logger().info("Wrote %d bytes to %s in data store %s", len(content), written, slug)
    return str(written)


def _replace_local_file(block: Block, path: str, content: bytes) -> str:
    temporary = f"{path}.partial-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    staged = block.write_path(temporary, content)
    try:
        with open(staged, "rb+") as handle:
            os.fsync(handle.fileno())
        # The temporary name is the target's plus a suffix, in the same folder.
        target = os.path.join(os.path.dirname(staged), os.path.basename(path))
        os.replace(staged, target)
    except BaseException:
        Path(staged).unlink(missing_ok=True)
        raise
    return target


@task(
    retries=2,
    retry_delay_seconds=[2, 10],
    retry_condition_fn=retry_unless_input_error,
    cache_policy=NO_CACHE,
)
def read_from_store(block: Block, slug: str, path: str) -> bytes:
    """Read ``path`` from the data-store block, failing clearly when it is not there."""
    _require_file_system(block, slug)
    try:
        content = block.read_path(path)
    except Exception as exc:  # LocalFileSystem: ValueError; GcsBucket: google NotFound
        if not _is_not_found(exc):
            raise
        raise FlowInputError(
            f"The dataset {path!r} is not in the data store {slug!r}: run the load-data flow "
            "first, or pass the dataset_path it wrote to"
        ) from None
    get_run_logger().info("Read %d bytes from %s in data store %s", len(content), path, slug)
    return content


def _is_not_found(exc: Exception) -> bool:
    if isinstance(exc, FileNotFoundError):
        return True
    if type(exc).__name__ == "NotFound" or getattr(exc, "code", None) == 404:
        return True
    return isinstance(exc, ValueError) and "does not exist" in str(exc)


def parse_dataset(content: bytes, origin: str) -> pd.DataFrame:
    """Parse CSV bytes into a frame with exactly the columns title, text, label.

    Raises :class:`FlowInputError` naming ``origin`` when the file is not a usable dataset.
    """
    if not content.strip():
        raise FlowInputError(f"The dataset from {origin} is empty")
    try:
        frame = pd.read_csv(io.BytesIO(content), dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise FlowInputError(
            f"The dataset from {origin} is not a readable CSV file: {exc}".strip()
        ) from None
    frame.columns = [str(column).strip().lower() for column in frame.columns]
    missing = [column for column in REQUIRED_COLUMNS if column not in frame.columns]
    if missing:
        raise FlowInputError(
            f"The dataset from {origin} lacks the column(s) {', '.join(missing)}: it must be a "
            f"CSV file with the columns {', '.join(REQUIRED_COLUMNS)} "
            f"(found: {', '.join(frame.columns) or 'none'})"
        )
    frame = frame[list(REQUIRED_COLUMNS)].copy()
    frame[LABEL_COLUMN] = frame[LABEL_COLUMN].str.strip()
    unlabelled = frame[LABEL_COLUMN] == ""
    if unlabelled.all():
        raise FlowInputError(f"The dataset from {origin} has no labelled rows")
    frame = frame[~unlabelled].reset_index(drop=True)
    if frame[LABEL_COLUMN].nunique() < 2:
        raise FlowInputError(
            f"The dataset from {origin} has a single label ({frame[LABEL_COLUMN].iloc[0]!r}): "
            "a classifier needs at least two"
        )
    return frame


def dataset_to_csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode("utf-8")


def resolve_tracking_uri(tracking_uri: str | None) -> str:
    """The MLflow tracking URI: the parameter, else ``MLFLOW_TRACKING_URI``, else a clear error."""
    uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI", "")
    if not uri:
        raise FlowInputError(
            "No MLflow tracking server is configured: set MLFLOW_TRACKING_URI in the worker's "
            "environment or pass the tracking_uri parameter"
        )
    return uri


@task(
    retries=2,
    retry_delay_seconds=[5, 15],
    retry_condition_fn=retry_unless_input_error,
    cache_policy=NO_CACHE,
)
def check_tracking_server(uri: str) -> None:
    """For an http(s) tracking URI, fail fast and clearly when the server does not answer.

    (MLflow's own client retries for minutes before it gives up with a urllib3 traceback.)
    """
    if not uri.startswith(("http://", "https://")):
        return
    import httpx

    try:
        response = httpx.get(uri.rstrip("/") + "/health", timeout=10)
    except httpx.HTTPError as exc:
        raise ServiceUnreachableError(
            f"The MLflow tracking server at {uri} does not answer ({exc}): is it running?"
        ) from None
    if response.status_code != 200:
        raise ServiceUnreachableError(
            f"The MLflow tracking server at {uri} answered {response.status_code} to /health"
        )
