"""prefect_automations against a real Prefect server: ladder, name references, validation,
check mode with declared deployments, prune, absent, drift made in the UI."""

from __future__ import annotations

import copy

import pytest
from ladder import run_ladder

MODULE = "prefect_automations"
POOL = "t-auto-pool"
TAG = "managed-by:prefect-stack"


@pytest.fixture(scope="module")
def objects(prefect_server):
    """The deployments (load-data/main, train-model/main) and the pool the automations name."""
    api = prefect_server.api
    ids = {}
    flows = []
    for flow in ("load-data", "train-model"):
        flow_id = api("POST", "/flows/", {"name": flow})["id"]
        flows.append(flow_id)
        dep = api("POST", "/deployments/", {"name": "main", "flow_id": flow_id})
        ids[f"{flow}/main"] = dep["id"]
    ids[POOL] = api("POST", "/work_pools/", {"name": POOL, "type": "process"})["id"]
    yield ids
    for row in api("POST", "/automations/filter", {}):
        if row["name"].startswith("t-"):
            api("DELETE", "/automations/{}".format(row["id"]))
    for flow in ("load-data", "train-model"):
        api("DELETE", "/deployments/{}".format(ids[f"{flow}/main"]))
    api("DELETE", f"/work_pools/{POOL}")


def read(server, name) -> dict | None:
    rows = server.api("POST", "/automations/filter", {"automations": {"name": {"any_": [name]}}})
    assert len(rows) <= 1, rows
    return rows[0] if rows else None


def train_after_load(threshold: int = 1) -> dict:
    """The project's automation, as the module's EXAMPLES write it."""
    return {
        "name": "t-train-after-load",
        "description": "Train the model on the data load-data just wrote",
        "trigger": {
            "type": "event",
            "posture": "Reactive",
            "expect": ["prefect.flow-run.Completed"],
            "match": {"prefect.resource.id": "prefect.flow-run.*"},
            "match_related": {"prefect.resource.id": "prefect.deployment.load-data/main"},
            "threshold": threshold,
            "within": 0,
        },
        "actions": [{"type": "run-deployment", "deployment": "train-model/main"}],
    }


def later() -> dict:
    """An automation that runs a deployment not created yet."""
    auto = train_after_load()
    auto["name"] = "t-later"
    auto["actions"] = [{"type": "run-deployment", "deployment": "train-model/t-later"}]
    return auto


def pool_guard() -> dict:
    """Nested triggers, work pool references, and defaults the server fills in (a Proactive
    trigger's within, for_each, the fields of the actions)."""
    return {
        "name": "t-pool-guard",
        "tags": ["ops"],
        "trigger": {
            "type": "compound",
            "require": "all",
            "within": 3600,
            "triggers": [
                {
                    "posture": "Reactive",
                    "expect": ["prefect.flow-run.Crashed", "prefect.flow-run.Failed"],
                    "match_related": [{"prefect.resource.id": "prefect.work-pool.t-auto-pool"}],
                    "threshold": 3,
                    "within": 600,
                },
                {
                    "type": "event",
                    "posture": "Proactive",
                    "expect": ["prefect.work-pool.ready"],
                    "match": {"prefect.resource.id": ["prefect.work-pool.t-auto-pool"]},
                },
            ],
        },
        "actions": [{"type": "pause-work-pool", "work_pool": POOL}],
        "actions_on_resolve": [{"type": "resume-work-pool", "work_pool": POOL}],
    }


def test_ladder_and_name_references(runner, writes, prefect_server, objects):
    first = {"automations": [train_after_load(), pool_guard()]}
    second = {"automations": [train_after_load(threshold=2), pool_guard()]}
    steps = run_ladder(runner, writes, MODULE, first, second)
    assert steps[1].actions() == {"t-train-after-load": "created", "t-pool-guard": "created"}
    assert steps[5].actions() == {"t-train-after-load": "updated", "t-pool-guard": "unchanged"}
    assert steps[5].result["results"][0]["changed_fields"] == ["trigger"]

    auto = read(prefect_server, "t-train-after-load")
    assert auto["trigger"]["threshold"] == 2
    assert auto["trigger"]["match_related"] == {
        "prefect.resource.id": "prefect.deployment." + objects["load-data/main"]
    }
    [action] = auto["actions"]
    assert action["deployment_id"] == objects["train-model/main"]
    assert action["source"] == "selected" and action["type"] == "run-deployment"
    assert auto["tags"] == [TAG] and auto["enabled"] is True
    assert auto["description"] == "Train the model on the data load-data just wrote"

    guard = read(prefect_server, "t-pool-guard")
    pool_id = "prefect.work-pool." + objects[POOL]
    crashed, ready = guard["trigger"]["triggers"]
    assert crashed["match_related"] == [{"prefect.resource.id": pool_id}]
    assert ready["match"] == {"prefect.resource.id": [pool_id]}
    assert ready["within"] == 10  # Prefect's least for a Proactive trigger, 0 declared
    assert guard["actions"][0]["work_pool_id"] == objects[POOL]
    assert guard["actions_on_resolve"][0]["work_pool_id"] == objects[POOL]
    assert sorted(guard["tags"]) == ["managed-by:prefect-stack", "ops"]
    # the diff of the update shows the trigger's before and after
    diff = steps[5].result["diff"][0]
    assert diff["before"]["trigger"]["threshold"] == 1
    assert diff["after"]["trigger"]["threshold"] == 2


def invalid(runner, writes, automations, **options) -> list[str]:
    before = len(writes())
    res = runner.run(MODULE, {"automations": automations, **options})
    assert res.failed, res.result
    assert res.msg.startswith("validation failed, nothing was changed"), res.msg
    assert writes()[before:] == [], "validation must fail before any write"
    return res.result["validation_errors"]


def test_validation_names_item_and_field_and_writes_nothing(runner, writes, objects):
    def item(name, **changes):
        auto = train_after_load()
        auto["name"] = name
        auto.update(changes)
        return auto

    trigger = train_after_load()["trigger"]
    errors = invalid(
        runner,
        writes,
        [
            item("t-v0", trigger=dict(trigger, type="metric")),
            item("t-v1", trigger=dict(trigger, posture="Sometimes")),
            item("t-v2", actions={"type": "do-nothing"}),
            item("t-v3", actions=[]),
            item("t-v4", actions=[{"type": "do-nothing"}, {"type": "launch-rocket"}]),
            item("t-v5", trigger=dict(trigger, threshold=0, within=-1, expects=["x"])),
            item("t-v6", actions=[{"type": "run-deployment", "deployment": "no-flow-part"}]),
        ],
    )
    expected = [
        "automations[0] (t-v0): trigger.type: must be one of event, compound, sequence, "
        "got 'metric' (metric triggers are Prefect Cloud's)",
        "automations[1] (t-v1): trigger.posture: must be Reactive or Proactive: got 'Sometimes'",
        "automations[2] (t-v2): actions: expected a list, got a mapping",
        "automations[3] (t-v3): actions: must hold at least one action",
        "automations[4] (t-v4): actions[1].type: unknown action type 'launch-rocket' (known: ",
        "automations[5] (t-v5): trigger.threshold: must be from 1 to 2147483647, got 0",
        "automations[5] (t-v5): trigger.within: must be a number of seconds, 0 or more, got -1",
        "automations[5] (t-v5): trigger.expects: unknown key (known: type, posture, ",
        "automations[6] (t-v6): actions[0].deployment: must be <flow>/<deployment>, "
        "got 'no-flow-part'",
    ]
    for want in expected:
        assert any(e.startswith(want) for e in errors), f"{want!r} not in {errors}"
    assert len(errors) == len(expected), errors

    # references and duplicates are checked against the server, still before any write
    errors = invalid(
        runner,
        writes,
        [
            item("t-v7", actions=[{"type": "run-deployment", "deployment": "train-model/nope"}]),
            item("t-v8"),
            item("t-v8"),
            item("t-v9", actions=[{"type": "pause-work-pool", "work_pool": "no-such-pool"}]),
            # declared, but without --check it must exist by then (prefect_deployments ran)
            later(),
        ],
        declared_deployments=["train-model/t-later"],
    )
    assert sorted(errors) == [
        "automations[0] (t-v7): actions[0].deployment: no deployment train-model/nope on the "
        "server (declared: train-model/t-later)",
        "automations[2] (t-v8): name: duplicate of automations[1]",
        "automations[3] (t-v9): actions[0].work_pool: no work pool 'no-such-pool' on the server",
        "automations[4] (t-later): actions[0].deployment: no deployment train-model/t-later on "
        "the server (declared: train-model/t-later)",
    ]


def test_declared_deployment_in_check_mode(runner, writes, prefect_server, objects):
    auto = later()
    args = {"automations": [auto], "declared_deployments": ["train-model/t-later"]}
    before = len(writes())
    res = runner.run(MODULE, args, check=True, diff=True)
    assert not res.failed, res.msg
    assert res.changed and res.actions() == {"t-later": "created"}
    [warning] = res.result["warnings"]
    assert "actions[0].deployment: deployment train-model/t-later is not on the server" in warning
    assert res.result["diff"][0]["after"]["actions"][0]["deployment_id"].startswith("<")
    assert writes()[before:] == []
    assert read(prefect_server, "t-later") is None


def test_prune_drift_and_absent(runner, writes, prefect_server, objects):
    """Prune spares what the UI made, a change made in the UI is set back, absent deletes."""
    keep, gone, drift = train_after_load(), train_after_load(), train_after_load()
    keep["name"], gone["name"], drift["name"] = "t-prune-keep", "t-prune-gone", "t-drift"
    tag = {"managed_tag": "managed-by:prune-test"}
    assert runner.run(MODULE, {"automations": [keep, gone, drift], **tag}).changed
    # made in the UI: no managed tag, so never pruned
    ui = copy.deepcopy(keep)
    ui["name"] = "t-prune-ui"
    ui["trigger"]["match_related"]["prefect.resource.id"] = (
        "prefect.deployment." + objects["load-data/main"]
    )
    ui["actions"] = [{"type": "do-nothing"}]
    prefect_server.api("POST", "/automations/", ui)
    # disabled in the UI
    row = read(prefect_server, "t-drift")
    prefect_server.api("PATCH", "/automations/{}".format(row["id"]), {"enabled": False})

    res = runner.run(MODULE, {"automations": [keep, drift], "prune": True, **tag})
    assert res.actions() == {
        "t-prune-keep": "unchanged",
        "t-drift": "updated",
        "t-prune-gone": "deleted",
    }
    assert res.result["results"][1]["changed_fields"] == ["enabled"]
    assert read(prefect_server, "t-drift")["enabled"] is True
    assert read(prefect_server, "t-prune-gone") is None
    assert read(prefect_server, "t-prune-ui") is not None

    absent = {"automations": [keep, {"name": "t-drift", "state": "absent"}], "prune": True, **tag}
    res = runner.run(MODULE, absent)
    assert res.actions() == {"t-prune-keep": "unchanged", "t-drift": "deleted"}
    assert read(prefect_server, "t-drift") is None
    before = len(writes())
    res = runner.run(MODULE, absent)
    assert not res.changed
    assert res.actions() == {"t-prune-keep": "unchanged", "t-drift": "unchanged"}
    assert writes()[before:] == []
    assert read(prefect_server, "t-prune-ui") is not None
