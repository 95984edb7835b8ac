"""Our modules and action plugins under Mitogen (``ANSIBLE_STRATEGY=mitogen_linear``).

Mitogen runs each module inside one long-lived interpreter per host and sends it only the
``module_utils`` it finds imported by the module's top-level code; an import made inside a
function is not sent, and the module fails on the host where Ansible's own payload would have
carried it. So every module of library/ runs here for real, against the real server, in one play
under Mitogen, and the play proves Mitogen ran the tasks (not a silent fall-back to Ansible's own
execution). The scenario ``default`` runs ``site.yml`` under Mitogen on its three hosts.
"""

from __future__ import annotations

import re

from conftest import REPO, run_local_play

MODULES = sorted(path.stem for path in (REPO / "library").glob("*.py"))
# each module's list of objects, given empty: the module starts, reads the server and plans nothing
EMPTY = {
    "prefect_automations": {"automations": []},
    "prefect_blocks": {"blocks": []},
    "prefect_concurrency_limits": {"global_limits": [], "task_run_limits": []},
    "prefect_deployments": {"deployments": [], "project_dir": str(REPO / "flows")},
    "prefect_plan": {"kinds": {"prefect_automations": {"automations": []}}},
    "prefect_variables": {"variables": []},
    "prefect_work_pools": {"work_pools": []},
    "prefect_work_queues": {"work_queues": []},
}
MITOGEN = {"ANSIBLE_STRATEGY": "mitogen_linear"}


def test_every_module_is_listed():
    assert sorted(EMPTY) == MODULES


def recap(output: str) -> tuple[int, ...]:
    pattern = r"localhost\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)"
    found = re.search(pattern, output)
    assert found, output[-3000:]
    return tuple(int(n) for n in found.groups())


PARENT = {"ansible.builtin.shell": "tr '\\0' ' ' < /proc/$PPID/cmdline", "register": "parent",
          "changed_when": False}  # fmt: skip
NOT_UNDER_MITOGEN = {
    "ansible.builtin.assert": {"that": "parent.stdout is not search('[(]mitogen:')"}
}


def test_the_modules_and_actions_run_under_mitogen(tmp_path, prefect_server):
    common = {"api_url": prefect_server.api_url, "api_auth_string": prefect_server.auth_string}
    dest = tmp_path / "written.txt"
    written = {"content": "one\n", "dest": str(dest), "mode": "0640"}
    tasks = [
        # A module's parent process is the interpreter Mitogen keeps, named "python(mitogen:...)".
        PARENT,
        *(
            {"name": module, module: {**common, **EMPTY[module]}, "check_mode": True}
            for module in MODULES
        ),
        {
            "name": "uri",
            "prefect_stack_uri": {
                "url": f"{prefect_server.api_url}/health",
                "return_content": True,
                "headers": {"Authorization": "Basic {{ auth | b64encode }}"},
            },
            "vars": {"auth": prefect_server.auth_string},
            "register": "health",
        },
        {"name": "file", "prefect_stack_file": written},
        {"name": "file again", "prefect_stack_file": written},
        {
            "name": "probe",
            "prefect_stack_probe": {"argv": ["cat"], "stdin": "it's $HOME\n"},
            "register": "probed",
        },
        {
            "ansible.builtin.assert": {
                "that": [
                    "parent.stdout is search('[(]mitogen:')",
                    "health.json == true",
                    'probed.stdout == "it\'s $HOME"',
                ]
            }
        },
    ]
    proc, output = run_local_play(tmp_path, tasks, env=MITOGEN)
    assert proc.returncode == 0, output[-4000:]
    # the first prefect_stack_file writes; everything else changes nothing
    assert recap(output) == (len(tasks), 1, 0, 0), output[-4000:]
    assert dest.read_text() == "one\n"
    assert dest.stat().st_mode & 0o777 == 0o640


def test_the_proof_fails_without_mitogen(tmp_path):
    """Without Mitogen, a module's parent is not a Mitogen context: the assertion above can fail."""
    proc, output = run_local_play(tmp_path, [PARENT, NOT_UNDER_MITOGEN])
    assert proc.returncode == 0, output[-4000:]


def test_a_full_connection_name_runs_without_mitogen(tmp_path):
    """Mitogen carries only the short names (ssh, docker, local); a full name such as
    ansible.builtin.local runs as without it (strategy_plugins/mitogen_linear.py says so)."""
    full_name = {"ansible_connection": "ansible.builtin.local"}
    proc, output = run_local_play(
        tmp_path, [PARENT, NOT_UNDER_MITOGEN], env=MITOGEN, play_vars=full_name
    )
    assert proc.returncode == 0, output[-4000:]
