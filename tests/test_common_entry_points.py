"""_common's ``directories`` and ``kept_env`` entry points, run for real on this machine.

``directories``: one ``stat`` for every directory; ``file`` only for each one that is missing or
whose mode, owner or group differ, so a re-run that finds them all as wanted makes one call on
the host. ``kept_env``: one call reads every env file, a missing one and a last line without its
newline included.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from conftest import calls_per_task, run_local_play

JSON = {"ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json"}
CREATE = "_common : Create the directories that are missing or differ"


def include(entry_point: str, **variables) -> dict:
    return {
        "name": f"_common {entry_point}",
        "ansible.builtin.include_role": {"name": "_common", "tasks_from": entry_point},
        "vars": variables,
    }


def wanted(root: Path) -> list[dict]:
    return [
        {"path": str(root / "home"), "owner": "root", "group": "root", "mode": "0750"},
        {"path": str(root / "home" / "data"), "owner": "nobody", "group": "nogroup",
         "mode": "0700"},
        {"path": str(root / "config"), "owner": "root", "group": "root", "mode": "0755"},
    ]  # fmt: skip


def run_json(folder: Path, tasks: list[dict], *options: str) -> dict[str, list[dict]]:
    """Each task's results on localhost, by task name (a looped task: its items)."""
    proc, output = run_local_play(folder, tasks, *options, env=JSON)
    assert proc.returncode == 0, output[-3000:]
    report = json.loads(proc.stdout[proc.stdout.index("{") :])
    out = {}
    for task in report["plays"][0]["tasks"]:
        result = task["hosts"].get("localhost", {})
        out[task["task"]["name"]] = result.get("results", [result])
    return out


def state(path: str) -> tuple[str, str, str]:
    st = os.stat(path)
    return (oct(stat.S_IMODE(st.st_mode)), str(st.st_uid), str(st.st_gid))


def changed_paths(results: dict[str, list[dict]]) -> list[str]:
    return [item["item"]["path"] for item in results[CREATE] if item.get("changed")]


def test_directories_are_created_then_cost_one_call(tmp_path):
    root = tmp_path / "tree"
    dirs = wanted(root)
    task = include("directories", _common_directories=dirs)

    dry = run_json(tmp_path, [task], "--check")
    assert changed_paths(dry) == [d["path"] for d in dirs]
    assert not root.exists()

    first = run_json(tmp_path, [task])
    assert changed_paths(first) == [d["path"] for d in dirs]
    nobody, nogroup = os.stat(dirs[1]["path"]).st_uid, os.stat(dirs[1]["path"]).st_gid
    assert state(dirs[0]["path"]) == ("0o750", "0", "0")
    assert oct(stat.S_IMODE(os.stat(dirs[1]["path"]).st_mode)) == "0o700"
    assert (nobody, nogroup) != (0, 0)
    assert state(dirs[2]["path"]) == ("0o755", "0", "0")

    proc, output = run_local_play(tmp_path, [task], "-vvv")
    assert proc.returncode == 0, output[-3000:]
    assert "changed=0" in output, output[-2000:]
    calls = {name: n for name, n in calls_per_task(output).items() if n}
    assert list(calls.values()) == [1], calls  # the stat, and no file call


def test_only_the_directory_that_differs_is_changed(tmp_path):
    root = tmp_path / "tree"
    dirs = wanted(root)
    task = include("directories", _common_directories=dirs)
    run_json(tmp_path, [task])
    os.chmod(dirs[0]["path"], 0o755)  # noqa: S103 - a drift the role must undo
    os.chown(dirs[2]["path"], 65534, 0)

    dry = run_json(tmp_path, [task], "--check", "--diff")
    assert changed_paths(dry) == [dirs[0]["path"], dirs[2]["path"]]
    assert state(dirs[0]["path"])[0] == "0o755"

    fixed = run_json(tmp_path, [task])
    assert changed_paths(fixed) == [dirs[0]["path"], dirs[2]["path"]]
    assert state(dirs[0]["path"]) == ("0o750", "0", "0")
    assert state(dirs[2]["path"]) == ("0o755", "0", "0")
    assert changed_paths(run_json(tmp_path, [task])) == []


def test_kept_env_reads_every_file_in_one_call(tmp_path):
    first, missing, last = tmp_path / "a.env", tmp_path / "gone.env", tmp_path / "b.env"
    first.write_text("POSTGRES_PASSWORD='pw-one'\nOTHER='x y'\n")
    last.write_text("# a comment\nAPI_AUTH='admin:s3cr3t'")  # no newline at its end
    tasks = [
        include("kept_env", _common_env_files=[str(first), str(missing), str(last)]),
        {"name": "show", "ansible.builtin.copy": {
            "content": "{{ _common_kept_env | to_json }}", "dest": str(tmp_path / "kept.json")},
         "no_log": True},
    ]  # fmt: skip
    proc, output = run_local_play(tmp_path, tasks, "-vvv")
    assert proc.returncode == 0, output[-3000:]
    kept = json.loads((tmp_path / "kept.json").read_text())
    assert kept == {"POSTGRES_PASSWORD": "pw-one", "OTHER": "x y", "API_AUTH": "admin:s3cr3t"}
    assert calls_per_task(output)["_common : Read the env files kept on the host"] == 1
    assert "s3cr3t" not in output.replace(str(tmp_path), "")
