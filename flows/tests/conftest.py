"""Fixtures for the flow tests: a real Prefect API, real blocks, real MLflow, real HTTP servers.

Nothing here mocks pandas, scikit-learn, MLflow or Prefect:

* ``prefect_api``: Prefect's own test harness (a temporary Prefect server with a SQLite database),
  started once for the session;
* ``data_store``: a LocalFileSystem block saved under the flows' default slug
  ``local-file-system/ml-data`` with its basepath in the test's tmp_path;
* ``mlflow_uri``: a SQLite MLflow tracking store and model registry in tmp_path (artifacts land in
  tmp_path too, as the working directory is moved there);
* ``http_server``: a threaded HTTP server on 127.0.0.1 whose routes each test sets.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:  # `import flows` when pytest runs from elsewhere
    sys.path.insert(0, str(REPO_ROOT))

from flows.tests.helpers import LocalHTTPServer  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def prefect_api() -> Iterator[str]:
    """A real, temporary Prefect API for the whole test session; yields its URL."""
    with pytest.MonkeyPatch.context() as patch:
        # The harness server is a subprocess: keep its telemetry quiet and offline.
        patch.setenv("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
        patch.setenv("DO_NOT_TRACK", "true")
        patch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
        from prefect.settings import PREFECT_API_URL
        from prefect.testing.utilities import prefect_test_harness

        with prefect_test_harness(server_startup_timeout=120):
            yield str(PREFECT_API_URL.value())


@pytest.fixture
def data_store(tmp_path: Path) -> Path:
    """Save ``local-file-system/ml-data`` pointing at a fresh directory; return the directory."""
    from prefect.filesystems import LocalFileSystem

    root = tmp_path / "store"
    root.mkdir()
    LocalFileSystem(basepath=str(root)).save("ml-data", overwrite=True)
    return root


@pytest.fixture
def mlflow_uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A SQLite MLflow store in tmp_path; the cwd moves there so ./mlruns artifacts do too."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return f"sqlite:///{tmp_path / 'mlflow.db'}"


@pytest.fixture
def http_server() -> Iterator[LocalHTTPServer]:
    server = LocalHTTPServer()
    server.thread.start()
    try:
        yield server
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()
