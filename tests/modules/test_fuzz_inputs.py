"""Fuzzed inputs for the modules: every bad value gets the module's own message, naming the
item and the field, short whatever the input's size, never a traceback, and nothing is written.
Inputs that are in fact valid in Prefect (``Valid``) must be taken and read back unchanged.

Each case runs the module's own code in the pytest process (tests/inprocess.py), as
``ansible-test units`` runs modules: the real module and the real ``AnsibleModule`` (argument
spec, type coercion, no_log), real HTTP to the real server through the recording proxy, each case
on its own tagged URL so that its writes are known. Through ``ansible-playbook`` each case cost
about a second of CPU (a Python process per task, AnsiballZ), four to six CPU-minutes per CI
run beside the molecule scenarios; in-process a tenth of that. What the executor adds (YAML
holding NUL characters and infinities, templating, the JSON transport, the result as the
controller reads it) is still proved on a handful of cases of every module
(``test_executor_agrees_with_in_process``), which must give the same result both ways.
"""

from __future__ import annotations

import json
import subprocess
import urllib.parse

import pytest
import yaml
from conftest import VENV_BIN, ansible_env
from inprocess import run_module
from test_prefect_deployments import POOL, deps

HUGE = "x" * 100_000
# characters of a one-item message, whatever the size of the input (the longest that is not an
# echo: an unknown block type, with the list of the server's ~60 types)
MAX_MESSAGE = 2500
# Text a YAML file can hold that str.isdigit() and friends handle in surprising ways.
ODD_TEXT = ["", " ", "\x00", "\u00b2", "\u0663", "\uff11", "\u202e", "😀", "../..", HUGE]
# Names Prefect keeps as they are (created, then read back by name unchanged): the superscript
# two, an Arabic-Indic three, a fullwidth one, a right-to-left override and an emoji.
UNICODE_NAMES = {"\u00b2", "\u0663", "\uff11", "\u202e", "😀"}
REF = "$ref"


def q(name: str) -> str:
    return urllib.parse.quote(name, safe="")


class Valid:
    """An input Prefect takes as it is: the run must succeed and ``path`` read back ``name`` (and
    the ``fields`` given) unchanged."""

    DELETE = {
        "deployments": lambda obj: "/deployments/{}".format(obj["id"]),
        "work_pools": lambda obj: "/work_pools/{}".format(q(obj["name"])),
        "blocks": lambda obj: "/block_documents/{}".format(obj["id"]),
        "variables": lambda obj: "/variables/name/{}".format(q(obj["name"])),
        "work_queues": lambda obj: "/work_pools/{}/queues/{}".format(
            q(obj["work_pool_name"]), q(obj["name"])
        ),
    }

    def __init__(self, kind: str, path: str, name: str, **fields):
        self.kind, self.path, self.name, self.fields = kind, path, name, fields

    def check_and_remove(self, server) -> str | None:
        obj = server.api("GET", self.path)
        if not obj or obj.get("name") != self.name:
            return f"reads back {obj and obj.get('name')!r}, not {self.name!r}"
        for key, value in self.fields.items():
            if obj.get(key) != value:
                return f"reads back another {key}"
        server.api("DELETE", self.DELETE[self.kind](obj))  # other tests list these objects
        return None


def deployment_cases(project_dir) -> list[tuple[str, dict, str | Valid]]:
    """(case id, module args, the field the message must name, or Valid)."""
    cases = []

    def case(case_id, expect, **changes):
        args = deps(project_dir)
        args["deployments"] = args["deployments"][:1]
        item = args["deployments"][0]
        item["name"] = "load-data/t-fuzz"
        item.update(changes)
        cases.append((case_id, args, expect))

    for i, tz in enumerate(["America", "Europe", "posix", "", HUGE, "\x00", "../../etc/passwd",
                            "UTC\n", 5, ["UTC"], {"a": 1}]):  # fmt: skip
        case(f"timezone-{i}", "schedules[0].timezone",
             schedules=[{"cron": "0 0 1 * *", "timezone": tz}])  # fmt: skip
    crons = ["\u00b2 * * * *", "0 0 \u0663 * *", "\uff11 * * * *", "*/\u00b2 * * * *",
             "0 0 1 * *" * 1000, "", "0 0 1 * * \x00", 5, ["0 0 1 * *"], {"cron": "x"},
             "1-\u00b2 * * * *", "0 0 1 * MON-\u00b2", HUGE + " * * * *", "*/" + HUGE + " * * * *",
             "@" + HUGE]  # fmt: skip
    for i, cron in enumerate(crons):
        case(f"cron-{i}", "schedules[0]", schedules=[{"cron": cron, "timezone": "UTC"}])
    names = ["", "/", "a/b/c", HUGE + "/x", "load-data/", 5, ["x"], None, "x" * 256,
             "load-data/" + "y" * 256, "a\nb", "load-data/a\x00"]  # fmt: skip
    for i, name in enumerate(names):
        expect = "flow_name" if name == HUGE + "/x" else "name"
        if name == 5:  # Ansible's str type reads a YAML number as its text: Prefect keeps '5'
            expect = Valid("deployments", "/deployments/name/load-data/5", "5")
        case(f"name-{i}", expect, name=name)
    longest = "z" * 255  # the longest name the modules take: Prefect stores it and reads it back
    case("name-longest", Valid("deployments", f"/deployments/name/load-data/{longest}", longest),
         name="load-data/" + longest)  # fmt: skip
    for i, flow in enumerate(["a&b", HUGE, ["x"], "a\tb"]):
        case(f"flow_name-{i}", "flow_name", flow_name=flow)
    entries = ["", "flows/load_data.py", ":load_data", HUGE, "flows/../../etc/passwd:x",
               "flows/load_data.py:\u00b2", 5, HUGE + ".py:f", "flows/load_data.py:" + HUGE,
               "flows/\x00.py:f"]  # fmt: skip
    for i, entry in enumerate(entries):
        case(f"entrypoint-{i}", "entrypoint", entrypoint=entry)
    for i, params in enumerate(["rows=5", [1, 2], 5, {"no_such_param": 1}, {HUGE: 1}]):
        case(f"parameters-{i}", "parameters", parameters=params)
    case("parameters-nul", "parameters.source", parameters={"source": "a\x00"})
    case("parameters-inf", "parameters.rows", parameters={"rows": float("inf")})
    case("parameters-deep", "parameters.source", parameters={"source": _deep(100)})
    for i, tags in enumerate(["ml", {"a": 1}, 5, [["ml"]], ["ml", "a\x00"], [None]]):
        case(f"tags-{i}", "tags", tags=tags)
    for i, pool in enumerate([5, "x" * 300, {"name": 5}, {"name": ""}, {"name": "undeclared"},
                              {"name": POOL, "job_variables": "env=A"}, {"name": {"a": 1}},
                              {"name": ["x"]}, {"name": HUGE}, {"name": "a\x00"},
                              {"name": POOL, "work_queue_name": HUGE},
                              {"name": POOL, "work_queue_name": [5.5]},
                              {"name": POOL, "job_variables": {"env": {"A": "\x00"}}},
                              ]):  # fmt: skip
        case(f"work_pool-{i}", "work_pool", work_pool=pool)
    # POOL has no variables schema: Prefect takes any job variable, a 100 KB key included
    case("work_pool-huge-variable", Valid("deployments", "/deployments/name/load-data/t-fuzz",
                                          "t-fuzz", job_variables={HUGE: 1}),
         work_pool={"name": POOL, "job_variables": {HUGE: 1}})  # fmt: skip
    for i, limit in enumerate([-5, "many", 1e30, [1], 0, 2**31, True, "\u0663", 1.5, "1e3"]):
        case(f"concurrency_limit-{i}", "concurrency_limit", concurrency_limit=limit)
    for i, schedules in enumerate(["0 0 1 * *", [5], [{"cron": "0 0 1 * *", "active": "maybe"}],
                                   [{"cron": "0 0 1 * *", "day_or": HUGE}], [{}],
                                   [{"cron": "0 0 1 * *", "active": [True]}],
                                   [{"cron": "0 0 1 * *", HUGE: 1}]]):  # fmt: skip
        case(f"schedules-{i}", "schedules", schedules=schedules)
    for key, values in {"paused": ["maybe", [True], 2], "enforce_parameter_schema": ["x"],
                        "state": ["gone", 5, ""], "description": ["a\x00", {"a": 1}],
                        "version": [["1"], "\x00"], "bogus_option": [1]}.items():  # fmt: skip
        for i, value in enumerate(values):
            case(f"{key}-{i}", key, **{key: value})
    cases.append(("item-not-a-mapping", {**deps(project_dir), "deployments": ["x"]}, ""))
    return cases


def _deep(levels: int):
    value: object = "v"
    for _ in range(levels):
        value = [value]
    return value


def pool_cases() -> list[tuple[str, dict, str | Valid]]:
    cases = []
    for i, name in enumerate(ODD_TEXT + [5, None, ["p"], "x" * 256, "a&b", "a\nb", "'\""]):
        expect = "name"
        if name == 5 or (isinstance(name, str) and name in UNICODE_NAMES):
            # Prefect keeps these as they are (a YAML number is the text Ansible's str type reads)
            expect = Valid("work_pools", f"/work_pools/{q(str(name))}", str(name))
        cases.append((f"name-{i}", {"work_pools": [{"name": name}]}, expect))
    longest = "p" * 255
    cases.append(("name-longest", {"work_pools": [{"name": longest}]},
                  Valid("work_pools", f"/work_pools/{longest}", longest)))  # fmt: skip
    for i, ptype in enumerate(["\u00b2", "", HUGE, 5, ["process"], "\x00", "a\nb"]):
        cases.append((f"type-{i}", {"work_pools": [{"name": "t-fz", "type": ptype}]}, "type"))
    for i, limit in enumerate([-2, "x", 1e30, "\u00b2", [1], 2**31, False, "\u0663"]):
        args = {"work_pools": [{"name": "t-fz", "concurrency_limit": limit}]}
        cases.append((f"concurrency_limit-{i}", args, "concurrency_limit"))
    for i, jv in enumerate(["x", [1], {"no_such_variable": 1}, {HUGE: 1}, {"env": 5},
                            {"env": {"A": "a\x00"}}, {"working_dir": HUGE + "\x00"}]):  # fmt: skip
        args = {"work_pools": [{"name": "t-fz", "type": "process", "job_variables": jv}]}
        cases.append((f"job_variables-{i}", args, "job_variables"))
    for i, paused in enumerate(["maybe", [True], 7]):
        args = {"work_pools": [{"name": "t-fz", "paused": paused}]}
        cases.append((f"paused-{i}", args, "paused"))
    templates = ["x", {"job_configuration": {"a": "a\x00"}, "variables": {}}]
    for i, template in enumerate(templates):
        args = {"work_pools": [{"name": "t-fz", "base_job_template": template}]}
        cases.append((f"base_job_template-{i}", args, "base_job_template"))
    for key, values in {"description": ["a\x00", ["d"]], "state": ["gone", True],
                        "bogus_option": [1]}.items():  # fmt: skip
        for i, value in enumerate(values):
            args = {"work_pools": [{"name": "t-fz", key: value}]}
            cases.append((f"{key}-{i}", args, key))
    cases.append(("item-not-a-mapping", {"work_pools": [5]}, ""))
    return cases


def block_cases() -> list[tuple[str, dict, str | Valid]]:
    cases = []
    for i, btype in enumerate(ODD_TEXT + [5, None, "x" * 256, ["secret"]]):
        args = {"blocks": [{"block_type": btype, "name": "t-fz", "data": {"value": "v"}}]}
        cases.append((f"block_type-{i}", args, "block_type"))
    for i, name in enumerate(ODD_TEXT + [5, None, "Upper", "x" * 256, ["n"]]):
        args = {"blocks": [{"block_type": "secret", "name": name, "data": {"value": "v"}}]}
        expect = "name"
        if name == 5:  # Ansible's str type reads a YAML number as its text, a valid block name
            expect = Valid("blocks", "/block_types/slug/secret/block_documents/name/5", "5")
        cases.append((f"name-{i}", args, expect))
    for i, data in enumerate(["v", [1], 5, {"value": {REF: 5}}, {HUGE: 1},
                              {"value": "v", "extra": 1}, {"value": "a\x00"},
                              {"value": float("-inf")}, {"value": {REF: "x", "y": 1}},
                              {"value": {"a\x00": 1}}]):  # fmt: skip
        args = {"blocks": [{"block_type": "secret", "name": "t-fz", "data": data}]}
        cases.append((f"data-{i}", args, "data"))
    ref_cases = [{REF: {"block_type": "\u00b2", "name": "x"}}, {REF: {"name": "x"}},
                 {REF: "gcp-credentials/x"},
                 {REF: {"block_type": "gcp-credentials", "name": HUGE}},
                 {REF: {"block_type": "gcp-credentials", "name": 5}},
                 {REF: {"block_type": "gcp-credentials", "name": "a\nb"}},
                 {REF: {"block_document_id": HUGE}},
                 {REF: {"block_document_id": None}}]  # fmt: skip
    for i, ref in enumerate(ref_cases):
        args = {"blocks": [{"block_type": "gcs-bucket", "name": "t-fz",
                            "data": {"bucket": "b", "gcp_credentials": ref}}]}  # fmt: skip
        cases.append((f"ref-{i}", args, "data.gcp_credentials"))
    for i, state in enumerate(["gone", ["absent"]]):
        args = {"blocks": [{"block_type": "secret", "name": "t-fz", "state": state}]}
        cases.append((f"state-{i}", args, "state"))
    args = {"blocks": [{"block_type": "secret", "name": "t-fz", "bogus_option": 1}]}
    cases.append(("bogus_option-0", args, "bogus_option"))
    cases.append(("item-not-a-mapping", {"blocks": [["secret", "t-fz"]]}, ""))
    return cases


def variable_cases() -> list[tuple[str, dict, str | Valid]]:
    cases = []
    for i, name in enumerate(ODD_TEXT + [5, None, ["v"], "x" * 256, "Upper", "a b", "a\nb"]):
        expect = "name"
        if name == 5:  # Ansible's str type reads a YAML number as its text, a valid name
            expect = Valid("variables", "/variables/name/5", "5", value=1)
        cases.append((f"name-{i}", {"variables": [{"name": name, "value": 1}]}, expect))
    longest = "v" * 255
    cases.append(("name-longest", {"variables": [{"name": longest, "value": 1}]},
                  Valid("variables", f"/variables/name/{longest}", longest, value=1)))  # fmt: skip
    bad_values = [None, "a\x00", float("inf"), float("nan"), HUGE, {"a\x00": 1}, [["x\x00"]],
                  _deep(100), "x" * 4999]  # fmt: skip
    for i, value in enumerate(bad_values):
        cases.append((f"value-{i}", {"variables": [{"name": "t_fz", "value": value}]}, "value"))
    # JSON values Prefect keeps as they are, falsy ones and unicode included
    for i, value in enumerate(["", 0, False, [], {}, "\u202e😀", -1.5]):
        name = f"t_fz_valid_{i}"
        expect = Valid("variables", f"/variables/name/{name}", name, value=value)
        cases.append((f"value-valid-{i}", {"variables": [{"name": name, "value": value}]}, expect))
    for i, tags in enumerate(["ml", 5, [["ml"]], ["a\x00"], [None], {"a": 1}]):
        args = {"variables": [{"name": "t_fz", "value": 1, "tags": tags}]}
        cases.append((f"tags-{i}", args, "tags"))
    for key, values in {"secret": ["maybe", [True]], "state": ["gone", 5],
                        "bogus_option": [1]}.items():  # fmt: skip
        for i, value in enumerate(values):
            args = {"variables": [{"name": "t_fz", "value": 1, key: value}]}
            cases.append((f"{key}-{i}", args, key))
    cases.append(("item-not-a-mapping", {"variables": ["t_fz=1"]}, ""))
    return cases


def work_queue_cases() -> list[tuple[str, dict, str | Valid]]:
    """Few cases (each costs a module run): tests/modules/test_prefect_work_queues.py checks
    every field's rules; these add the odd text and the names Prefect keeps as they are."""
    cases = []

    def case(case_id, expect, **changes):
        cases.append((case_id, {"work_queues": [{"work_pool": POOL, "name": "t-fz", **changes}]},
                      expect))  # fmt: skip

    for i, name in enumerate(["", "\x00", HUGE, ["q"], "a/b", " ", "\u202e😀", 5]):
        expect = "name"
        if name in (" ", "\u202e😀", 5):  # Prefect keeps these as they are
            path = f"/work_pools/{POOL}/queues/{q(str(name))}"
            expect = Valid("work_queues", path, str(name))
        case(f"name-{i}", expect, name=name)
    for i, pool in enumerate(["\x00", HUGE, ["p"], "\u0663"]):
        case(f"work_pool-{i}", "work_pool", work_pool=pool)
    for i, priority in enumerate([1e30, True, "\u0663"]):
        case(f"priority-{i}", "priority", priority=priority)
    case("concurrency_limit-0", "concurrency_limit", concurrency_limit="\u00b2")
    case("description-0", "description", description="a\x00")
    cases.append(("item-not-a-mapping", {"work_queues": [f"{POOL}/t-fz"]}, ""))
    return cases


def automation_cases() -> list[tuple[str, dict, str]]:
    cases = []
    trigger = {"posture": "Reactive", "expect": ["prefect.flow-run.Failed"]}

    def case(case_id, expect, **changes):
        item = {"name": "t-fz", "trigger": dict(trigger), "actions": [{"type": "do-nothing"}]}
        item.update(changes)
        cases.append((case_id, {"automations": [item]}, expect))

    # names Prefect keeps are valid (a space, unicode); these are not
    for i, name in enumerate(["", "\x00", HUGE, "a\nb", None, ["n"], "x" * 256]):
        case(f"name-{i}", "name", name=name)
    bad_triggers = [
        "x", [trigger], None, {"type": "metric"}, {"type": ["event"]}, {"type": HUGE},
        {"posture": None}, {"posture": "reactive"}, {"posture": HUGE},
        {**trigger, "expect": "prefect.flow-run.Failed"}, {**trigger, "expect": [5]},
        {**trigger, "after": [None]}, {**trigger, "for_each": {"a": 1}},
        {**trigger, "threshold": "1"}, {**trigger, "threshold": 1.5},
        {**trigger, "threshold": True},
        {**trigger, "threshold": -1}, {**trigger, "threshold": 1e30},
        {**trigger, "within": "PT0S"}, {**trigger, "within": -1}, {**trigger, "within": True},
        {**trigger, "within": float("inf")},
        {"posture": "Proactive", "within": 5}, {**trigger, "match": "x"},
        {**trigger, "match": {"prefect.resource.id": 5}},
        {**trigger, "match": {"prefect.resource.id": [5]}},
        {**trigger, "match": {"prefect.resource.id": "a\x00"}}, {**trigger, "match": {HUGE: 1}},
        {**trigger, "match_related": [5]},
        {**trigger, "match_related": [{"prefect.resource.id": {"a": 1}}]},
        {**trigger, "id": "x"}, {**trigger, HUGE: 1},
        {"type": "compound", "triggers": "x", "require": "all"},
        {"type": "compound", "triggers": [], "require": "all"},
        {"type": "compound", "triggers": [trigger], "require": 2},
        {"type": "compound", "triggers": [trigger], "require": "most"},
        {"type": "compound", "triggers": [trigger]},
        {"type": "compound", "triggers": [trigger], "require": True},
        {"type": "compound", "triggers": [trigger], "require": "any", "within": "1h"},
        {"type": "compound", "triggers": [5], "require": "any"},
        {"type": "sequence", "triggers": [{"posture": "Sometimes"}]},
        {"type": "sequence", "triggers": [trigger], "require": "all"},
        _nested(40),
        {**trigger, "match": {"prefect.resource.id": "prefect.deployment.no-flow/nowhere"}},
        {**trigger, "match_related": {"prefect.resource.id": "prefect.work-pool.no-such-pool"}},
    ]  # fmt: skip
    for i, value in enumerate(bad_triggers):
        case(f"trigger-{i}", "trigger", trigger=value)
    cases.append(("trigger-missing", {"automations": [{"name": "t-fz", "actions": []}]},
                  "trigger"))  # fmt: skip
    run = {"type": "run-deployment"}
    some_id = "00000000-0000-0000-0000-000000000001"
    bad_actions = [
        "x", [], ["x"], [{}], [{"type": HUGE}], [{"type": ["do-nothing"]}],
        [{"type": "do-nothing", "bogus": 1}], [run], [{**run, "deployment": 5}],
        [{**run, "deployment": "a/b/c"}], [{**run, "deployment": HUGE}],
        [{**run, "deployment": "a\x00/b"}], [{**run, "deployment": "no-flow/nowhere"}],
        [{**run, "deployment": "a/b", "deployment_id": some_id}],
        [{**run, "deployment": "a/b", "source": "inferred"}],
        [{**run, "deployment_id": "not-a-uuid"}], [{**run, "source": "somewhere"}],
        [{**run, "source": "inferred", "deployment_id": some_id}],
        [{**run, "source": "inferred", "parameters": "rows=5"}],
        [{**run, "source": "inferred", "schedule_after": -1}],
        [{**run, "source": "inferred", "schedule_after": "PT1M"}],
        [{"type": "change-flow-run-state"}], [{"type": "change-flow-run-state", "state": "failed"}],
        [{"type": "change-flow-run-state", "state": "FAILED", "force": "maybe"}],
        [{"type": "send-notification", "block_document_id": some_id}],
        [{"type": "send-notification", "block_document_id": 5, "body": "b"}],
        [{"type": "call-webhook", "block_document_id": some_id,
          "payload": {"a": 1}}],
        [{"type": "pause-work-pool"}], [{"type": "pause-work-pool", "work_pool": 5}],
        [{"type": "resume-work-pool", "work_pool": "no-such-pool"}],
        [{"type": "pause-work-queue", "work_pool": "p"}], [{"type": "pause-automation"}],
    ]  # fmt: skip
    for i, value in enumerate(bad_actions):
        case(f"actions-{i}", "actions", actions=value)
    for key in ("actions_on_trigger", "actions_on_resolve"):
        for i, value in enumerate(["x", [{"type": "nope"}]]):
            case(f"{key}-{i}", key, **{key: value})
    for key, values in {"description": ["a\x00", ["d"]], "enabled": ["maybe", [True]],
                        "tags": ["ml", [None], ["a\x00"]], "state": ["gone", 5],
                        "bogus_option": [1]}.items():  # fmt: skip
        for i, value in enumerate(values):
            case(f"{key}-{i}", key, **{key: value})
    cases.append(("item-not-a-mapping", {"automations": ["t-fz"]}, ""))
    return cases


def _nested(levels: int) -> dict:
    trigger: dict = {"posture": "Reactive"}
    for _ in range(levels):
        trigger = {"type": "sequence", "triggers": [trigger]}
    return trigger


def run_in_process(runner, module: str, cases) -> dict[str, dict]:
    """Run every case in this process (tests/inprocess.py); returns each case's result by id."""
    server = runner.server
    return {
        case_id: run_module(
            module,
            {**runner.common(), **args, "api_url": server.tagged_url(case_id)},
            cwd=runner.workdir,
        )
        for case_id, args, _ in cases
    }


def run_playbook(runner, picked) -> dict[str, dict]:
    """Run ``(module, tag, args)`` as the tasks of one playbook, each on its own tagged URL;
    returns each task's result by tag."""
    tasks = [
        {
            "name": tag,
            module: {**runner.common(), **args, "api_url": runner.server.tagged_url(tag)},
            "ignore_errors": True,
        }
        for module, tag, args in picked
    ]
    play = [{"hosts": "localhost", "gather_facts": False, "connection": "local", "tasks": tasks}]
    path = runner.workdir / "fuzz.yml"
    # YAML, not JSON: it holds NUL characters and infinities as YAML files do
    path.write_text(yaml.safe_dump(play, allow_unicode=False, width=1_000_000))
    proc = subprocess.run(  # noqa: S603
        [str(VENV_BIN / "ansible-playbook"), "-i", "localhost,", str(path)],
        capture_output=True, text=True, cwd=runner.workdir, timeout=900,
        env=ansible_env({"ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json"}),
    )  # fmt: skip
    doc = json.loads(proc.stdout[proc.stdout.index("{") :])
    results = {t["task"]["name"]: t["hosts"]["localhost"] for t in doc["plays"][0]["tasks"]}
    assert len(results) == len(picked), proc.stderr[-2000:]
    return results


def check(kind: str, results, cases, writes, server, tag=None) -> list[str]:
    """What is wrong with each case's result (an empty list when nothing is); ``results`` and
    the tagged URLs go by case id, or by ``tag(case_id)``."""
    problems = []
    for case_id, _, expect in cases:
        key = tag(case_id) if tag else case_id
        res = results[key]
        msg = str(res.get("msg", ""))
        made = [w for w in writes if w[1].startswith(f"/case/{key}/")]
        crashed = "MODULE FAILURE" in msg or "Traceback" in msg + str(res.get("module_stderr"))
        if crashed:
            stderr = str(res.get("module_stderr"))[-300:]
            problems.append(f"{case_id}: crashed: {msg[:300]} {stderr}")
        elif isinstance(expect, Valid):
            if res.get("failed"):
                problems.append(f"{case_id}: a valid input failed: {msg[:300]}")
            else:
                wrong = expect.check_and_remove(server)
                if wrong:
                    problems.append(f"{case_id}: {wrong}")
        elif not res.get("failed"):
            problems.append(f"{case_id}: accepted ({res.get('changed')=}, writes {made})")
        else:
            # each error reads "<kind>[0] (<label>): <field>: <message>"
            named = [
                e
                for e in res.get("validation_errors") or []
                if e.startswith(f"{kind}[0]") and f": {expect}" in e
            ]
            if not msg.startswith("validation failed, nothing was changed: "):
                problems.append(f"{case_id}: not the module's own message: {msg[:300]}")
            elif not named:
                problems.append(f"{case_id}: message does not name {kind}[0] {expect}: {msg[:300]}")
            elif len(msg) > MAX_MESSAGE or HUGE[:100] in msg:
                problems.append(f"{case_id}: message of {len(msg)} characters: {msg[:300]}")
        if made and not isinstance(expect, Valid):
            problems.append(f"{case_id}: wrote {made}")
    return problems


@pytest.fixture(scope="module", autouse=True)
def pool(prefect_server):
    """The deployments' pool, gone again after this file (test_prefect_deployments creates it)."""
    created = prefect_server.api("GET", f"/work_pools/{POOL}") is None
    if created:
        prefect_server.api("POST", "/work_pools/", {"name": POOL, "type": "process"})
    yield
    if created:
        prefect_server.api("DELETE", f"/work_pools/{POOL}")


MODULES = {
    "prefect_deployments": ("deployments", deployment_cases),
    "prefect_work_pools": ("work_pools", lambda _: pool_cases()),
    "prefect_blocks": ("blocks", lambda _: block_cases()),
    "prefect_variables": ("variables", lambda _: variable_cases()),
    "prefect_automations": ("automations", lambda _: automation_cases()),
    "prefect_work_queues": ("work_queues", lambda _: work_queue_cases()),
}
# Cases that also go through ansible-playbook: what YAML, templating and the JSON transport
# could change (NUL characters, infinities, booleans and numbers where text is expected, a
# 100 KB string, deep nesting, unicode) and a valid input of two modules.
EXECUTOR_CASES = {
    "prefect_deployments": ["parameters-nul", "concurrency_limit-6"],
    "prefect_work_pools": ["name-9"],
    "prefect_blocks": ["ref-0"],
    "prefect_variables": ["value-2", "value-3", "name-10"],
    "prefect_automations": ["trigger-42"],
    "prefect_work_queues": ["priority-1", "name-6"],
}


@pytest.mark.parametrize("module", list(MODULES))
def test_fuzzed_inputs_fail_cleanly_without_writes(module, runner, writes, project_dir):
    kind, make = MODULES[module]
    cases = make(project_dir)
    ids = [case_id for case_id, _, _ in cases]
    assert len(set(ids)) == len(ids)
    distinct = {yaml.safe_dump(args) for _, args, _ in cases}
    assert len(distinct) == len(cases), "two cases give the same input"
    results = run_in_process(runner, module, cases)
    problems = check(kind, results, cases, writes(), runner.server)
    assert not problems, "\n".join(problems)
    valid = {case_id for case_id, _, expect in cases if isinstance(expect, Valid)}
    assert [w for w in writes() if w[1].split("/")[2] not in valid] == [], "a bad input wrote"


def test_executor_agrees_with_in_process(runner, writes, project_dir):
    """A handful of cases through ``ansible-playbook`` pass the same checks and fail with the
    same message and errors as in-process."""
    picked = []
    for module, ids in EXECUTOR_CASES.items():
        kind, make = MODULES[module]
        by_id = {case[0]: case for case in make(project_dir)}
        picked += [(module, kind, by_id[case_id]) for case_id in ids]
    executed = run_playbook(runner, [(m, f"x.{m}.{case[0]}", case[1]) for m, _, case in picked])
    problems = []
    for module, kind, case in picked:
        problems += check(kind, executed, [case], writes(), runner.server,
                          tag=lambda case_id, m=module: f"x.{m}.{case_id}")  # fmt: skip
    assert not problems, "\n".join(problems)
    in_process = {}
    for module, kind, case in picked:  # after the executor's: a valid input is created again
        tag = f"i.{module}.{case[0]}"
        in_process[tag] = run_module(
            module,
            {**runner.common(), **case[1], "api_url": runner.server.tagged_url(tag)},
            cwd=runner.workdir,
        )
        problems += check(kind, in_process, [case], writes(), runner.server,
                          tag=lambda case_id, m=module: f"i.{m}.{case_id}")  # fmt: skip
    assert not problems, "\n".join(problems)
    for module, _, (case_id, _, expect) in picked:
        by_executor = executed[f"x.{module}.{case_id}"]
        by_us = in_process[f"i.{module}.{case_id}"]
        if isinstance(expect, Valid):
            both = [r["results"][0]["action"] for r in (by_executor, by_us)]
            assert both == ["created", "created"], (module, case_id, both)
        else:
            for key in ("failed", "msg", "validation_errors"):
                assert by_executor.get(key) == by_us.get(key), (module, case_id, key)
