"""Benchmark: register deployments with our module vs ``prefect deploy --all``; bulk other kinds.

Starts one throwaway Prefect server (Postgres-backed, same code as the tests), then on it:

1. ``ansible-playbook`` running ``prefect_deployments`` with ``--count`` deployments (all
   created);
2. the same ``ansible-playbook`` again: a no-op re-run (changed=0);
3. ``prefect deploy --all`` from an equivalent ``prefect.yaml`` (as many other deployment names
   of the same flow, so both create, none updates).

Prints the three times and the ratio, then the API calls of one more no-op run, counted by a
recording proxy in front of the server (reads, and writes: none). Then the two floors no client
code of ours can go under, measured on the same server and the same definitions:

- the server's: the module's own request bodies (read back from the server) sent again under new
  names by a bare ``http.client`` loop on kept-alive connections, as many at once as the module's
  writers, with no process to start; ``prefect deploy``'s time over it is the highest ratio any
  client could show here;
- ``ansible-playbook``'s: a module that returns at once, given the same task arguments, beside a
  ``ping`` play; the no-op re-run's time over it is our module's own part. With ``--kinds`` (a comma
list, or ``all``), a second section does the same for the other object modules: ``--count``
variables, work queues (in one pool), global concurrency limits, automations or work pools
created by one ``ansible-playbook`` run, then a timed no-op re-run and a counted one.
``--kinds-only`` skips the deployments. Not a timed test: run it by hand::

    .venv/bin/python bench/deployments_bench.py [--count 50] [--rounds 3] [--kinds all]

The timed runs talk to the server directly; only the counted runs go through the proxy.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

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
# returns at once: what ansible-playbook alone costs for a task with these options (a tuple)
NOTHING_MODULE = """#!/usr/bin/python
from ansible.module_utils.basic import AnsibleModule

AnsibleModule(argument_spec={{name: {{"type": "raw", "no_log": name == "api_auth_string"}}
                             for name in {options!r}}}).exit_json(changed=False)
"""
# the fields of a deployment that the module's POST /deployments/ sends (prefect_kind_deployments)
BODY_FIELDS = (
    "flow_id", "entrypoint", "path", "pull_steps", "parameters", "parameter_openapi_schema",
    "enforce_parameter_schema", "work_pool_name", "work_queue_name", "job_variables", "tags",
    "description", "version", "paused", "labels",
)  # fmt: skip
KINDS = ("variables", "work_queues", "concurrency_limits", "automations", "work_pools")


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


def kind_task(kind: str, count: int) -> tuple[str, dict]:
    """The module and its arguments (without the API's) that declare ``count`` objects."""
    n = range(count)
    if kind == "variables":
        items = [{"name": f"bench_var_{i:04d}", "value": {"index": i, "label": "bench"},
                  "tags": ["bench"]} for i in n]  # fmt: skip
        return "prefect_variables", {"variables": items}
    if kind == "work_queues":
        items = [{"work_pool": POOL, "name": f"bench-queue-{i:04d}", "concurrency_limit": i % 9 + 1,
                  "description": f"benchmark queue {i}"} for i in n]  # fmt: skip
        return "prefect_work_queues", {"work_queues": items}
    if kind == "concurrency_limits":
        items = [{"name": f"bench-limit-{i:04d}", "limit": i % 9 + 1} for i in n]
        return "prefect_concurrency_limits", {"global_limits": items}
    if kind == "automations":
        items = [{
            "name": f"bench-automation-{i:04d}",
            "trigger": {"type": "event", "posture": "Reactive", "expect": [f"bench.event.{i}"],
                        "match": {"prefect.resource.id": f"bench.resource.{i}"}},
            "actions": [{"type": "do-nothing"}],
        } for i in n]  # fmt: skip
        return "prefect_automations", {"automations": items}
    if kind == "work_pools":
        # no {{ }} placeholder: Ansible would template it (playbooks write them with !unsafe)
        template = {
            "job_configuration": {"command": "python -m bench"},
            "variables": {"type": "object", "properties": {
                "env": {"type": "object", "default": {}},
            }},
        }  # fmt: skip
        items = [{"name": f"bench-wp-{i:04d}", "type": "process", "base_job_template": template,
                  "job_variables": {"env": {"BENCH": str(i)}}} for i in n]  # fmt: skip
        return "prefect_work_pools", {"work_pools": items}
    raise SystemExit(f"unknown kind {kind} (known: {', '.join(KINDS)})")


def playbook_run(
    path: Path, api_url: str, auth: str, module: str, args: dict | None
) -> tuple[float, str]:
    """Run ``module`` with ``args`` in a one-task playbook; (seconds, the recap's counts).

    ``args`` None: the module gets no arguments (``ping``)."""
    task = {} if args is None else {"api_url": api_url, "api_auth_string": auth, **args}
    play = [{
        "hosts": "localhost", "gather_facts": False, "connection": "local",
        "tasks": [{"name": module, module: task}],
    }]  # fmt: skip
    path.write_text(json.dumps(play))
    env = dict(os.environ)
    env.update(
        ANSIBLE_LIBRARY=f"{REPO / 'library'}:{path.parent / 'library'}",
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
        raise SystemExit(f"ansible-playbook failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}")
    recap = [line for line in proc.stdout.splitlines() if "changed=" in line][-1]
    return elapsed, recap.split(":", 1)[1].strip()


def deployments_args(project: Path, deployments: list, parallel: int) -> dict:
    return {"project_dir": str(project), "declared_work_pools": [POOL],
            "deployments": deployments, "parallel_writes": parallel}  # fmt: skip


def counted_noop(server: PrefectTestServer, path: Path, module: str, args: dict) -> str:
    """One more no-op run through the recording proxy: its read and write calls."""
    server.proxy.reset()
    _, recap = playbook_run(path, server.api_url, server.auth_string, module, args)
    if "changed=0" not in recap:
        raise SystemExit(f"the counted re-run changed something: {recap}")
    writes = server.proxy.writes()
    reads = len(server.proxy.requests) - len(writes)
    if writes:
        raise SystemExit(f"the no-op re-run wrote: {writes[:5]}")
    return f"API calls: {reads} read, {len(writes)} write"


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


def module_bodies(server: PrefectTestServer, prefix: str, new_prefix: str) -> list[dict]:
    """The bodies the module sent for the deployments named ``prefix-*``, under new names."""
    rows, offset = [], 0
    while True:
        page = server.api("POST", "/deployments/filter", {
            "deployments": {"name": {"like_": prefix}}, "limit": 200, "offset": offset,
        })  # fmt: skip
        rows += [row for row in page if row["name"].startswith(prefix + "-")]
        if len(page) < 200:
            break
        offset += 200
    bodies = []
    for row in rows:
        body = {field: row[field] for field in BODY_FIELDS}
        body["name"] = new_prefix + row["name"][len(prefix) :]
        body["schedules"] = [
            {"schedule": s["schedule"], "active": s["active"]} for s in row["schedules"]
        ]
        bodies.append(body)
    return bodies


def bare_client_run(server: PrefectTestServer, bodies: list[dict], writers: int) -> float:
    """Seconds to POST ``bodies`` with ``writers`` kept-alive connections, nothing else."""
    url = urlsplit(server.direct_api_url)
    headers = {
        "Content-Type": "application/json",
        "Authorization": server.auth_header,
    }
    chunks = [bodies[n::writers] for n in range(writers)]

    def send(chunk: list[dict]) -> None:
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
        for body in chunk:
            conn.request("POST", url.path + "/deployments/", json.dumps(body), headers)
            resp = conn.getresponse()
            answer = resp.read()
            if resp.status not in (200, 201):
                raise SystemExit(f"bare client: HTTP {resp.status}: {answer[:500]!r}")
        conn.close()

    start = time.perf_counter()
    with ThreadPoolExecutor(writers) as pool:
        list(pool.map(send, chunks))
    return time.perf_counter() - start


def bench_deployments(server: PrefectTestServer, project: Path, args) -> None:
    times: dict[str, list[float]] = {
        "ansible": [], "cli": [], "noop": [], "ratio": [], "bare": [], "nothing": [], "ping": [],
    }  # fmt: skip
    (project / "library").mkdir(exist_ok=True)
    options = ("api_url", "api_auth_string", *deployments_args(project, [], args.parallel))
    (project / "library" / "bench_nothing.py").write_text(NOTHING_MODULE.format(options=options))
    play = project / "bench_play.yml"
    direct, auth = server.direct_api_url, server.auth_string
    for r in range(args.rounds):
        ours = deployments_args(
            project, [deployment(f"ansible-r{r}", i) for i in range(args.count)], args.parallel
        )
        theirs = [deployment(f"cli-r{r}", i) for i in range(args.count)]
        (project / "prefect.yaml").write_text(prefect_yaml(project, theirs))

        t_ansible, recap1 = playbook_run(play, direct, auth, "prefect_deployments", ours)
        t_noop, recap2 = playbook_run(play, direct, auth, "prefect_deployments", ours)
        if "changed=1" not in recap1 or "changed=0" not in recap2:
            raise SystemExit(f"unexpected recap: {recap1} / {recap2}")
        t_nothing, _ = playbook_run(play, direct, auth, "bench_nothing", ours)
        t_ping, _ = playbook_run(play, direct, auth, "ping", None)
        bodies = module_bodies(server, f"ansible-r{r}", f"bare-r{r}")
        if len(bodies) != args.count:
            raise SystemExit(f"read back {len(bodies)} of the module's deployments")
        # before prefect deploy: the server then holds as many deployments as for our module's
        t_bare = bare_client_run(server, bodies, args.parallel)
        t_cli = cli_run(server, project)
        for key, value in (("ansible", t_ansible), ("cli", t_cli), ("noop", t_noop),
                           ("ratio", t_cli / t_ansible), ("bare", t_bare),
                           ("nothing", t_nothing), ("ping", t_ping)):  # fmt: skip
            times[key].append(value)
        print(f"round {r + 1}: ansible {t_ansible:6.2f} s  prefect deploy {t_cli:6.2f} s  "
              f"ratio {t_cli / t_ansible:4.1f}x  no-op re-run {t_noop:5.2f} s  "
              f"bare client {t_bare:6.2f} s  do-nothing module {t_nothing:5.2f} s  "
              f"ping {t_ping:5.2f} s", flush=True)  # fmt: skip
    calls = counted_noop(server, play, "prefect_deployments", ours)

    total = server.api("POST", "/deployments/count", {})
    expected = 3 * args.count * args.rounds
    print(f"deployments on the server: {total} (expected {expected})")
    med = {k: statistics.median(v) for k, v in times.items()}
    label = f"median of {args.rounds} rounds" if args.rounds > 1 else "one round"
    print(f"== {args.count} deployments, {label} ==")
    print(f"ansible-playbook prefect_deployments (all created): {med['ansible']:7.2f} s")
    print(f"prefect deploy --all (all created):                 {med['cli']:7.2f} s")
    print(f"ratio prefect deploy / ansible:                     {med['ratio']:7.1f}x")
    print(f"ansible-playbook no-op re-run (changed=0):          {med['noop']:7.2f} s")
    print(f"a no-op re-run through the recording proxy:         {calls}")
    print("-- the floors (same server, same definitions) --")
    print(f"bare http.client, {args.parallel} kept-alive connections, same bodies: "
          f"{med['bare']:7.2f} s")  # fmt: skip
    print(f"ratio prefect deploy / bare client (the most any client could show): "
          f"{med['cli'] / med['bare']:5.1f}x")  # fmt: skip
    print(f"ansible-playbook over the bare client (process, reads, our code): "
          f"{med['ansible'] - med['bare']:6.2f} s")  # fmt: skip
    print(f"ansible-playbook with a module that returns at once, same arguments: "
          f"{med['nothing']:5.2f} s")  # fmt: skip
    print(f"ansible-playbook ping play:                          {med['ping']:7.2f} s")
    print(f"no-op re-run over the do-nothing module (our module's part): "
          f"{med['noop'] - med['nothing']:5.2f} s")  # fmt: skip
    if total != expected:
        raise SystemExit("unexpected number of deployments")


def bench_kinds(server: PrefectTestServer, project: Path, kinds: list[str], count: int) -> None:
    print(f"== {count} objects of each kind, one ansible-playbook run each ==", flush=True)
    play = project / "kind_play.yml"
    direct, auth = server.direct_api_url, server.auth_string
    for kind in kinds:
        module, args = kind_task(kind, count)
        t_create, recap1 = playbook_run(play, direct, auth, module, args)
        t_noop, recap2 = playbook_run(play, direct, auth, module, args)
        if "changed=1" not in recap1 or "changed=0" not in recap2:
            raise SystemExit(f"{kind}: unexpected recap: {recap1} / {recap2}")
        calls = counted_noop(server, play, module, args)
        print(f"{kind:<19} created {t_create:6.2f} s  no-op re-run {t_noop:5.2f} s  "
              f"({calls})", flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=50)
    parser.add_argument("--parallel", type=int, default=4, help="parallel_writes of the module")
    parser.add_argument(
        "--rounds", type=int, default=1, help="repeat with fresh names; report the medians"
    )
    parser.add_argument(
        "--kinds", default="", help=f"comma list of {', '.join(KINDS)}, or all (default: none)"
    )
    parser.add_argument("--kinds-only", action="store_true", help="skip the deployments")
    args = parser.parse_args()
    kinds = list(KINDS) if args.kinds == "all" else [k for k in args.kinds.split(",") if k]
    for kind in kinds:
        kind_task(kind, 0)  # an unknown kind fails before the server starts
    with PrefectTestServer(proxy=True) as server, tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        (project / "flows").mkdir()
        (project / "flows" / "bench_flow.py").write_text(textwrap.dedent(FLOW_FILE).lstrip())
        server.api("POST", "/work_pools/", {"name": POOL, "type": "process"})
        print(f"load average at the start: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
        if not args.kinds_only:
            bench_deployments(server, project, args)
        if kinds:
            bench_kinds(server, project, kinds, args.count)
        print(f"load average at the end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
