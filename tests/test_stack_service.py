"""action_plugins/prefect_stack_service.py: a unit already as wanted costs one shell call on the
host (no Python, no reload of systemd); a unit that is stopped, disabled, or whose file changed on
disk goes to the builtin, with its check mode and its reload; what the look cannot confirm
(``restarted``, an unknown unit) is the builtin's to do and to report.

Real ansible-playbook runs over ``community.docker.docker`` with pipelining, as the roles run,
against a throwaway container of the minimal instance image with systemd as PID 1.
"""

from __future__ import annotations

import subprocess

import pytest
from conftest import calls_per_task, run_container_play, systemd_instance

UNIT = (
    "[Unit]\nDescription=probe {n}\n[Service]\nExecStart=/bin/sleep infinity\n"
    "[Install]\nWantedBy=multi-user.target\n"
)


@pytest.fixture(scope="module")
def host():
    with systemd_instance("prefect-stack-service") as name:
        write_unit(name, 1)
        on_host(name, "systemctl daemon-reload")
        yield name


def on_host(host: str, script: str, stdin: str | None = None) -> str:
    proc = subprocess.run(  # noqa: S603
        ["docker", "exec", "-i", host, "sh", "-c", script],  # noqa: S607
        input=stdin, capture_output=True, text=True, check=False,
    )  # fmt: skip
    return proc.stdout.strip()


def write_unit(host: str, n: int) -> None:
    on_host(host, "cat > /etc/systemd/system/probe.service", UNIT.format(n=n))


def unit_state(host: str) -> tuple[str, str, str]:
    return (
        on_host(host, "systemctl is-active probe"),
        on_host(host, "systemctl is-enabled probe"),
        on_host(host, "systemctl show --property=NeedDaemonReload --value probe"),
    )


def run(tmp_path, host, args: dict, *options: str) -> tuple[int, str, int]:
    tasks = [{"name": "the unit", "prefect_stack_service": args}]
    return run_container_play(tmp_path, host, tasks, *options)


WANTED = {"name": "probe", "state": "started", "enabled": True, "daemon_reload": True}


def test_a_unit_as_wanted_costs_one_shell_call_and_no_reload(tmp_path, host):
    rc, output, changed = run(tmp_path, host, WANTED)
    assert (rc, changed) == (0, 1), output[-3000:]
    assert unit_state(host) == ("active", "enabled", "no")

    rc, output, changed = run(tmp_path, host, WANTED)
    assert (rc, changed) == (0, 0), output[-3000:]
    assert calls_per_task(output) == {"the unit": 1}, output[-5000:]
    assert "Using module file" not in output  # neither the module nor its reload ran
    assert '"NeedDaemonReload": "no"' in output


def test_a_unit_file_changed_on_disk_is_reloaded_by_the_builtin(tmp_path, host):
    run(tmp_path, host, WANTED)
    write_unit(host, 2)
    assert unit_state(host)[2] == "yes"
    rc, output, _ = run(tmp_path, host, WANTED)
    assert rc == 0, output[-3000:]
    assert "systemd_service.py" in output, output[-3000:]
    assert unit_state(host) == ("active", "enabled", "no")
    assert on_host(host, "systemctl show --property=Description --value probe") == "probe 2"


@pytest.mark.parametrize(
    ("undo", "wanted"),
    [
        ("systemctl stop probe", ("active", "enabled", "no")),
        ("systemctl disable probe", ("active", "enabled", "no")),
    ],
)
def test_a_stopped_or_disabled_unit_is_planned_then_brought_back(tmp_path, host, undo, wanted):
    run(tmp_path, host, WANTED)
    on_host(host, undo)
    undone = unit_state(host)
    rc, output, changed = run(tmp_path, host, WANTED, "--check")
    assert (rc, changed) == (0, 1), output[-3000:]
    assert unit_state(host) == undone  # check mode changed nothing
    rc, output, changed = run(tmp_path, host, WANTED)
    assert (rc, changed) == (0, 1), output[-3000:]
    assert unit_state(host) == wanted


def test_stopped_and_disabled_is_settled_too(tmp_path, host):
    off = {"name": "probe", "state": "stopped", "enabled": False}
    rc, output, _ = run(tmp_path, host, off)
    assert rc == 0, output[-3000:]
    assert unit_state(host)[:2] == ("inactive", "disabled")
    rc, output, changed = run(tmp_path, host, off)
    assert (rc, changed) == (0, 0), output[-3000:]
    assert calls_per_task(output) == {"the unit": 1}, output[-5000:]
    run(tmp_path, host, WANTED)


def test_what_the_look_cannot_confirm_goes_to_the_builtin(tmp_path, host):
    run(tmp_path, host, WANTED)
    before = on_host(host, "systemctl show --property=MainPID --value probe")
    rc, output, changed = run(tmp_path, host, {"name": "probe", "state": "restarted"})
    assert (rc, changed) == (0, 1), output[-3000:]
    assert on_host(host, "systemctl show --property=MainPID --value probe") != before

    rc, output, _ = run(tmp_path, host, {**WANTED, "name": "no-such-unit"})
    assert rc != 0, output[-3000:]
    assert "no-such-unit" in output and "systemd_service.py" in output, output[-3000:]
