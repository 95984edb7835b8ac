"""_common's ``system_account`` entry point, against a throwaway container of the minimal
instance image over ``community.docker.docker`` with pipelining, as the roles run: the group and
the user are created, then a re-run makes one call on the host; a user whose shell, home or
primary group drifted is planned in check mode and put back by the builtins.
"""

from __future__ import annotations

import subprocess

import pytest
from conftest import calls_per_task, minimal_instance, run_container_play

LOOK = "_common : Look up the group and the user svc-data, svc"
GROUP = "_common : Create the group svc-data"
USER = "_common : Create the user svc"


@pytest.fixture(scope="module")
def host():
    with minimal_instance("prefect-stack-account") as name:
        yield name


def on_host(host: str, script: str) -> str:
    return subprocess.run(  # noqa: S603
        ["docker", "exec", host, "sh", "-c", script],  # noqa: S607
        capture_output=True, text=True, check=False,
    ).stdout.strip()  # fmt: skip


def run(tmp_path, host, *options: str, user="svc", group="svc-data") -> tuple[int, str, int]:
    account = {"_common_account_user": user, "_common_account_group": group,
               "_common_account_home": "/var/lib/svc"}  # fmt: skip
    tasks = [{
        "name": "account",
        "ansible.builtin.include_role": {"name": "_common", "tasks_from": "system_account"},
        "vars": account,
    }]  # fmt: skip
    return run_container_play(tmp_path, host, tasks, *options)


def account(host: str) -> str:
    return on_host(
        host, "getent passwd svc | cut -d: -f1,4-; getent group svc-data | cut -d: -f1,3"
    )


def test_created_then_one_call_when_as_wanted(tmp_path, host):
    rc, output, changed = run(tmp_path, host)
    assert (rc, changed) == (0, 2), output[-3000:]
    gid = on_host(host, "getent group svc-data | cut -d: -f3")
    assert account(host) == f"svc:{gid}::/var/lib/svc:/usr/sbin/nologin\nsvc-data:{gid}"
    assert on_host(host, "test -e /var/lib/svc && echo made || echo none") == "none"

    rc, output, changed = run(tmp_path, host)
    assert (rc, changed) == (0, 0), output[-3000:]
    calls = calls_per_task(output)
    assert (calls[LOOK], calls[GROUP], calls[USER]) == (1, 0, 0), output[-5000:]


@pytest.mark.parametrize(
    "drift",
    ["usermod -s /bin/sh svc", "usermod -d /home/elsewhere svc", "usermod -g users svc"],
)
def test_a_drifted_user_is_planned_then_put_back(tmp_path, host, drift):
    run(tmp_path, host)
    wanted = account(host)
    on_host(host, drift)
    drifted = account(host)
    assert drifted != wanted
    rc, output, changed = run(tmp_path, host, "--check", "--diff")
    assert (rc, changed) == (0, 1), output[-3000:]
    assert account(host) == drifted  # check mode changed nothing
    rc, output, changed = run(tmp_path, host)
    assert (rc, changed) == (0, 1), output[-3000:]
    assert account(host) == wanted


def test_a_user_and_group_of_the_same_name_are_told_apart(tmp_path, host):
    rc, output, changed = run(tmp_path, host, user="same", group="same")
    assert (rc, changed) == (0, 2), output[-3000:]
    rc, output, changed = run(tmp_path, host, user="same", group="same")
    assert (rc, changed) == (0, 0), output[-3000:]
    assert calls_per_task(output)["_common : Create the user same"] == 0, output[-5000:]
