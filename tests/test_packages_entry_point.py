"""prefect_stack's ``packages`` entry point on a MINIMAL Debian 13 host (no python3-apt).

Runs the real entry point with ansible-playbook against a throwaway container of the minimal
test image (scripts/build-test-images.sh): in check mode it reports the missing package as a
change without failing (Ansible's apt module refuses check mode there) and installs nothing; run
for real it installs it; a third run makes no apt call at all.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import minimal_instance, run_playbook_json

PLAYBOOK = """
- hosts: all
  gather_facts: false
  tasks:
    - ansible.builtin.import_role:
        name: prefect_stack
        tasks_from: packages.yml
      vars:
        prefect_stack_packages: [python3-venv, bash]
"""


@pytest.fixture
def minimal_host():
    with minimal_instance("prefect-stack-packages") as name:
        yield name


def dpkg_installed(host: str, package: str) -> bool:
    proc = subprocess.run(  # noqa: S603
        ["docker", "exec", host, "dpkg-query", "-W", "-f", "${db:Status-Status}", package],  # noqa: S607
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.stdout == "installed"


def run(tmp_path: Path, host: str, *args: str) -> dict[str, dict]:
    """Run the entry point; return each task's result on the host, by task name."""
    (tmp_path / "packages.yml").write_text(PLAYBOOK)
    # The host's own Python, not the controller venv's that ansible_env() names.
    host_vars = {
        "ansible_connection": "community.docker.docker",
        "ansible_python_interpreter": "auto_silent",
    }
    (tmp_path / "inventory.yml").write_text(json.dumps({"all": {"hosts": {host: host_vars}}}))
    proc, report = run_playbook_json(
        ["-i", str(tmp_path / "inventory.yml"), str(tmp_path / "packages.yml"), *args]
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return {t["task"]["name"]: t["hosts"][host] for t in report["plays"][0]["tasks"]}


def by_prefix(results: dict[str, dict], prefix: str) -> dict:
    return next(r for name, r in results.items() if prefix in name)


def test_check_mode_then_install_then_nothing(tmp_path, minimal_host):
    assert not dpkg_installed(minimal_host, "python3-apt"), "the test image is not minimal"
    assert not dpkg_installed(minimal_host, "python3-venv")

    checked = run(tmp_path, minimal_host, "--check")
    report = by_prefix(checked, "Report the packages that would be installed")
    assert report.get("changed") and report["msg"] == "would install: python3-venv", report
    assert by_prefix(checked, "Install the missing packages").get("skipped"), checked
    assert not dpkg_installed(minimal_host, "python3-venv")

    applied = run(tmp_path, minimal_host)
    assert by_prefix(applied, "Install the missing packages").get("changed"), applied
    assert dpkg_installed(minimal_host, "python3-venv")

    again = run(tmp_path, minimal_host)
    assert by_prefix(again, "Install the missing packages").get("skipped"), again
    assert not any(r.get("changed") for r in again.values()), again
