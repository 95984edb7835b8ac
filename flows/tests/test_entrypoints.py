"""The deployments' entrypoints load (and run) the way the worker loads them.

A deployment runs ``flows/load_data.py:load_data`` with the working directory set to the project
root (``/opt/prefect-agent/project``): Prefect's ``load_flow_from_entrypoint`` executes the file as
a script with the working directory and the file's folder on ``sys.path``. These tests copy the
package to another directory and load each entrypoint there in a fresh, isolated interpreter
(``python -I``: nothing but Prefect's loader puts the copy on ``sys.path``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

FLOWS_DIR = Path(__file__).resolve().parents[1]
ENTRYPOINTS = {
    "flows/load_data.py:load_data": "load-data",
    "flows/train_model.py:train_model": "train-model",
    "flows/send_requests.py:send_requests": "send-requests",
}

LOAD = """
import json, sys
from prefect.flows import load_flow_from_entrypoint
flows = {entrypoint: load_flow_from_entrypoint(entrypoint) for entrypoint in sys.argv[1:]}
common = sys.modules.get("flows._common") or sys.modules["_common"]
print(json.dumps({
    "names": {entrypoint: flow.name for entrypoint, flow in flows.items()},
    "files": [flow.fn.__code__.co_filename for flow in flows.values()] + [common.__file__],
}))
"""

RUN = """
import json, sys
from prefect.flows import load_flow_from_entrypoint
print(json.dumps(load_flow_from_entrypoint("flows/load_data.py:load_data")()))
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the flows package in a fresh project directory, as the worker has it."""
    root = tmp_path / "project"
    shutil.copytree(FLOWS_DIR, root / "flows", ignore=shutil.ignore_patterns("__pycache__"))
    return root


def python(code: str, *args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603
        [sys.executable, "-I", "-c", code, *args],
        cwd=cwd,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_entrypoints_load_from_the_project_root(project: Path) -> None:
    result = python(LOAD, *ENTRYPOINTS, cwd=project)

    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded["names"] == ENTRYPOINTS
    assert all(Path(file).is_relative_to(project) for file in loaded["files"]), loaded["files"]


def test_entrypoints_load_from_inside_the_flows_folder(project: Path) -> None:
    entrypoints = [entrypoint.removeprefix("flows/") for entrypoint in ENTRYPOINTS]

    result = python(LOAD, *entrypoints, cwd=project / "flows")

    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert sorted(loaded["names"].values()) == sorted(ENTRYPOINTS.values())
    assert all(Path(file).is_relative_to(project) for file in loaded["files"]), loaded["files"]


def test_loaded_entrypoint_runs_against_the_prefect_api(
    project: Path, prefect_api: str, data_store: Path
) -> None:
    result = python(RUN, cwd=project, PREFECT_API_URL=prefect_api)

    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["rows"] == 400
    assert len(pd.read_csv(data_store / "news" / "dataset.csv")) == 400
