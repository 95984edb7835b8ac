"""The worker role ships the flow code by checksum: only what differs is shipped, in one archive.

Runs the role's real ``flows.yml`` entry point with ansible-playbook against this machine (local
connection, a throwaway project folder): a first run ships every file, a second none, and a
changed file, a file whose mode drifted and a removed file are shipped again, without the file
that did not change. Check mode names the files it would ship and writes nothing. Whatever the
number of files, a run ships one archive (one transfer, one module call), and a run that ships
nothing makes no call beyond the two checksum listings.
"""

from __future__ import annotations

import json
from pathlib import Path

from conftest import run_playbook_json

PLAYBOOK = """
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - ansible.builtin.include_role:
        name: prefect_agent
        tasks_from: flows.yml
"""


def ship(tmp_path: Path, src: Path, dest: Path, *args: str) -> list[str]:
    """Run flows.yml; return the relative paths the one archive shipped (none when skipped)."""
    playbook = tmp_path / "ship.yml"
    playbook.write_text(PLAYBOOK)
    extra = {
        "prefect_agent_flows_src": str(src),
        "prefect_agent_project_dir": str(dest),
    }
    proc, report = run_playbook_json([str(playbook), "-e", json.dumps(extra), *args])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    tasks = report["plays"][0]["tasks"]
    unpack = next(
        t for t in tasks if t["task"]["name"].endswith("Unpack the flow files on the host")
    )
    result = unpack["hosts"]["localhost"]
    if "--check" in args:
        assert result.get("skipped"), result
        named = next(t for t in tasks if t["task"]["name"].endswith("would be shipped"))
        named = named["hosts"]["localhost"]
        if named.get("skipped"):
            return []
        assert named["changed"], named
        return sorted(named["msg"].removeprefix("would ship ").replace("flows/", "").split(", "))
    if result.get("skipped"):
        return []
    assert result.get("changed"), result
    return sorted(result["files"])


def test_only_what_differs_is_shipped(tmp_path):
    src = tmp_path / "flows"
    (src / "sub").mkdir(parents=True)
    (src / "tests").mkdir()
    (src / "a.py").write_text("print('a')\n")
    (src / "c.py").write_text("print('c')\n")
    (src / "sub" / "b.py").write_text("print('b')\n")
    (src / "data.bin").write_bytes(bytes(range(256)))
    (src / "tests" / "test_a.py").write_text("excluded\n")
    dest = tmp_path / "project"

    assert ship(tmp_path, src, dest, "--check") == ["a.py", "c.py", "data.bin", "sub/b.py"]
    assert not (dest / "flows").exists()
    assert ship(tmp_path, src, dest) == ["a.py", "c.py", "data.bin", "sub/b.py"]
    assert (dest / "flows" / "data.bin").read_bytes() == bytes(range(256))
    assert not (dest / "flows" / "tests").exists()
    assert ship(tmp_path, src, dest) == []

    (src / "sub" / "b.py").write_text("print('b2')\n")
    (dest / "flows" / "a.py").chmod(0o600)
    (dest / "flows" / "data.bin").unlink()
    assert ship(tmp_path, src, dest, "--check") == ["a.py", "data.bin", "sub/b.py"]
    assert (dest / "flows" / "sub" / "b.py").read_text() == "print('b')\n"
    assert ship(tmp_path, src, dest) == ["a.py", "data.bin", "sub/b.py"]
    assert (dest / "flows" / "sub" / "b.py").read_text() == "print('b2')\n"
    assert oct((dest / "flows" / "a.py").stat().st_mode & 0o777) == "0o644"
    assert ship(tmp_path, src, dest) == []
