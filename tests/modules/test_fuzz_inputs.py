"""Fuzzed inputs for the three modules: every bad value gets the module's own message naming the
field (or Ansible's argument-spec message naming the option), never a traceback, and nothing is
written. All the cases of one module run as tasks of one playbook (``ignore_errors``), so each is
a module invocation of its own at the cost of one ``ansible-playbook``."""

from __future__ import annotations

import copy
import json
import subprocess

import pytest
from conftest import VENV_BIN, ansible_env
from test_prefect_deployments import POOL, deps

HUGE = "x" * 100_000
# Text a YAML file can hold that str.isdigit() and friends handle in surprising ways.
ODD_TEXT = ["", " ", "\x00", "\u00b2", "\u0663", "\uff11", "\u202e", "😀", "../..", HUGE]


def deployment_cases(project_dir) -> list[tuple[str, dict, str]]:
    """(case id, module args, text the message must contain)."""
    cases = []

    def case(case_id, expect, **changes):
        args = deps(project_dir)
        item = args["deployments"][0]
        item["name"] = "load-data/t-fuzz"
        for key, value in changes.items():
            if value is _DELETE:
                item.pop(key, None)
            else:
                item[key] = value
        cases.append((case_id, args, expect))

    for i, tz in enumerate(["America", "Europe", "posix", "", HUGE, "\x00", "../../etc/passwd",
                            "UTC\n", 5, ["UTC"], {"a": 1}]):  # fmt: skip
        case(f"timezone-{i}", "schedules[0].timezone",
             schedules=[{"cron": "0 0 1 * *", "timezone": tz}])  # fmt: skip
    crons = ["\u00b2 * * * *", "0 0 \u0663 * *", "\uff11 * * * *", "*/\u00b2 * * * *",
             "0 0 1 * *" * 1000, "", "0 0 1 * * \x00", 5, ["0 0 1 * *"], {"cron": "x"},
             "1-\u00b2 * * * *", "0 0 1 * MON-\u00b2"]  # fmt: skip
    for i, cron in enumerate(crons):
        case(f"cron-{i}", "schedules[0]", schedules=[{"cron": cron, "timezone": "UTC"}])
    for i, name in enumerate(["", "/", "a/b/c", HUGE + "/x", "load-data/", 5, ["x"], None]):
        case(f"name-{i}", "deployments[0]", name=name)
    entries = ["", "flows/load_data.py", ":load_data", HUGE, "flows/../../etc/passwd:x",
               "flows/load_data.py:\u00b2", 5]  # fmt: skip
    for i, entry in enumerate(entries):
        case(f"entrypoint-{i}", "entrypoint", entrypoint=entry)
    for i, params in enumerate(["rows=5", [1, 2], 5, {"no_such_param": 1}]):
        case(f"parameters-{i}", "parameters", parameters=params)
    for i, tags in enumerate(["ml", {"a": 1}, 5]):
        case(f"tags-{i}", "tags", tags=tags)
    for i, pool in enumerate([5, "x" * 300, {"name": 5}, {"name": ""}, {"name": "undeclared"},
                              {"name": POOL, "job_variables": "env=A"}]):  # fmt: skip
        case(f"work_pool-{i}", "work_pool", work_pool=pool)
    for i, limit in enumerate([-5, "many", 1e30, [1]]):
        case(f"concurrency_limit-{i}", "concurrency_limit", concurrency_limit=limit)
    for i, schedules in enumerate(["0 0 1 * *", [5], [{"cron": "0 0 1 * *", "active": "maybe"}],
                                   [{"cron": "0 0 1 * *", "day_or": HUGE}], [{}]]):  # fmt: skip
        case(f"schedules-{i}", "schedules", schedules=schedules)
    return cases


def pool_cases() -> list[tuple[str, dict, str]]:
    cases = []
    for i, name in enumerate(ODD_TEXT + [5, None, ["p"]]):
        cases.append((f"name-{i}", {"work_pools": [{"name": name}]}, "work_pools[0]"))
    for i, ptype in enumerate(["\u00b2", "", HUGE, 5, ["process"]]):
        cases.append((f"type-{i}", {"work_pools": [{"name": "t-fz", "type": ptype}]}, "type"))
    for i, limit in enumerate([-2, "x", 1e30, "\u00b2", [1]]):
        args = {"work_pools": [{"name": "t-fz", "concurrency_limit": limit}]}
        cases.append((f"concurrency_limit-{i}", args, "concurrency_limit"))
    for i, jv in enumerate(["x", [1], {"no_such_variable": 1}, {HUGE: 1}, {"env": 5}]):
        args = {"work_pools": [{"name": "t-fz", "type": "process", "job_variables": jv}]}
        cases.append((f"job_variables-{i}", args, "job_variables"))
    for i, paused in enumerate(["maybe", [True]]):
        args = {"work_pools": [{"name": "t-fz", "paused": paused}]}
        cases.append((f"paused-{i}", args, "paused"))
    return cases


def block_cases() -> list[tuple[str, dict, str]]:
    cases = []
    for i, btype in enumerate(ODD_TEXT + [5, None]):
        args = {"blocks": [{"block_type": btype, "name": "t-fz", "data": {"value": "v"}}]}
        cases.append((f"block_type-{i}", args, "blocks[0]"))
    for i, name in enumerate(ODD_TEXT + [5, None, "Upper"]):
        args = {"blocks": [{"block_type": "secret", "name": name, "data": {"value": "v"}}]}
        cases.append((f"name-{i}", args, "blocks[0]"))
    for i, data in enumerate(["v", [1], 5, {"value": {"$ref": 5}}, {HUGE: 1},
                              {"value": "v", "extra": 1}]):  # fmt: skip
        args = {"blocks": [{"block_type": "secret", "name": "t-fz", "data": data}]}
        cases.append((f"data-{i}", args, "data"))
    ref_cases = [{"$ref": {"block_type": "\u00b2", "name": "x"}}, {"$ref": {"name": "x"}},
                 {"$ref": "gcp-credentials/x"},
                 {"$ref": {"block_type": "gcp-credentials", "name": HUGE}}]  # fmt: skip
    for i, ref in enumerate(ref_cases):
        args = {"blocks": [{"block_type": "gcs-bucket", "name": "t-fz",
                            "data": {"bucket": "b", "gcp_credentials": ref}}]}  # fmt: skip
        cases.append((f"ref-{i}", args, "gcp_credentials"))
    return cases


_DELETE = object()


def run_cases(runner, module: str, cases: list[tuple[str, dict, str]]) -> dict[str, dict]:
    """Run every case as a task of one playbook; returns each case's result by id."""
    tasks = [
        {"name": case_id, module: {**runner.common(), **args}, "ignore_errors": True}
        for case_id, args, _ in cases
    ]
    play = [{"hosts": "localhost", "gather_facts": False, "connection": "local", "tasks": tasks}]
    path = runner.workdir / f"fuzz-{module}.yml"
    path.write_text(json.dumps(play))
    proc = subprocess.run(  # noqa: S603
        [str(VENV_BIN / "ansible-playbook"), "-i", "localhost,", str(path)],
        capture_output=True, text=True, cwd=runner.workdir, timeout=900,
        env=ansible_env({"ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json"}),
    )  # fmt: skip
    doc = json.loads(proc.stdout[proc.stdout.index("{") :])
    results = {t["task"]["name"]: t["hosts"]["localhost"] for t in doc["plays"][0]["tasks"]}
    assert len(results) == len(cases), proc.stderr[-2000:]
    return results


def check(results: dict[str, dict], cases: list[tuple[str, dict, str]]) -> list[str]:
    problems = []
    for case_id, _, expect in cases:
        res = results[case_id]
        msg = str(res.get("msg", ""))
        if not res.get("failed"):
            problems.append(f"{case_id}: accepted ({res.get('changed')=})")
        elif (
            "MODULE FAILURE" in msg
            or "Traceback" in str(res.get("module_stderr", ""))
            or ("Traceback" in msg)
        ):
            stderr = str(res.get("module_stderr"))[-300:]
            problems.append(f"{case_id}: crashed: {msg[:300]} {stderr}")
        elif expect not in msg:
            problems.append(f"{case_id}: message does not name {expect!r}: {msg[:300]}")
        elif len(msg) > 20_000:
            problems.append(f"{case_id}: message of {len(msg)} characters")
    return problems


@pytest.fixture(scope="module", autouse=True)
def pool(prefect_server):
    prefect_server.api("POST", "/work_pools/", {"name": POOL, "type": "process"})


@pytest.mark.parametrize("module", ["prefect_deployments", "prefect_work_pools", "prefect_blocks"])
def test_fuzzed_inputs_fail_cleanly_without_writes(module, runner, writes, project_dir):
    cases = {
        "prefect_deployments": lambda: deployment_cases(project_dir),
        "prefect_work_pools": pool_cases,
        "prefect_blocks": block_cases,
    }[module]()
    results = run_cases(runner, module, cases)
    problems = check(results, cases)
    assert not problems, "\n".join(problems)
    assert writes() == [], "a fuzzed input reached the API"
    # the cases really are distinct inputs
    distinct = {json.dumps(copy.deepcopy(args), sort_keys=True) for _, args, _ in cases}
    assert len(distinct) == len(cases)
