"""prefect_plan against a real Prefect server: several kinds planned in one call, nothing written.

The plans are the kinds' own: each is compared with what the kind's module returns in check mode
on the same input. Bad items of two kinds both fail the call, each named, with no write call, and
an object made through the API (as in the UI) and left undeclared is planned as nothing to do.
"""

from __future__ import annotations

import uuid

import pytest


@pytest.fixture
def names():
    uid = uuid.uuid4().hex[:8]
    return {"var": f"plan_rows_{uid}", "pool": f"plan-pool-{uid}", "queue": f"plan-queue-{uid}",
            "tag": f"plan-tag-{uid}", "ui_var": f"plan_ui_{uid}"}  # fmt: skip


def kinds(names, rows=1):
    return {
        "prefect_variables": {"variables": [{"name": names["var"], "value": rows}]},
        "prefect_concurrency_limits": {
            "global_limits": [{"name": names["tag"], "limit": 2}],
            "task_run_limits": [],
        },
        "prefect_work_pools": {"work_pools": [{"name": names["pool"], "type": "process"}]},
        "prefect_work_queues": {
            "declared_work_pools": [names["pool"]],
            "work_queues": [{"name": names["queue"], "work_pool": names["pool"], "priority": 5}],
        },
    }


def apply_each(runner, declared):
    for module, args in declared.items():
        result = runner.run(module, args)
        assert not result.failed, (module, result.msg)


def test_plans_as_each_module_in_check_mode_and_writes_nothing(
    runner, writes, prefect_server, names
):
    declared = kinds(names)
    prefect_server.proxy.reset()
    first = runner.run("prefect_plan", {"kinds": declared})
    assert not first.failed, first.msg
    assert not first.changed and first.result["settled"] is False
    assert writes() == []
    for module, args in declared.items():
        alone = runner.run(module, args, check=True).result
        plan = first.result["plans"][module]
        assert plan["results"] == alone["results"], module
        assert plan["summary"] == alone["summary"], module
        assert plan["changed"] == alone["changed"], module
    assert first.result["plans"]["prefect_variables"]["summary"] == {"created": 1}

    apply_each(runner, declared)
    prefect_server.proxy.reset()
    again = runner.run("prefect_plan", {"kinds": declared})
    assert again.result["settled"] is True, again.result["plans"]
    assert writes() == []

    changed = runner.run("prefect_plan", {"kinds": kinds(names, rows=2)})
    assert changed.result["settled"] is False
    assert changed.result["plans"]["prefect_variables"]["summary"] == {"updated": 1}
    assert changed.result["plans"]["prefect_work_pools"]["summary"] == {"unchanged": 1}


def test_an_object_made_in_the_ui_is_left_alone(runner, writes, prefect_server, names):
    declared = kinds(names)
    apply_each(runner, declared)
    prefect_server.api("POST", "/variables/", {"name": names["ui_var"], "value": 1})
    declared["prefect_variables"]["prune"] = True
    prefect_server.proxy.reset()
    plan = runner.run("prefect_plan", {"kinds": declared})
    rows = plan.result["plans"]["prefect_variables"]["results"]
    assert {"name": names["var"], "action": "unchanged"}.items() <= rows[0].items()
    # the prune plans only what this project made (other tests' variables among them)
    assert names["ui_var"] not in [row["name"] for row in rows], rows
    assert all(row.get("pruned") for row in rows[1:]), rows
    assert writes() == []


def test_bad_items_of_two_kinds_are_both_named_and_nothing_is_written(
    runner, writes, prefect_server, names
):
    declared = kinds(names)
    declared["prefect_variables"]["variables"][0]["name"] = "Not Allowed"
    declared["prefect_work_queues"]["work_queues"][0]["priority"] = 0
    prefect_server.proxy.reset()
    res = runner.run("prefect_plan", {"kinds": declared})
    assert res.failed
    assert res.msg.startswith("prefect_variables: validation failed, nothing was changed"), res.msg
    assert "variables[0] (Not Allowed): name" in res.msg, res.msg
    assert "prefect_work_queues: validation failed" in res.msg, res.msg
    assert "priority" in res.msg, res.msg
    assert set(res.result["plans"]) == set(declared)
    assert "msg" not in res.result["plans"]["prefect_work_pools"]
    assert writes() == []


def test_a_kind_s_own_options_are_checked_against_its_spec(runner, writes, names):
    declared = kinds(names)
    declared["prefect_work_queues"]["colour"] = "blue"
    res = runner.run("prefect_plan", {"kinds": declared})
    assert res.failed
    assert res.msg.startswith("prefect_work_queues: colour. Supported parameters include"), res.msg
    assert writes() == []


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"prefect_varaibles": {"variables": []}}, "kinds: unknown kinds ['prefect_varaibles']"),
        ({"prefect_variables": ["a"]}, "kinds: the options of ['prefect_variables'] must be a"),
    ],
)
def test_unknown_kinds_and_options_that_are_not_mappings(runner, writes, given, message):
    res = runner.run("prefect_plan", {"kinds": given})
    assert res.failed
    assert res.msg.startswith(message), res.msg
    assert writes() == []


def test_secrets_of_any_kind_stay_out_of_the_result(runner, names):
    token = "plan-secret-" + uuid.uuid4().hex  # noqa: S105
    declared = {"prefect_variables": {"variables": [
        {"name": names["var"], "value": token, "secret": True}]}}  # fmt: skip
    res = runner.run("prefect_plan", {"kinds": declared})
    assert not res.failed, res.msg
    assert token not in res.stdout + res.stderr


def test_a_kind_s_warnings_name_the_kind(runner, writes, names):
    """A queue of a pool declared in the same plan but not on the server yet: planned as it will
    be, with the queues' warning, named after its module."""
    declared = kinds(names)
    res = runner.run("prefect_plan", {"kinds": declared})
    assert not res.failed, res.msg
    expected = f"prefect_work_queues: work pool {names['pool']} is not on the server yet"
    assert [w for w in res.result.get("warnings", []) if w.startswith(expected)], res.result
    assert res.result["plans"]["prefect_work_queues"]["summary"] == {"created": 1}
    assert writes() == []
