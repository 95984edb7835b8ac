"""Benchmark: register 50 deployments with our module vs ``prefect deploy --all``.

Starts one throwaway Prefect server (Postgres-backed, same code as the tests), then on it:

1. ``ansible-playbook`` running ``prefect_deployments`` with 50 deployments (all created);
2. ``prefect deploy --all`` from an equivalent ``prefect.yaml`` (50 other deployment names of the
   same flow, so both create, none updates);
3. the same ``ansible-playbook`` again: a no-op re-run (changed=0).

Prints the three times and the ratio. Not a timed test: run it by hand::

    .venv/bin/python bench/deployments_bench.py [--count 50] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from prefect_server_fixture import PrefectTestServer  # noqa: E402

VENV_BIN = REPO / ".venv" / "bin"
POOL = "bench-pool"
FLOW_FILE = """
from prefect import flow


@flow(name="bench-flow")
def bench_flow(index: int = 0, label: str = "bench"):
    return index
"""


def deployment(prefix: str, i: int) -> dict:
    return {
        "name": f"{prefix}-{i:02d}",
        "entrypoint": "flows/bench_flow.py:bench_flow",
        "parameters": {"index": i},
        "schedules": [{"cron": f"{i % 60} 0 1 * *", "timezone": "UTC", "active": True}],
        "work_pool": {"name": POOL, "job_variables": {"env": {"BENCH": str(i)}}},
        "tags": ["bench"],
        "description": f"benchmark deployment {i}",
    }


def ansible_run(
    server: PrefectTestServer, project: Path, deployments: list, parallel: int = 4
) -> tuple[float, str]:
    play = [{
        "hosts": "localhost", "gather_facts": False, "connection": "local",
        "tasks": [{"name": "deployments", "prefect_deployments": {
            "api_url": server.api_url, "api_auth_string": server.auth_string,
            "project_dir": str(project), "declared_work_pools": [POOL],
            "deployments": deployments, "parallel_writes": parallel,
        }}],
    }]  # fmt: skip
    path = project / "bench_play.yml"
    path.write_text(json.dumps(play))
    env = dict(os.environ)
    env.update(
        ANSIBLE_LIBRARY=str(REPO / "library"),
        ANSIBLE_MODULE_UTILS=str(REPO / "module_utils"),
        ANSIBLE_PYTHON_INTERPRETER=str(VENV_BIN / "python"),
        ANSIBLE_LOCALHOST_WARNING="false",
        ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
    )
    start = time.perf_counter()
    proc = subprocess.run(  # noqa: S603
        [str(VENV_BIN / "ansible-playbook"), "-i", "localhost,", str(path)],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"ansible-playbook failed:\n{proc.stdout}\n{proc.stderr}")
    recap = [line for line in proc.stdout.splitlines() if "changed=" in line][-1]
    return elapsed, recap.split(":", 1)[1].strip()


def prefect_yaml(project: Path, deployments: list) -> str:
    doc = {
        "name": "bench",
        "prefect-version": "3.9.1",
        "build": None,
        "push": None,
        "pull": [{"prefect.deployments.steps.set_working_directory": {"directory": str(project)}}],
        "deployments": deployments,
    }
    return json.dumps(doc, indent=1)  # JSON is YAML


def cli_run(server: PrefectTestServer, project: Path) -> float:
    env = server.client_env()
    env["PREFECT_CLI_PROMPT"] = "false"
    start = time.perf_counter()
    proc = subprocess.run(  # noqa: S603
        [str(VENV_BIN / "prefect"), "--no-prompt", "deploy", "--all"],
        cwd=project, capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"prefect deploy failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=50)
    parser.add_argument("--parallel", type=int, default=4, help="parallel_writes of the module")
    parser.add_argument(
        "--rounds", type=int, default=1, help="repeat with fresh names; report the medians"
    )
    args = parser.parse_args()
    times: dict[str, list[float]] = {"ansible": [], "cli": [], "noop": [], "ratio": []}
    with PrefectTestServer(proxy=False) as server, tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        (project / "flows").mkdir()
        (project / "flows" / "bench_flow.py").write_text(textwrap.dedent(FLOW_FILE).lstrip())
        server.api("POST", "/work_pools/", {"name": POOL, "type": "process"})
        for r in range(args.rounds):
            ours = [deployment(f"ansible-r{r}", i) for i in range(args.count)]
            theirs = [deployment(f"cli-r{r}", i) for i in range(args.count)]
            (project / "prefect.yaml").write_text(prefect_yaml(project, theirs))

            t_ansible, recap1 = ansible_run(server, project, ours, args.parallel)
            t_cli = cli_run(server, project)
            t_noop, recap2 = ansible_run(server, project, ours, args.parallel)
            if "changed=1" not in recap1 or "changed=0" not in recap2:
                raise SystemExit(f"unexpected recap: {recap1} / {recap2}")
            times["ansible"].append(t_ansible)
            times["cli"].append(t_cli)
            times["noop"].append(t_noop)
            times["ratio"].append(t_cli / t_ansible)
            print(f"round {r + 1}: ansible {t_ansible:6.2f} s  prefect deploy {t_cli:6.2f} s  "
                  f"ratio {t_cli / t_ansible:4.1f}x  no-op re-run {t_noop:5.2f} s")  # fmt: skip

        total = server.api("POST", "/deployments/count", {})
        expected = 2 * args.count * args.rounds
        print(f"deployments on the server: {total} (expected {expected})")
        med = {k: statistics.median(v) for k, v in times.items()}
        label = f"median of {args.rounds} rounds" if args.rounds > 1 else "one round"
        print(f"== {args.count} deployments, {label} ==")
        print(f"ansible-playbook prefect_deployments (all created): {med['ansible']:7.2f} s")
        print(f"prefect deploy --all (all created):                 {med['cli']:7.2f} s")
        print(f"ratio prefect deploy / ansible:                     {med['ratio']:7.1f}x")
        print(f"ansible-playbook no-op re-run (changed=0):          {med['noop']:7.2f} s")
        if total != expected:
            raise SystemExit("unexpected number of deployments")


if __name__ == "__main__":
    main()
