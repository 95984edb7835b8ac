"""action_plugins/prefect_stack_probe.py: a read-only command in one shell call on the host, no
Python started there; argv and stdin reach the command exactly as given, whatever the shell would
make of them; stdout and stderr stay apart; a failing command fails the task unless failed_when
says otherwise; it runs in check mode and never reports a change; a bad option fails naming it
before the host is asked.

Real ansible-playbook runs on this machine (local connection, pipelining on, as the roles run).
"""

from __future__ import annotations

import json
import re

import pytest
from conftest import calls_per_task, run_local_play

RECAP = re.compile(r"ok=(\d+)\s+changed=(\d+)\s+unreachable=0\s+failed=(\d+)")
AWKWARD = ["it's", 'a "quoted" $HOME', "`date`", "line one\nline two", "*", "-n", "<<EOF"]


def run(tmp_path, tasks, *options):
    proc, output = run_local_play(tmp_path, tasks, "-vvv", *options)
    recap = RECAP.search(output)
    assert recap, output[-3000:]
    return proc.returncode, output, tuple(int(n) for n in recap.groups())


def probe(name, register=None, **args):
    task = {"name": name, "prefect_stack_probe": args}
    if register:
        task["register"] = register
    return task


def show(var, expression):
    return {
        "name": f"show {var}",
        "ansible.builtin.debug": {"msg": "{{ " + expression + " | to_json }}"},
    }


def shown(output, var):
    """The value the show task printed (as JSON, inside debug's own JSON string)."""
    block = output.split(f"TASK [show {var}]", 1)[1]
    return json.loads(json.loads(re.search(r'"msg": (.*)', block).group(1)))


def test_words_and_stdin_reach_the_command_as_given_in_one_call(tmp_path):
    stdin = "first 'line'\n$PATH `id` \\n\nEOF\nlast"
    tasks = [
        probe("words", "words", argv=["printf", "%s|", *AWKWARD]),
        probe("stdin", "piped", argv=["cat"], stdin=stdin),
        probe("both streams", "streams", argv=["sh", "-c", "echo out; echo err >&2"]),
        probe("in a folder", "here", argv=["pwd"], chdir=str(tmp_path)),
        show("words", "words.stdout"),
        show("piped", "piped.stdout"),
        show("streams", "[streams.stdout, streams.stderr, streams.rc, streams.changed]"),
        show("here", "here.stdout"),
    ]
    rc, output, (ok, changed, failed) = run(tmp_path, tasks)
    assert (rc, changed, failed) == (0, 0, 0), output[-3000:]
    assert shown(output, "words") == "|".join(AWKWARD) + "|"
    assert shown(output, "piped") == stdin
    assert shown(output, "streams") == ["out", "err", 0, False]
    assert shown(output, "here") == str(tmp_path)
    calls = calls_per_task(output)
    assert [calls[name] for name in ("words", "stdin", "both streams", "in a folder")] == [1] * 4
    assert "Using module file" not in output  # no module: no Python on the host


def test_a_failing_command_fails_the_task_unless_failed_when_says_otherwise(tmp_path):
    rc, output, (_, _, failed) = run(
        tmp_path, [probe("fails", argv=["sh", "-c", "echo no >&2; exit 3"])]
    )
    assert rc != 0 and failed == 1, output[-3000:]
    assert "non-zero return code 3" in output

    allowed = {
        **probe("allowed", "result", argv=["sh", "-c", "exit 1"]),
        "failed_when": "result.rc > 1",
    }
    rc, output, (_, changed, failed) = run(tmp_path, [allowed, show("result", "result.rc")])
    assert (rc, changed, failed) == (0, 0, 0), output[-3000:]
    assert shown(output, "result") == 1


def test_it_runs_in_check_mode_and_changes_nothing_it_reports(tmp_path):
    marker = tmp_path / "ran"
    tasks = [probe("touches", "touched", argv=["sh", "-c", f"echo yes > {marker}; echo done"])]
    rc, output, (_, changed, failed) = run(
        tmp_path, [*tasks, show("touched", "touched.stdout")], "--check"
    )
    assert (rc, changed, failed) == (0, 0, 0), output[-3000:]
    assert marker.read_text() == "yes\n"  # it ran: a probe is trusted to only read
    assert shown(output, "touched") == "done"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"argv": ["true"], "creates": "/etc/hostname"}, "unknown option(s) creates"),
        ({"cmd": "true"}, "unknown option(s) cmd"),
        ({"argv": "true"}, "argv must be a non-empty list of words"),
        ({"argv": []}, "argv must be a non-empty list of words"),
    ],
)
def test_bad_options_fail_naming_them_before_the_host_is_asked(tmp_path, args, message):
    rc, output, (_, _, failed) = run(tmp_path, [probe("bad", **args)])
    assert rc != 0 and failed == 1, output[-3000:]
    assert message in output, output[-3000:]
    assert calls_per_task(output) == {"bad": 0}, output[-3000:]
