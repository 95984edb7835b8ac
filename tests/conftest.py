"""Session fixtures: a REAL Prefect server (Postgres-backed) and a runner for our modules.

The modules run for real through ``ansible-playbook`` against localhost, pointed at the server
through a recording loopback proxy, so each test can assert exactly which write calls a run made.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import textwrap
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from inprocess import run_module  # noqa: E402
from prefect_server_fixture import PrefectTestServer  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = REPO / ".venv" / "bin"
MINIMAL_IMAGE = os.environ.get(
    "MOLECULE_MINIMAL_INSTANCE_IMAGE", "prefect-stack/debian13-minimal:latest"
)


@contextlib.contextmanager
def minimal_instance(prefix: str):
    """A throwaway container of the minimal instance image (scripts/build-test-images.sh)."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    subprocess.run(  # noqa: S603
        ["docker", "run", "--detach", "--name", name, MINIMAL_IMAGE, "sleep", "900"],  # noqa: S607
        check=True,
        capture_output=True,
    )
    try:
        yield name
    finally:
        subprocess.run(["docker", "rm", "--force", name], check=False, capture_output=True)  # noqa: S603,S607


@contextlib.contextmanager
def systemd_instance(prefix: str):
    """A throwaway container of the minimal instance image with systemd as PID 1, started as
    molecule/shared/create.yml starts the scenarios' hosts; waits until systemd is up."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    subprocess.run(  # noqa: S603
        ["docker", "run", "--detach", "--name", name, "--tty", "--cap-add", "ALL",  # noqa: S607
         "--cap-drop", "SYS_RESOURCE", "--security-opt", "seccomp=unconfined",
         "--security-opt", "apparmor=unconfined", "--cgroupns", "host",
         "--volume", "/sys/fs/cgroup:/sys/fs/cgroup:rw", "--tmpfs", "/run", "--tmpfs", "/run/lock",
         "--env", "container=docker", MINIMAL_IMAGE, "/lib/systemd/systemd"],
        check=True, capture_output=True,
    )  # fmt: skip
    try:
        subprocess.run(  # noqa: S603
            ["docker", "exec", name, "timeout", "120", "sh", "-c",  # noqa: S607
             "until systemctl is-system-running --wait >/dev/null 2>&1 "
             "|| [ \"$(systemctl is-system-running)\" = degraded ]; do sleep 1; done"],
            check=True, capture_output=True,
        )  # fmt: skip
        yield name
    finally:
        subprocess.run(["docker", "rm", "--force", name], check=False, capture_output=True)  # noqa: S603,S607


@pytest.fixture(scope="session")
def prefect_server():
    with PrefectTestServer() as server:
        yield server


@dataclass
class RunResult:
    rc: int
    stdout: str
    stderr: str
    result: dict = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return bool(self.result.get("changed"))

    @property
    def failed(self) -> bool:
        return bool(self.result.get("failed")) or self.rc != 0

    @property
    def msg(self) -> str:
        return str(self.result.get("msg", ""))

    def actions(self) -> dict[str, str]:
        return {r["name"]: r["action"] for r in self.result.get("results", [])}


def ansible_env(extra: dict | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        ANSIBLE_LIBRARY=str(REPO / "library"),
        ANSIBLE_ACTION_PLUGINS=str(REPO / "action_plugins"),
        ANSIBLE_STRATEGY_PLUGINS=str(REPO / "strategy_plugins"),
        ANSIBLE_MODULE_UTILS=str(REPO / "module_utils"),
        ANSIBLE_ROLES_PATH=str(REPO / "roles"),
        ANSIBLE_LOCALHOST_WARNING="false",
        ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_RETRY_FILES_ENABLED="false",
        ANSIBLE_PYTHON_INTERPRETER=str(VENV_BIN / "python"),
    )
    env.update(extra or {})
    return env


def run_local_play(folder: Path, tasks: list[dict], *options: str, play_vars: dict | None = None,
                   env: dict | None = None):  # fmt: skip
    """One play of ``tasks`` on localhost (local connection, pipelining on, as the roles run),
    written to ``folder``/play.yml, with ``env`` added to Ansible's environment; returns the
    finished process and its stdout and stderr."""
    play = folder / "play.yml"
    play.write_text(json.dumps([{"hosts": "localhost", "gather_facts": False, "connection": "local",
                                 "vars": play_vars or {}, "tasks": tasks}]))  # fmt: skip
    proc = subprocess.run(  # noqa: S603
        [str(VENV_BIN / "ansible-playbook"), "-i", "localhost,", str(play), *options],
        capture_output=True, text=True, timeout=300, cwd=REPO,
        env=ansible_env({"ANSIBLE_PIPELINING": "1", **(env or {})}),
    )  # fmt: skip
    return proc, proc.stdout + proc.stderr


CHANGED_IN_RECAP = re.compile(r"ok=\d+\s+changed=(\d+)\s+unreachable=0\s+failed=(\d+)")


def run_container_play(folder: Path, host: str, tasks: list[dict], *options: str):
    """One play of ``tasks`` at ``-vvv`` on the container ``host`` over community.docker.docker
    with pipelining, as the roles run; returns (rc, stdout and stderr, changed in the recap)."""
    play = folder / "play.yml"
    play.write_text(json.dumps([{"hosts": "all", "gather_facts": False, "tasks": tasks}]))
    proc = subprocess.run(  # noqa: S603
        [str(VENV_BIN / "ansible-playbook"), "-i", f"{host},", "-e",
         "ansible_connection=community.docker.docker", str(play), "-vvv", *options],
        capture_output=True, text=True, timeout=300,
        env=ansible_env({"ANSIBLE_PIPELINING": "1", "ANSIBLE_PYTHON_INTERPRETER": "auto_silent"}),
    )  # fmt: skip
    output = proc.stdout + proc.stderr
    recap = CHANGED_IN_RECAP.search(output)
    assert recap, output[-3000:]
    return proc.returncode, output, int(recap.group(1))


def calls_per_task(output: str) -> dict[str, int]:
    """Calls on the host per task name, counted from ``-vvv``'s EXEC lines."""
    counts = {}
    for block in re.split(r"\n(?=TASK \[)", output)[1:]:
        name = re.match(r"TASK \[(.*?)\]", block).group(1)
        counts[name] = len(re.findall(r"^<[^>]+> EXEC ", block, re.M))
    return counts


def run_playbook_json(args: list[str]) -> tuple[subprocess.CompletedProcess, dict]:
    """Run ansible-playbook with the json callback; return the process and the parsed report.

    The report is read from the first ``{``: a warning printed before it is not JSON.
    """
    proc = subprocess.run(  # noqa: S603
        [str(VENV_BIN / "ansible-playbook"), *args],
        capture_output=True, text=True, timeout=300,
        env=ansible_env({"ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json"}),
    )  # fmt: skip
    start = proc.stdout.find("{")
    assert start >= 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc, json.loads(proc.stdout[start:])


class ModuleRunner:
    """Runs one of our modules and returns its parsed result.

    In the pytest process (``inprocess.run_module``: the real module and ``AnsibleModule``
    against the real server, as ``ansible-test units`` runs modules), unless the test reads what
    ``ansible-playbook`` prints (``verbose``, ``json_output=False``): then in a one-task
    playbook. A one-task ``ansible-playbook`` costs about 2.5 CPU-s, and the module tests made
    some 230 of them. The transport (AnsiballZ, the executor's handling of the result) is proven
    by the tests that print, by ``test_fuzz_inputs.py::test_executor_agrees_with_in_process``, by
    ``test_objects_noop.py`` (every object kind through the roles) and by the scenarios.
    """

    def __init__(self, server: PrefectTestServer, workdir: Path):
        self.server = server
        self.workdir = workdir
        self.count = 0

    def common(self, auth: str | None = None) -> dict:
        return {
            "api_url": self.server.api_url,
            "api_auth_string": auth if auth is not None else self.server.auth_string,
        }

    def run(self, module: str, args: dict, check=False, diff=False, verbose=0, auth=None,
            json_output=True) -> RunResult:  # fmt: skip
        self.count += 1
        task_args = {**self.common(auth), **args}
        if json_output and not verbose:
            result = run_module(module, task_args, check_mode=check, diff=diff, cwd=self.workdir)
            return RunResult(2 if result.get("failed") else 0, json.dumps(result), "", result)
        play = [
            {
                "hosts": "localhost",
                "gather_facts": False,
                "connection": "local",
                "tasks": [{"name": f"run {module}", module: task_args}],
            }
        ]
        path = self.workdir / f"play{self.count}.yml"
        path.write_text(json.dumps(play, indent=1))
        cmd = [str(VENV_BIN / "ansible-playbook"), "-i", "localhost,", str(path)]
        if check:
            cmd.append("--check")
        if diff:
            cmd.append("--diff")
        if verbose:
            cmd.append("-" + "v" * verbose)
        env = ansible_env(
            {"ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json"} if json_output else None
        )
        proc = subprocess.run(  # noqa: S603
            cmd, capture_output=True, text=True, env=env, cwd=self.workdir, timeout=300
        )
        result: dict = {}
        if json_output:
            try:
                doc = json.loads(proc.stdout[proc.stdout.index("{") :])
                result = doc["plays"][0]["tasks"][0]["hosts"]["localhost"]
            except (ValueError, KeyError, IndexError) as err:
                raise AssertionError(f"no JSON result: {err}\n{proc.stdout}\n{proc.stderr}")  # noqa: B904
        return RunResult(proc.returncode, proc.stdout, proc.stderr, result)


@pytest.fixture
def runner(prefect_server, tmp_path) -> ModuleRunner:
    return ModuleRunner(prefect_server, tmp_path)


@pytest.fixture
def writes(prefect_server):
    """Call to get the write requests recorded since the start of the test (or last reset)."""
    prefect_server.proxy.reset()
    return prefect_server.proxy.writes


FLOW_FILES = {
    "flows/load_data.py": """
        from prefect import flow


        @flow(name="load-data", log_prints=True)
        def load_data(rows: int = 100, source: str = "local"):
            return rows
    """,
    "flows/train_model.py": """
        import prefect


        @prefect.flow(name="train-model")
        def train_model(epochs: int = 1, **kwargs):
            return epochs
    """,
    "flows/plain.py": """
        from prefect import flow


        @flow
        def send_requests_now(count: int = 3):
            return count
    """,
}


@pytest.fixture(scope="session")
def project_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("project")
    for rel, text in FLOW_FILES.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(text).lstrip())
    return root
