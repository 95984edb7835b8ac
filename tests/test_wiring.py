"""The public names reach every role whatever the inventory's location and the playbook's folder.

No instance: a probe play lists every role (each skipped with ``when: false``, so nothing runs and
no host is contacted) and prints what the roles' variables resolve to on a server host and a worker
host. The probe stands where the project's playbooks stand (the top folder, ``playbooks/``) and in
a folder of its own, and runs against the shipped inventory, an inventory outside the repository,
and both at once. The outside inventory sets public names in ``group_vars/all`` and a role variable
in ``host_vars``, as a user would; both must win over the defaults.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

import pytest
import yaml
from conftest import REPO, VENV_BIN

ROLES = sorted(p.parent.parent.name for p in (REPO / "roles").glob("*/meta/main.yml"))
PROBED = {
    "prefect_server_postgres_image": "prefect_server",
    "prefect_server_version": "prefect_server",
    "prefect_agent_api_url": "prefect_agent",
    "prefect_agent_work_pool": "prefect_agent",
    "prefect_agent_prefect_version": "prefect_agent",
    "prefect_agent_extra_env": "prefect_agent",
    "mlflow_model_server_tracking_uri": "mlflow_model_server",
    "mlflow_server_version": "mlflow_server",
    "prefect_backup_postgres_image": "prefect_backup",
    "prefect_blocks_api_url": "prefect_blocks",
    "prefect_deployments_list": "prefect_deployments",
    "prefect_proxy_port": "prefect_proxy",
}
USER_IMAGE = "registry.example.internal/mirror/postgres:17.12-trixie"


def outside_inventory(root: Path) -> Path:
    """A user's inventory in a folder of its own: a server, a worker and public names set."""
    (root / "group_vars" / "all").mkdir(parents=True)
    (root / "host_vars").mkdir()
    local = {"ansible_connection": "local", "ansible_python_interpreter": str(VENV_BIN / "python")}
    inventory = {
        "prefect_server": {"hosts": {"srv.example.internal": local}},
        "prefect_agent": {"hosts": {"srv.example.internal": {}, "w1.example.internal": local}},
    }
    (root / "hosts.yml").write_text(yaml.safe_dump(inventory))
    (root / "group_vars" / "all" / "prefect.yml").write_text(
        yaml.safe_dump(
            {
                "prefect_postgres_image": USER_IMAGE,
                "prefect_version": "3.9.1",
                "prefect_work_pool_name": "prod-pool",
                "prefect_https_port": 8443,
                "prefect_deployments": [{"name": "only/this", "entrypoint": "flows/x.py:f"}],
            }
        )
    )
    (root / "host_vars" / "w1.example.internal.yml").write_text(
        yaml.safe_dump({"prefect_agent_work_pool": "gpu-pool"})
    )
    return root / "hosts.yml"


def probe_play() -> list:
    tasks = [{"name": f"print {name}", "ansible.builtin.debug": {"var": name}} for name in PROBED]
    roles = [{"role": role, "when": False} for role in ROLES]
    return [{"hosts": "all", "gather_facts": False, "roles": roles, "tasks": tasks}]


def run_probe(folder: Path, inventories: list[Path]) -> dict[str, dict]:
    """Runs the probe from ``folder``; returns {host: {variable: value}}."""
    probe = folder / f"wiring-probe-{uuid.uuid4().hex[:8]}.yml"
    probe.write_text(json.dumps(probe_play()))
    try:
        cmd = [str(VENV_BIN / "ansible-playbook"), str(probe)]
        for inventory in inventories:
            cmd += ["-i", str(inventory)]
        env = {
            "PATH": f"{VENV_BIN}:/usr/bin:/bin",
            "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
            "ANSIBLE_LOCALHOST_WARNING": "false",
            "ANSIBLE_NOCOLOR": "1",
        }
        # The repository's ansible.cfg, as a user running from the checkout has it.
        proc = subprocess.run(  # noqa: S603
            cmd, capture_output=True, text=True, cwd=REPO, env=env, timeout=300
        )
    finally:
        probe.unlink()
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    doc = json.loads(proc.stdout[proc.stdout.index("{") :])
    seen: dict[str, dict] = {}
    for task in doc["plays"][0]["tasks"]:
        for host, result in task["hosts"].items():
            for name in PROBED:
                if name in result:
                    seen.setdefault(host, {})[name] = result[name]
    return seen


@pytest.fixture(scope="module")
def user_inventory(tmp_path_factory) -> Path:
    return outside_inventory(tmp_path_factory.mktemp("my-inventories") / "prod")


@pytest.fixture(params=["top", "playbooks", "elsewhere"])
def probe_folder(request, tmp_path):
    if request.param == "top":
        return REPO
    if request.param == "playbooks":
        return REPO / "playbooks"
    folder = tmp_path / "my-playbooks"
    folder.mkdir()
    return folder


def test_outside_inventory_reaches_every_role(user_inventory, probe_folder):
    seen = run_probe(probe_folder, [user_inventory])
    server, worker = seen["srv.example.internal"], seen["w1.example.internal"]
    for host in (server, worker):
        assert set(host) == set(PROBED), f"undefined: {set(PROBED) - set(host)}"
        assert host["prefect_server_postgres_image"] == USER_IMAGE
        assert host["prefect_backup_postgres_image"] == USER_IMAGE
        assert host["prefect_deployments_list"] == [
            {"name": "only/this", "entrypoint": "flows/x.py:f"}
        ]
        assert host["prefect_proxy_port"] == 8443
        assert host["prefect_server_version"] == host["prefect_agent_prefect_version"] == "3.9.1"
    # The server host talks to its own containers; every other host goes through the front door.
    assert server["prefect_agent_api_url"] == "http://127.0.0.1:4200/api"
    assert worker["prefect_agent_api_url"] == "https://srv.example.internal:8443/api"
    assert worker["mlflow_model_server_tracking_uri"] == "https://srv.example.internal:8443/mlflow"
    assert worker["prefect_agent_extra_env"]["MLFLOW_TRACKING_URI"] == (
        "https://srv.example.internal:8443/mlflow"
    )
    assert worker["prefect_blocks_api_url"] == "https://srv.example.internal:8443/api"
    # The public pool name from group_vars/all, and the role variable from host_vars on w1.
    assert server["prefect_agent_work_pool"] == "prod-pool"
    assert worker["prefect_agent_work_pool"] == "gpu-pool"


def test_shipped_inventory_and_several_inventories(user_inventory):
    shipped = run_probe(REPO, [REPO / "inventory" / "hosts.yml"])["localhost"]
    assert shipped["prefect_server_postgres_image"] == "docker.io/library/postgres:17.12-trixie"
    assert shipped["prefect_agent_api_url"] == "http://127.0.0.1:4200/api"
    assert shipped["prefect_agent_work_pool"] == "default-process-pool"
    assert [d["name"] for d in shipped["prefect_deployments_list"]] == [
        "load-data/main",
        "train-model/main",
        "send-requests/main",
    ]
    both = run_probe(REPO / "playbooks", [REPO / "inventory" / "hosts.yml", user_inventory])
    assert both["w1.example.internal"]["prefect_agent_work_pool"] == "gpu-pool"
    assert both["localhost"]["prefect_server_postgres_image"] == USER_IMAGE


def test_no_vars_folder_beside_the_playbooks():
    """group_vars beside a playbook would outrank the user's inventory group_vars/all."""
    for folder in (REPO, REPO / "playbooks"):
        for name in ("group_vars", "host_vars"):
            assert not (folder / name).exists(), f"{folder / name} shadows the user's inventory"


# _common is internal: its callers pass every name it reads.
@pytest.mark.parametrize(
    "role", [r for r in ROLES if r not in ("_common", "docker", "prefect_stack")]
)
def test_every_role_depends_on_the_interface(role):
    meta = yaml.safe_load((REPO / "roles" / role / "meta" / "main.yml").read_text())
    assert {"role": "prefect_stack"} in meta["dependencies"]
    # A wired name the role defined itself would win over the wiring.
    defaults = yaml.safe_load((REPO / "roles" / role / "defaults" / "main.yml").read_text()) or {}
    wiring = yaml.safe_load(
        (REPO / "roles" / "prefect_stack" / "defaults" / "main" / "wiring.yml").read_text()
    )
    assert not set(defaults) & set(wiring), set(defaults) & set(wiring)


@pytest.mark.parametrize("role", ROLES)
def test_argument_specs_document_every_default_and_wired_name(role):
    root = REPO / "roles" / role
    spec = yaml.safe_load((root / "meta" / "argument_specs.yml").read_text())["argument_specs"]
    options = {n: o for entry in spec.values() for n, o in (entry.get("options") or {}).items()}
    # A required option (an entry point's argument, e.g. prefect_stack_packages) has no default.
    required = {n for n, o in options.items() if o.get("required")}
    documented = set(options) - required
    files = [root / "defaults" / "main.yml"] + sorted((root / "defaults" / "main").glob("*.yml"))
    defined = {name for f in files if f.exists() for name in yaml.safe_load(f.read_text()) or {}}
    wiring = yaml.safe_load(
        (REPO / "roles" / "prefect_stack" / "defaults" / "main" / "wiring.yml").read_text()
    )
    if role != "prefect_stack":
        defined |= {name for name in wiring if name.startswith(role + "_")}
    else:
        defined -= set(wiring)
    assert defined - documented == set(), "defined but not in meta/argument_specs.yml"
    assert documented - defined == set(), "documented but defined nowhere"
    assert required & defined == set(), "required, yet given a default"
