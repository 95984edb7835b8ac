"""A re-run of the object roles that finds everything as declared writes nothing.

Runs the main entry points of ``prefect_blocks`` and ``prefect_deployments`` with ansible-playbook
on this machine (local connection) against the session's real Prefect server, through the
recording proxy, with one object of every kind: a block, variables, a global and a task-run
concurrency limit, a work pool and a queue, a deployment (its flow in a throwaway project folder)
and an automation. Each role plans every kind in check mode first (its preflight) and skips its
whole apply when every plan is "unchanged" and no record of managed names would be saved.

The tests share the objects (one module fixture creates them, under names no other test uses)
and each leaves them as ``Stack.vars`` declares them, in this order:

* the first run creates everything;
* a second run changes nothing, makes no write call, and runs the validate tasks but no apply;
* a changed variable: ``--check --diff`` names it and writes nothing; the run writes exactly that
  variable; the re-run writes nothing again;
* a queue made through the API (as in the UI) and then declared as it is: the run saves only the
  record of managed queues; the re-run writes nothing; undeclared, with the prune on, it goes;
* an item of the last kind that is wrong fails the run, naming the field, before any write (a
  changed variable in the same run is not written either).
"""

from __future__ import annotations

import copy
import json
import textwrap
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
from conftest import run_playbook_json

PLAYBOOK = """
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Blocks
      ansible.builtin.include_role:
        name: prefect_blocks
      when: noop_blocks
    - name: Variables, limits, pools, queues, deployments, automations
      ansible.builtin.include_role:
        name: prefect_deployments
"""

FLOW = """
from prefect import flow


@flow(name="noop-flow")
def noop_flow(rows: int = 1):
    return rows
"""

# The module tasks of both roles, by the name of their apply. prefect_blocks' preflight runs its
# task file with " (validate, no write)" appended to the name; prefect_deployments' plans the other
# kinds in one prefect_plan task, whose result holds each kind's plan under its module's name.
KINDS = (
    "Apply blocks",
    "Apply variables",
    "Apply concurrency limits",
    "Apply work pools",
    "Apply work queues",
    "Apply deployments",
    "Apply automations",
)
VALIDATE = " (validate, no write)"
PLAN = "Validate every object kind (check mode, no write)"
MODULES = {kind: "prefect_" + kind[len("Apply ") :].replace(" ", "_") for kind in KINDS}
RECORD_PREFIX = "prefect_stack_managed_"


def q(segment: str) -> str:
    return quote(segment, safe="")


@dataclass
class Run:
    rc: int
    out: str
    report: dict
    writes: list[tuple[str, str]]
    blocks: bool  # whether the run included prefect_blocks

    @property
    def kinds(self) -> tuple[str, ...]:
        return KINDS if self.blocks else KINDS[1:]

    @property
    def changed(self) -> int:
        return self.report["stats"]["localhost"]["changed"]

    def results(self, name: str) -> list[dict]:
        """The localhost results of every task of that name (the role's prefix left out)."""
        return [
            task["hosts"]["localhost"]
            for play in self.report["plays"]
            for task in play["tasks"]
            if task["task"]["name"].split(" : ", 1)[-1] == name and "localhost" in task["hosts"]
        ]

    def module_result(self, name: str) -> dict:
        """The one result of that name that ran the module (it has a ``summary``)."""
        ran = [r for r in self.results(name) if "summary" in r]
        assert len(ran) == 1, (name, self.results(name))
        return ran[0]

    def plans(self, kind: str) -> list[dict]:
        """The preflight's plans of that kind: its own validate task's results (blocks), or its
        entry in each result of the prefect_plan task."""
        if kind == KINDS[0]:
            return [r for r in self.results(kind + VALIDATE) if not r.get("skipped")]
        return [r["plans"][MODULES[kind]] for r in self.results(PLAN) if "plans" in r]

    def tail(self) -> str:
        return self.out[-4000:]


class Stack:
    """The declared objects (``vars``, what ``-e`` passes) and a runner of both roles."""

    first: Run  # the run that created the objects

    def __init__(self, server, workdir: Path):
        self.server = server
        self.workdir = workdir
        uid = uuid.uuid4().hex[:10]
        self.uid = uid
        self.pool = f"noop-pool-{uid}"
        self.queue = f"noop-queue-{uid}"
        self.deployment = f"noop-flow/noop-{uid}"
        self.var = f"noop_rows_{uid}"
        self.other_var = f"noop_settings_{uid}"
        self.gcl = f"noop-gcl-{uid}"
        self.tag = f"noop-tag-{uid}"
        self.automation = f"noop-auto-{uid}"
        self.block = f"noop-secret-{uid}"
        project = workdir / "project"
        (project / "flows").mkdir(parents=True)
        (project / "flows" / "noop_flow.py").write_text(textwrap.dedent(FLOW).lstrip())
        self.playbook = workdir / "objects.yml"
        self.playbook.write_text(PLAYBOOK)
        auth = server.auth_string
        self.vars = {
            "prefect_blocks_api_url": server.api_url,
            "prefect_blocks_api_auth_string": auth,
            "prefect_blocks_register_collections": [],  # no `prefect block register` here
            "prefect_blocks_list": [
                {"block_type": "secret", "name": self.block, "data": {"value": f"s3cr3t-{uid}"}},
            ],
            "prefect_deployments_api_url": server.api_url,
            "prefect_deployments_api_auth_string": auth,
            "prefect_deployments_project_dir": str(project),
            "prefect_deployments_code_dir": str(project),
            "prefect_deployments_variables": [
                {"name": self.var, "value": 100},
                {"name": self.other_var, "value": {"source": "local", "retries": [1, 2]}},
            ],
            "prefect_deployments_global_concurrency_limits": [{"name": self.gcl, "limit": 3}],
            "prefect_deployments_task_run_concurrency_limits": [{"tag": self.tag, "limit": 2}],
            "prefect_deployments_work_pools": [{"name": self.pool, "type": "process"}],
            "prefect_deployments_work_queues": [
                {"work_pool": self.pool, "name": self.queue, "description": "noop test",
                 "concurrency_limit": 2},
            ],
            "prefect_deployments_list": [
                {"name": self.deployment, "entrypoint": "flows/noop_flow.py:noop_flow",
                 "parameters": {"rows": 5},
                 "schedules": [{"cron": "0 3 * * *", "timezone": "UTC"}],
                 "work_pool": {"name": self.pool, "work_queue_name": self.queue}},
            ],
            "prefect_deployments_automations": [self.automation_item(self.deployment)],
        }  # fmt: skip

    def automation_item(self, deployment: str, name: str | None = None) -> dict:
        return {
            "name": name or self.automation,
            "trigger": {
                "type": "event", "posture": "Reactive", "expect": ["prefect.flow-run.Failed"],
                "match": {"prefect.resource.id": "prefect.flow-run.*"},
                "match_related": {"prefect.resource.id": f"prefect.deployment.{deployment}"},
            },
            "actions": [{"type": "run-deployment", "deployment": deployment}],
        }  # fmt: skip

    def run(self, *args: str, extra: dict | None = None, blocks: bool = False) -> Run:
        """Run the roles with ``vars`` (or ``extra``); the writes are this run's only.

        ``prefect_blocks`` (a second role, its block unchanged after the first run) only when
        ``blocks``: the runs that are about the other kinds are shorter without it."""
        extra_vars = dict(extra or self.vars, noop_blocks=blocks)
        self.server.proxy.reset()
        proc, report = run_playbook_json(
            ["-i", "localhost,", str(self.playbook), "-e", json.dumps(extra_vars), *args]
        )
        writes = self.server.proxy.writes()
        return Run(proc.returncode, proc.stdout + proc.stderr, report, writes, blocks)

    # -- reading back, straight from the server (not through the proxy) ------------------------
    def api(self, method: str, path: str, body=None):
        return self.server.api(method, path, body)

    def variable(self, name: str):
        row = self.api("GET", f"/variables/name/{q(name)}")
        return None if row is None else row["value"]

    def record(self, key: str) -> set[str]:
        body = {"variables": {"name": {"like_": RECORD_PREFIX + key}}}
        names: set[str] = set()
        for row in self.api("POST", "/variables/filter", body):
            if isinstance(row.get("value"), list):
                names.update(row["value"])
        return names

    def automations(self) -> list[dict]:
        body = {"automations": {"name": {"any_": [self.automation]}}}
        return self.api("POST", "/automations/filter", body)

    def queue_row(self, name: str):
        return self.api("GET", f"/work_pools/{q(self.pool)}/queues/{q(name)}")

    # -- clean-up -----------------------------------------------------------------------------
    def remove_everything(self) -> None:
        """Delete what the tests made, and drop its names from the records (so that no other
        test's run finds a recorded object gone and saves the record)."""
        for row in self.automations():
            self.api("DELETE", f"/automations/{row['id']}")
        row = self.api("GET", f"/deployments/name/{self.deployment}")
        if row:
            self.api("DELETE", f"/deployments/{row['id']}")
        self.api("DELETE", f"/work_pools/{q(self.pool)}")
        for name in (self.var, self.other_var):
            self.api("DELETE", f"/variables/name/{q(name)}")
        for name in (self.gcl, f"tag:{self.tag}"):
            row = self.api("GET", f"/v2/concurrency_limits/{q(name)}")
            if row:
                self.api("DELETE", f"/v2/concurrency_limits/{row['id']}")
        row = self.api("GET", f"/block_types/slug/secret/block_documents/name/{q(self.block)}")
        if row:
            self.api("DELETE", f"/block_documents/{row['id']}")
        body = {"variables": {"name": {"like_": RECORD_PREFIX}}}
        for row in self.api("POST", "/variables/filter", body):
            value = row.get("value")
            if isinstance(value, list) and any(self.uid in str(v) for v in value):
                kept = [v for v in value if self.uid not in str(v)]
                self.api("PATCH", f"/variables/name/{q(row['name'])}", {"value": kept})


def assert_written_nothing(run: Run) -> None:
    """A run that found everything as declared: no write call, nothing changed, each role's
    preflight planned every kind and no apply task ran."""
    assert run.rc == 0, run.tail()
    assert run.writes == []
    assert run.changed == 0, run.report["stats"]
    assert [r.get("changed") for r in run.results(PLAN)] == [False]
    assert run.results(PLAN)[0]["settled"] is True
    for kind in run.kinds:
        validated = run.plans(kind)
        assert len(validated) == 1, f"{kind} was not planned: {run.results(PLAN)}"
        assert set(validated[0]["summary"]) == {"unchanged"}, (kind, validated[0]["summary"])
        # the include of the task file is skipped; its module task is never reached
        assert all(r.get("skipped") for r in run.results(kind)), (kind, run.results(kind))


@pytest.fixture(scope="module")
def stack(prefect_server, tmp_path_factory):
    objects = Stack(prefect_server, tmp_path_factory.mktemp("noop"))
    objects.first = objects.run(blocks=True)
    yield objects
    objects.remove_everything()


def test_first_run_creates_every_object(stack):
    run = stack.first
    assert run.rc == 0, run.tail()
    assert run.changed == len(KINDS), run.report["stats"]  # one apply task per kind
    assert [r.get("changed") for r in run.results(PLAN)] == [False]
    assert run.results(PLAN)[0]["settled"] is False
    for kind in run.kinds:
        [planned] = run.plans(kind)
        assert set(planned["summary"]) == {"created"}, (kind, planned["summary"])
        applied = run.module_result(kind)
        assert applied["changed"] is True, (kind, applied)
        assert set(applied["summary"]) == {"created"}, (kind, applied["summary"])
    assert ("POST", "/api/variables/") in run.writes
    assert f"s3cr3t-{stack.uid}" not in run.out  # the secret block's value is never printed

    assert stack.variable(stack.var) == 100
    assert stack.variable(stack.other_var) == {"source": "local", "retries": [1, 2]}
    assert stack.api("GET", f"/v2/concurrency_limits/{q(stack.gcl)}")["limit"] == 3
    assert stack.api("GET", f"/concurrency_limits/tag/{q(stack.tag)}")["concurrency_limit"] == 2
    assert stack.api("GET", f"/work_pools/{q(stack.pool)}")["type"] == "process"
    queue = stack.queue_row(stack.queue)
    assert (queue["description"], queue["concurrency_limit"]) == ("noop test", 2)
    deployment = stack.api("GET", f"/deployments/name/{stack.deployment}")
    assert deployment["parameters"] == {"rows": 5}
    assert (deployment["work_pool_name"], deployment["work_queue_name"]) == (
        stack.pool,
        stack.queue,
    )
    [automation] = stack.automations()
    assert automation["actions"][0]["deployment_id"] == deployment["id"]
    block = stack.api("GET", f"/block_types/slug/secret/block_documents/name/{q(stack.block)}")
    assert block is not None
    assert f"{stack.pool}/{stack.queue}" in stack.record("work_queues")
    assert {stack.gcl, f"tag:{stack.tag}"} <= stack.record("concurrency_limits")


def test_rerun_writes_nothing(stack):
    assert_written_nothing(stack.run(blocks=True))


def test_changed_variable_is_all_that_is_written(stack):
    variables = stack.vars["prefect_deployments_variables"]
    variables[0]["value"] = 250

    dry = stack.run("--check", "--diff")
    assert dry.rc == 0, dry.tail()
    assert dry.writes == []
    assert dry.changed == 1, dry.report["stats"]
    assert stack.variable(stack.var) == 100
    planned = dry.module_result("Apply variables")
    assert planned["summary"] == {"updated": 1, "unchanged": 1}
    [diff] = planned["diff"]
    assert stack.var in diff["before_header"]
    assert (diff["before"]["value"], diff["after"]["value"]) == (100, 250)

    run = stack.run()
    assert run.rc == 0, run.tail()
    assert run.writes == [("PATCH", f"/api/variables/name/{stack.var}")]
    assert run.changed == 1, run.report["stats"]
    assert stack.variable(stack.var) == 250

    assert_written_nothing(stack.run())


def test_adopted_queue_is_recorded_then_pruned(stack):
    adopted = f"ui-queue-{stack.uid}"
    fields = {"description": "made in the UI", "concurrency_limit": 4}
    stack.api("POST", f"/work_pools/{q(stack.pool)}/queues", {"name": adopted, **fields})
    assert f"{stack.pool}/{adopted}" not in stack.record("work_queues")
    queues = stack.vars["prefect_deployments_work_queues"]
    queues.append({"work_pool": stack.pool, "name": adopted, **fields})

    run = stack.run()
    assert run.rc == 0, run.tail()
    # the queue is as declared: the only write is the record that now names it
    assert run.writes, "the adopted queue's name was not saved in the record"
    record = f"/api/variables/name/{RECORD_PREFIX}work_queues"
    assert all(
        (method == "PATCH" and path.startswith(record))
        or (method, path) == ("POST", "/api/variables/")
        for method, path in run.writes
    ), run.writes
    assert run.changed == 1, run.report["stats"]  # the queues' task: its record saved
    assert f"{stack.pool}/{adopted}" in stack.record("work_queues")
    [planned] = run.plans("Apply work queues")
    assert planned["summary"] == {"unchanged": 2}
    assert planned.get("record_pending") is True, planned
    assert_written_nothing(stack.run())

    queues.pop()
    stack.vars["prefect_deployments_prune_work_queues"] = True
    run = stack.run()
    assert run.rc == 0, run.tail()
    deleted = ("DELETE", f"/api/work_pools/{stack.pool}/queues/{adopted}")
    assert deleted in run.writes
    assert all(w == deleted or w[1].startswith(record) for w in run.writes), run.writes
    assert stack.queue_row(adopted) is None
    assert stack.queue_row(stack.queue) is not None
    assert f"{stack.pool}/{adopted}" not in stack.record("work_queues")
    assert f"{stack.pool}/{stack.queue}" in stack.record("work_queues")


def test_bad_item_of_the_last_kind_fails_before_any_write(stack):
    bad = copy.deepcopy(stack.vars)
    bad["prefect_deployments_variables"][0]["value"] = 999  # would be written first
    nowhere = f"noop-flow/nowhere-{stack.uid}"
    bad["prefect_deployments_automations"].append(
        stack.automation_item(nowhere, name=f"{stack.automation}-bad")
    )

    run = stack.run(extra=bad)
    assert run.rc != 0
    assert run.writes == []
    message = f"automations[1] ({stack.automation}-bad): actions[0].deployment: no deployment"
    assert message in run.out, run.tail()
    # the preflight's plan of the automations failed; no apply task of any kind was reached
    assert [r.get("failed") for r in run.results(PLAN)] == [True]
    assert message in run.plans("Apply automations")[0]["msg"]
    assert "msg" not in run.plans("Apply variables")[0]
    for kind in KINDS[1:]:
        assert run.results(kind) == [], kind
    assert stack.variable(stack.var) == stack.vars["prefect_deployments_variables"][0]["value"]
