"""action_plugins/prefect_stack_file.py: a file already as wanted costs one shell call on the host
(no Python) and is left alone; any difference (content, mode, owner) is written by the builtin,
with its check mode, diff and validate; a host whose ``stat`` is not GNU's is looked at with the
``stat`` module instead; bad options fail before anything is written; content never shows.

Real ansible-playbook runs on this machine (local connection, pipelining on, as the roles run),
on files under the test's temporary folder. Calls on the host are counted from ``-vvv``'s EXEC
lines.
"""

from __future__ import annotations

import os
import pwd
import re

import pytest
from conftest import calls_per_task, run_local_play

SECRET = "stack-file-secret-7f3a91"  # noqa: S105 - planted, to prove it never shows
RECAP = re.compile(r"ok=\d+\s+changed=(\d+)\s+unreachable=0\s+failed=(\d+)")


def run(folder, tasks, *options, verbose=False, env=None):
    """One play of ``tasks`` on localhost; returns (rc, output, changed, failed)."""
    proc, output = run_local_play(
        folder, tasks, *options, *(["-vvv"] if verbose else []),
        play_vars={"target": str(folder / "out"), "who": "world"}, env=env,
    )  # fmt: skip
    recap = RECAP.search(output)
    assert recap, output[-3000:]
    return proc.returncode, output, int(recap.group(1)), int(recap.group(2))


def task(name, **args):
    return {"name": name, "prefect_stack_file": {"owner": "root", "group": "root", **args}}


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "greeting.j2").write_text("hello {{ who }}\n")
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "script.sh").write_text("#!/bin/sh\necho hi\n")
    (tmp_path / "out").mkdir()
    return tmp_path


TASKS = [
    task("from a template", template="greeting.j2", dest="{{ target }}/greeting", mode="0644"),
    task("from content", content=f"token={SECRET}\n", dest="{{ target }}/env", mode="0600"),
    task("from a file", src="script.sh", dest="{{ target }}/script.sh", mode="0755"),
]


def state(folder) -> dict[str, tuple]:
    found = {}
    for name in ("greeting", "env", "script.sh"):
        path = folder / "out" / name
        info = path.stat()
        found[name] = (path.read_text(), oct(info.st_mode & 0o7777), info.st_uid, info.st_mtime_ns)
    return found


def test_a_file_as_wanted_costs_one_call_and_is_not_touched(folder):
    rc, output, changed, _ = run(folder, TASKS)
    assert (rc, changed) == (0, 3), output[-3000:]
    before = state(folder)
    assert before["greeting"][:2] == ("hello world\n", "0o644")
    assert before["env"][1] == "0o600" and before["script.sh"][1] == "0o755"

    rc, output, changed, _ = run(folder, TASKS, verbose=True)
    assert (rc, changed) == (0, 0), output[-3000:]
    # one look each: no home lookup, no temporary directory, no file module, no Python
    assert calls_per_task(output) == {t["name"]: 1 for t in TASKS}, output[-5000:]
    assert "ansible-tmp-" not in output
    assert "Using module file" not in output
    assert state(folder) == before
    assert SECRET not in output


def test_a_name_the_shell_would_split_is_looked_at_as_it_is(folder):
    odd = '{{ target }}/it\'s a | "name"\nwith a newline'
    tasks = [task("odd name", content="odd\n", dest=odd, mode="0640")]
    assert run(folder, tasks)[2] == 1
    rc, output, changed, _ = run(folder, tasks, verbose=True)
    assert (rc, changed) == (0, 0), output[-3000:]
    assert calls_per_task(output) == {"odd name": 1}, output[-5000:]
    (written,) = [p for p in (folder / "out").iterdir() if p.name.startswith("it's")]
    assert written.name == 'it\'s a | "name"\nwith a newline'
    written.write_text("edited\n")
    rc, output, changed, _ = run(folder, tasks)
    assert (rc, changed) == (0, 1), output[-3000:]
    assert written.read_text() == "odd\n"


def test_a_stat_that_is_not_gnu_falls_back_to_the_module(folder):
    run(folder, TASKS)
    before = state(folder)
    fake = folder / "bin"
    fake.mkdir()
    (fake / "stat").write_text("#!/bin/sh\necho 'stat: unrecognized option --printf' >&2\nexit 1\n")
    (fake / "stat").chmod(0o755)
    path = {"PATH": f"{fake}:{os.environ['PATH']}"}
    rc, output, changed, _ = run(folder, TASKS, verbose=True, env=path)
    assert (rc, changed) == (0, 0), output[-3000:]
    # the look that failed, then the stat module
    assert calls_per_task(output) == {t["name"]: 2 for t in TASKS}, output[-5000:]
    assert state(folder) == before
    (folder / "out" / "greeting").write_text("changed behind our back\n")
    rc, output, changed, _ = run(folder, TASKS, env=path)
    assert (rc, changed) == (0, 1), output[-3000:]
    assert (folder / "out" / "greeting").read_text() == "hello world\n"


def test_a_symbolic_link_at_dest_goes_to_the_builtin(folder):
    target = folder / "out" / "real"
    target.write_text("hello world\n")
    (folder / "out" / "greeting").symlink_to(target)
    tasks = [TASKS[0]]
    rc, output, changed, _ = run(folder, tasks, "--check", verbose=True)
    assert rc == 0, output[-3000:]
    assert calls_per_task(output)["from a template"] > 1, output[-5000:]


def test_each_difference_is_planned_then_written_by_the_builtin(folder):
    run(folder, TASKS)
    (folder / "out" / "greeting").write_text("hello there\n")
    os.chmod(folder / "out" / "env", 0o644)
    nobody = pwd.getpwnam("nobody")
    os.chown(folder / "out" / "script.sh", nobody.pw_uid, -1)
    edited = state(folder)

    rc, output, changed, _ = run(folder, TASKS, "--check", "--diff")
    assert (rc, changed) == (0, 3), output[-3000:]
    assert "-hello there\n+hello world" in output, output[-3000:]
    assert state(folder) == edited  # check mode wrote nothing

    rc, output, changed, _ = run(folder, TASKS)
    assert (rc, changed) == (0, 3), output[-3000:]
    after = state(folder)
    assert after["greeting"][0] == "hello world\n"
    assert after["env"][1] == "0o600"
    assert after["script.sh"][2] == 0
    assert SECRET not in output

    rc, output, changed, _ = run(folder, TASKS)
    assert (rc, changed) == (0, 0), output[-3000:]


def test_options_one_stat_cannot_confirm_go_to_the_builtin(folder):
    tasks = [task("symbolic mode", content="a\n", dest="{{ target }}/symbolic", mode="u=rw,g=r,o=")]
    assert run(folder, tasks)[2] == 1
    rc, output, changed, _ = run(folder, tasks, verbose=True)
    assert (rc, changed) == (0, 0), output[-3000:]
    assert calls_per_task(output)["symbolic mode"] > 1  # the builtin's own checks ran
    assert oct((folder / "out" / "symbolic").stat().st_mode & 0o777) == "0o640"


def test_a_change_that_fails_validation_leaves_the_file(folder):
    good = [task("config", content="fine\n", dest="{{ target }}/config", mode="0644")]
    run(folder, good)
    bad = [
        {
            **good[0],
            "prefect_stack_file": {
                **good[0]["prefect_stack_file"],
                "content": "bad\n",
                "validate": "grep -q fine %s",
            },
        }
    ]
    rc, output, _, failed = run(folder, bad)
    assert rc != 0 and failed == 1, output[-3000:]
    assert "failed to validate" in output
    assert (folder / "out" / "config").read_text() == "fine\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"template": "greeting.j2", "content": "x"}, "template, src and content are mutually"),
        ({"template": "missing.j2"}, "missing.j2"),
        ({"src": "missing.sh"}, "missing.sh"),
    ],
)
def test_bad_options_fail_naming_them_and_write_nothing(folder, args, message):
    rc, output, _, failed = run(folder, [task("bad", dest="{{ target }}/bad", **args)])
    assert rc != 0 and failed == 1, output[-3000:]
    assert message in output, output[-3000:]
    assert not (folder / "out" / "bad").exists()
