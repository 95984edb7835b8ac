"""The roles as deploy_flows.yml's second play runs them: preflight first, then apply."""

from __future__ import annotations

import json
import subprocess

import yaml
from conftest import VENV_BIN, ansible_env
from prefect_server_fixture import free_port

ROLE_SECRET = "role-secret-4c1f9a7e"  # noqa: S105 - a test value that must never be printed
REPO_PLAY = VENV_BIN.parent.parent / "deploy_flows.yml"


def second_play_tasks() -> list:
    """The tasks of deploy_flows.yml's play that applies the objects: exactly what ships."""
    plays = yaml.safe_load(REPO_PLAY.read_text())
    return next(play for play in plays if play["name"].startswith("Apply Prefect objects"))["tasks"]


def run_play(tmp_path, extra_vars: dict, check=False) -> tuple[int, dict, str]:
    """Run the play with -vvv and the JSON callback; asserts the secret never shows."""
    play = [{"hosts": "localhost", "gather_facts": False, "connection": "local",
             "tasks": second_play_tasks()}]  # fmt: skip
    (tmp_path / "play.yml").write_text(json.dumps(play))
    (tmp_path / "vars.json").write_text(json.dumps(extra_vars))
    cmd = [str(VENV_BIN / "ansible-playbook"), "-i", "localhost,", "play.yml",
           "-e", "@vars.json"]  # fmt: skip
    cmd += ["-vvv", "--diff"]
    if check:
        cmd += ["--check"]
    proc = subprocess.run(  # noqa: S603
        cmd, capture_output=True, text=True, cwd=tmp_path, timeout=300,
        env=ansible_env({"ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json"}),
    )  # fmt: skip
    assert ROLE_SECRET not in proc.stdout + proc.stderr
    doc = json.loads(proc.stdout[proc.stdout.index("{") :])
    return proc.returncode, doc, proc.stdout


def objects(server, project_dir, cron="0 0 1 * *", block="t-role-data"):
    return {
        "prefect_api_url": server.api_url,
        "prefect_api_auth_string": server.auth_string,
        "prefect_blocks_register_collections": [],
        "prefect_deployments_project_dir": str(project_dir),
        "prefect_blocks": [
            {"block_type": "local-file-system", "name": block, "data": {"basepath": "/srv"}},
            {"block_type": "secret", "name": f"{block}-secret", "data": {"value": ROLE_SECRET}},
        ],
        "prefect_work_pools": [{"name": "t-role-pool", "type": "process"}],
        "prefect_deployments": [
            {"name": "load-data/t-role", "entrypoint": "flows/load_data.py:load_data",
             "schedules": [{"cron": cron, "timezone": "UTC"}],
             "work_pool": {"name": "t-role-pool"}},
        ],
        # names the deployment declared beside it (in check mode, before it exists)
        "prefect_automations": [
            {"name": f"{block}-after-load", "actions": [
                {"type": "run-deployment", "deployment": "load-data/t-role"}],
             "trigger": {"type": "event", "posture": "Reactive",
                         "expect": ["prefect.flow-run.Failed"],
                         "match": {"prefect.resource.id": "prefect.flow-run.*"},
                         "match_related": {
                             "prefect.resource.id": "prefect.deployment.load-data/t-role"}}},
        ],
    }  # fmt: skip


def test_apply_then_noop(prefect_server, project_dir, tmp_path, writes):
    rc, doc, out = run_play(tmp_path, objects(prefect_server, project_dir))
    assert rc == 0, out[-4000:]
    assert doc["stats"]["localhost"]["changed"] == 4  # blocks, pools, deployments, automations
    assert prefect_server.api("GET", "/deployments/name/load-data/t-role") is not None
    before = len(writes())
    rc, doc, out = run_play(tmp_path, objects(prefect_server, project_dir))
    assert rc == 0, out[-4000:]
    assert doc["stats"]["localhost"]["changed"] == 0
    assert writes()[before:] == []


def test_bad_deployment_fails_before_blocks_are_written(prefect_server, project_dir, tmp_path,
                                                        writes):  # fmt: skip
    before = len(writes())
    bad = objects(prefect_server, project_dir, cron="0 0 1 * * *", block="t-role-never")
    rc, doc, out = run_play(tmp_path, bad)
    assert rc != 0
    assert "deployments[0] (load-data/t-role): schedules[0].cron" in out
    assert writes()[before:] == []
    path = "/block_types/slug/local-file-system/block_documents/name/t-role-never"
    assert prefect_server.api("GET", path) is None


def test_check_mode_without_server_skips(project_dir, tmp_path):
    class Down:
        api_url = f"http://127.0.0.1:{free_port()}/api"
        auth_string = "admin:x"

    rc, doc, out = run_play(tmp_path, objects(Down, project_dir), check=True)
    assert rc == 0, out[-4000:]
    assert "no Prefect API" in out


def test_check_mode_reports_without_writing(prefect_server, project_dir, tmp_path, writes):
    extra = objects(prefect_server, project_dir, block="t-role-check")
    del extra["prefect_blocks_register_collections"]  # default: probe gcs-bucket, present
    extra["prefect_work_pools"] = [{"name": "t-role-check-pool"}]
    extra["prefect_deployments"][0]["name"] = "load-data/t-role-check"
    extra["prefect_deployments"][0]["work_pool"]["name"] = "t-role-check-pool"
    automation = extra["prefect_automations"][0]  # names the deployment about to be created
    automation["actions"][0]["deployment"] = "load-data/t-role-check"
    automation["trigger"]["match_related"]["prefect.resource.id"] += "-check"
    before = len(writes())
    rc, doc, out = run_play(tmp_path, extra, check=True)
    assert rc == 0, out[-4000:]
    # blocks, pools, deployments and automations would change; the automation names a deployment
    # that is declared and not on the server yet: a warning in check mode
    assert doc["stats"]["localhost"]["changed"] == 4
    assert writes()[before:] == []
    assert prefect_server.api("GET", "/work_pools/t-role-check-pool") is None
