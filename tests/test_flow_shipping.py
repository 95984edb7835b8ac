"""The worker role ships the flow code by checksum: only what differs is copied.

Runs the role's real ``flows.yml`` entry point with ansible-playbook against this machine (local
connection, a throwaway project folder): a first run copies every file, a second copies none, and
a changed file, a file whose mode drifted and a removed file are each copied again, alone. The
copy runs only for those (the others are skipped, no module call), which keeps a no-op run fast.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from conftest import REPO, VENV_BIN

PLAYBOOK = """
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - ansible.builtin.include_role:
        name: prefect_agent
        tasks_from: flows.yml
"""


def ship(tmp_path: Path, src: Path, dest: Path) -> list[str]:
    """Run flows.yml; return the relative paths the copy task ran for (each one must change)."""
    playbook = tmp_path / "ship.yml"
    playbook.write_text(PLAYBOOK)
    env = {
        **os.environ,
        "ANSIBLE_ROLES_PATH": str(REPO / "roles"),
        "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
        "ANSIBLE_LOCALHOST_WARNING": "false",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
    }
    extra = {
        "prefect_agent_flows_src": str(src),
        "prefect_agent_project_dir": str(dest),
        "ansible_python_interpreter": str(VENV_BIN / "python"),
    }
    proc = subprocess.run(  # noqa: S603
        [str(VENV_BIN / "ansible-playbook"), str(playbook), "-e", json.dumps(extra)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    tasks = json.loads(proc.stdout)["plays"][0]["tasks"]
    copy = next(t for t in tasks if t["task"]["name"].endswith("Copy the flow files"))
    items = [i for i in copy["hosts"]["localhost"].get("results", []) if not i.get("skipped")]
    assert all(i.get("changed") for i in items), items
    return sorted(i["item"]["path"] for i in items)


def test_only_what_differs_is_copied(tmp_path):
    src = tmp_path / "flows"
    (src / "sub").mkdir(parents=True)
    (src / "tests").mkdir()
    (src / "a.py").write_text("print('a')\n")
    (src / "sub" / "b.py").write_text("print('b')\n")
    (src / "data.bin").write_bytes(bytes(range(256)))
    (src / "tests" / "test_a.py").write_text("excluded\n")
    dest = tmp_path / "project"

    assert ship(tmp_path, src, dest) == ["a.py", "data.bin", "sub/b.py"]
    assert (dest / "flows" / "data.bin").read_bytes() == bytes(range(256))
    assert not (dest / "flows" / "tests").exists()
    assert ship(tmp_path, src, dest) == []

    (src / "sub" / "b.py").write_text("print('b2')\n")
    (dest / "flows" / "a.py").chmod(0o600)
    (dest / "flows" / "data.bin").unlink()
    assert ship(tmp_path, src, dest) == ["a.py", "data.bin", "sub/b.py"]
    assert (dest / "flows" / "sub" / "b.py").read_text() == "print('b2')\n"
    assert oct((dest / "flows" / "a.py").stat().st_mode & 0o777) == "0o644"
    assert ship(tmp_path, src, dest) == []
