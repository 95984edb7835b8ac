"""The downgrade guards of site.yml's first play (prefect_server and prefect_agent preflight).

Run for real through ansible-playbook on localhost: the server's against a version file and a
real Docker volume, the worker's against this repository's own virtualenv.
"""

from __future__ import annotations

import importlib.metadata
import json
import shutil
import subprocess
import uuid

import pytest
from conftest import VENV_BIN, ansible_env

VENV_PREFECT = importlib.metadata.version("prefect")


def run_preflight(tmp_path, role: str, extra_vars: dict) -> tuple[int, str]:
    task = {"ansible.builtin.include_role": {"name": role, "tasks_from": "preflight.yml"}}
    play = [{"hosts": "localhost", "gather_facts": False, "connection": "local", "tasks": [task]}]
    (tmp_path / "play.yml").write_text(json.dumps(play))
    (tmp_path / "vars.json").write_text(json.dumps(extra_vars))
    proc = subprocess.run(  # noqa: S603
        [str(VENV_BIN / "ansible-playbook"), "-i", "localhost,", "play.yml", "-e", "@vars.json"],
        capture_output=True, text=True, cwd=tmp_path, timeout=120, env=ansible_env(),
    )  # fmt: skip
    return proc.returncode, proc.stdout + proc.stderr


@pytest.fixture
def server_project(tmp_path):
    """A project dir whose version file says 3.9.1, and the data volume it belongs to."""
    if not shutil.which("docker"):
        pytest.skip("needs the Docker CLI and engine")
    name = f"t-guard-{uuid.uuid4().hex[:8]}"
    subprocess.run(["docker", "volume", "create", f"{name}_postgres-data"], check=True,  # noqa: S603,S607
                   capture_output=True)  # fmt: skip
    project = tmp_path / "project"
    project.mkdir()
    (project / "prefect-version").write_text("3.9.1\n")
    yield {"prefect_server_project_name": name, "prefect_server_project_dir": str(project)}
    subprocess.run(["docker", "volume", "rm", f"{name}_postgres-data"], capture_output=True)  # noqa: S603,S607


@pytest.mark.parametrize(
    ("version", "allow", "refused"),
    [
        ("3.8.4", False, True),
        ("3.8.4", True, False),
        ("3.9.1", False, False),
        ("3.10.0", False, False),  # a version comparison, not a string one
    ],
)
def test_server_guard(tmp_path, server_project, version, allow, refused):
    rc, out = run_preflight(tmp_path, "prefect_server", {
        **server_project, "prefect_server_version": version,
        "prefect_server_allow_downgrade": allow})  # fmt: skip
    assert (rc != 0) == refused, out[-3000:]
    if refused:
        assert "Refusing to downgrade the Prefect server from 3.9.1 to 3.8.4" in out
        assert "(prefect_version / prefect_server_version)" in out
        assert "-e prefect_allow_downgrade=true" in out


def test_server_guard_ignores_the_version_of_a_removed_volume(tmp_path, server_project):
    subprocess.run(["docker", "volume", "rm", f"{server_project['prefect_server_project_name']}"  # noqa: S603,S607
                    "_postgres-data"], check=True, capture_output=True)  # fmt: skip
    rc, out = run_preflight(tmp_path, "prefect_server", {
        **server_project, "prefect_server_version": "3.8.4"})  # fmt: skip
    assert rc == 0, out[-3000:]


def test_server_guard_names_a_bad_version(tmp_path, server_project):
    rc, out = run_preflight(tmp_path, "prefect_server", {
        **server_project, "prefect_server_version": "latest"})  # fmt: skip
    assert rc != 0
    assert "prefect_server_version (prefect_version in group_vars) must be a Prefect release" in out


@pytest.mark.parametrize(
    ("version", "allow", "refused"),
    [("3.0.0", False, True), ("3.0.0", True, False), (VENV_PREFECT, False, False)],
)
def test_agent_guard(tmp_path, version, allow, refused):
    rc, out = run_preflight(tmp_path, "prefect_agent", {
        "prefect_agent_venv": str(VENV_BIN.parent), "prefect_agent_prefect_version": version,
        "prefect_agent_allow_downgrade": allow})  # fmt: skip
    assert (rc != 0) == refused, out[-3000:]
    if refused:
        assert f"Refusing to downgrade the worker's Prefect from {VENV_PREFECT} to 3.0.0" in out
        assert "(prefect_version / prefect_agent_prefect_version)" in out
