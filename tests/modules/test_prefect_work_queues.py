"""prefect_work_queues against a real Prefect server: ladder, the default queue, priorities that
Prefect shifts, validation, check mode before the pool exists, prune of recorded queues only,
adoption into the record, absent."""

from __future__ import annotations

import itertools
import urllib.parse

import pytest
from ladder import run_ladder

MODULE = "prefect_work_queues"
RECORD = "prefect_stack_managed_work_queues"


def q(name: str) -> str:
    return urllib.parse.quote(name, safe="")


POOLS = itertools.count()


@pytest.fixture
def pool(prefect_server):
    """A fresh process pool for each test; gone again afterwards (its queues with it)."""
    name = f"t-wq-{next(POOLS)}"
    prefect_server.api("POST", "/work_pools/", {"name": name, "type": "process"})
    yield name
    prefect_server.api("DELETE", f"/work_pools/{q(name)}")


def queues(server, pool: str) -> dict[str, dict]:
    rows = server.api("POST", f"/work_pools/{q(pool)}/queues/filter", {})
    return {row["name"]: row for row in rows}


def fields(row: dict) -> tuple:
    return (row["priority"], row["concurrency_limit"], row["is_paused"], row["description"])


def recorded(server) -> set[str]:
    row = server.api("GET", f"/variables/name/{RECORD}")
    return set(row["value"]) if row else set()


def wq(pool: str, name: str, **fields) -> dict:
    return {"work_pool": pool, "name": name, **fields}


def test_ladder(runner, writes, prefect_server, pool):
    first = {
        "work_queues": [
            wq(pool, "ml", description="training", priority=1, concurrency_limit=2),
            wq(pool, "etl", priority=2, is_paused=True),
            wq(pool, "default", priority=3, concurrency_limit=5),
        ]
    }
    second = {
        "work_queues": [
            wq(pool, "ml", description="training", priority=2, concurrency_limit=-1),
            wq(pool, "etl", priority=1, is_paused=False),
            wq(pool, "default", priority=3, concurrency_limit=5),
        ]
    }
    steps = run_ladder(runner, writes, MODULE, first, second)

    assert steps[1].actions() == {
        f"{pool}/ml": "created",
        f"{pool}/etl": "created",
        f"{pool}/default": "updated",
    }
    assert steps[5].actions() == {
        f"{pool}/ml": "updated",
        f"{pool}/etl": "updated",
        f"{pool}/default": "unchanged",
    }
    rows = queues(prefect_server, pool)
    assert fields(rows["ml"]) == (2, None, False, "training")
    assert fields(rows["etl"]) == (1, None, False, "")
    assert fields(rows["default"]) == (3, 5, False, "The work pool's default queue.")
    # what the module created is recorded; the default queue never is (it cannot be deleted)
    assert {f"{pool}/ml", f"{pool}/etl"} <= recorded(prefect_server)
    assert f"{pool}/default" not in recorded(prefect_server)
    # the diff shows only the declared fields, before and after
    diff = [d for d in steps[4].result["diff"] if f"{pool}/ml " in d["after_header"]][0]
    assert diff["before"] == {"description": "training", "priority": 1, "concurrency_limit": 2}
    assert diff["after"] == {"description": "training", "priority": 2, "concurrency_limit": None}


def test_default_queue_changed_and_undeclared_fields_left_alone(
    runner, writes, prefect_server, pool
):
    before = queues(prefect_server, pool)["default"]
    args = {"work_queues": [wq(pool, "default", concurrency_limit=1, is_paused=True)]}
    res = runner.run(MODULE, args, diff=True)
    assert res.changed and res.actions() == {f"{pool}/default": "updated"}, res.result
    after = queues(prefect_server, pool)["default"]
    assert (after["concurrency_limit"], after["is_paused"]) == (1, True)
    # priority and description were not declared: the server keeps its own
    assert after["priority"] == before["priority"]
    assert after["description"] == before["description"]
    mark = len(writes())
    assert not runner.run(MODULE, args).changed
    assert writes()[mark:] == []
    # -1 removes the limit, as in prefect_work_pools
    args["work_queues"][0]["concurrency_limit"] = -1
    assert runner.run(MODULE, args).changed
    assert queues(prefect_server, pool)["default"]["concurrency_limit"] is None
    assert f"{pool}/default" not in recorded(prefect_server)


def test_priorities_prefect_shifts_reach_the_declared_state_in_one_run(
    runner, writes, prefect_server, pool
):
    api = prefect_server.api
    # default 1, then a (UI) at 2 and b at 3: a new queue at 2 makes Prefect move a to 3, which
    # moves b to 4 although b's declared priority (3) is the one it has
    api("POST", f"/work_pools/{q(pool)}/queues", {"name": "a", "priority": 2})
    api("POST", f"/work_pools/{q(pool)}/queues", {"name": "b", "priority": 3})
    args = {"work_queues": [wq(pool, "b", priority=3), wq(pool, "hi", priority=2)]}
    check = runner.run(MODULE, args, check=True)
    assert check.actions() == {f"{pool}/b": "updated", f"{pool}/hi": "created"}, check.result
    note = [r for r in check.result["results"] if r["name"] == f"{pool}/b"][0]["note"]
    assert "the other writes of the pool would move it to 4" in note
    res = runner.run(MODULE, args)
    assert res.changed, res.msg
    rows = queues(prefect_server, pool)
    assert (rows["hi"]["priority"], rows["b"]["priority"]) == (2, 3)
    assert rows["a"]["priority"] == 4  # not declared: Prefect moved it
    mark = len(writes())
    again = runner.run(MODULE, args)
    assert not again.changed and writes()[mark:] == [], again.result
    # swapping two declared priorities also converges in one run
    args = {"work_queues": [wq(pool, "b", priority=2), wq(pool, "hi", priority=3)]}
    assert runner.run(MODULE, args).changed
    rows = queues(prefect_server, pool)
    assert (rows["b"]["priority"], rows["hi"]["priority"]) == (2, 3)
    assert not runner.run(MODULE, args).changed


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ({"name": "x"}, "work_queues[1] (t-no-such-pool/x): work_pool: no work pool"),
        ({"name": "a/b"}, "(POOL/a/b): name: must be non-empty, without any of /%&><"),
        ({"name": ""}, "name: must be non-empty"),
        ({"name": "a\nb"}, "name: contains a control character"),
        ({"name": "x", "priority": 0}, "(POOL/x): priority: must be 1 (the highest) or more"),
        ({"name": "x", "priority": 7}, "priority: 7 is also declared for work_queues[0]"),
        ({"name": "x", "concurrency_limit": -2}, "(POOL/x): concurrency_limit: must be 0 or"),
        ({"name": "x", "concurrency_limit": 2**31}, "concurrency_limit: must be 0 or more"),
        ({"name": "x", "is_paused": "maybe"}, "(POOL/x): is_paused: expected a boolean"),
        ({"name": "x", "description": ["d"]}, "description: expected a string, got a list"),
        ({"name": "x", "colour": "red"}, "(POOL/x): colour: unknown option"),
        ({"name": "t-first"}, "work_queues[1] (POOL/t-first): name: duplicate of work_queues[0]"),
        ({"name": "default", "state": "absent"}, "(POOL/default): state: 'default' is the default"),
        ({"name": "x", "state": "gone"}, "state: must be one of present, absent"),
    ],
)
def test_validation_names_item_and_field_and_writes_nothing(
    runner, writes, prefect_server, pool, item, expected
):
    second = {"work_pool": "t-no-such-pool" if "no work pool" in expected else pool, **item}
    args = {"work_queues": [wq(pool, "t-first", priority=7), second]}
    before = len(writes())
    res = runner.run(MODULE, args)
    expected = expected.replace("POOL", pool)
    assert res.failed and expected in res.msg, res.msg
    assert res.msg.startswith("validation failed, nothing was changed")
    assert writes()[before:] == []
    assert "t-first" not in queues(prefect_server, pool)


def test_check_mode_before_the_pool_exists(runner, writes):
    new = "t-wq-not-yet"
    items = [wq(new, "ml", priority=1), wq(new, "default", priority=2)]
    args = {"declared_work_pools": [new], "work_queues": items}
    before = len(writes())
    res = runner.run(MODULE, args, check=True, diff=True)
    assert not res.failed, res.msg
    assert res.actions() == {f"{new}/ml": "created", f"{new}/default": "updated"}
    assert any("not on the server yet" in w for w in res.result.get("warnings", []))
    assert writes()[before:] == []
    # a real run, or a pool nobody declared, fails validation
    res = runner.run(MODULE, args)
    assert res.failed and "work_queues[0] (t-wq-not-yet/ml): work_pool: no work pool" in res.msg
    args["declared_work_pools"] = []
    res = runner.run(MODULE, args, check=True)
    assert res.failed and "work_pool: no work pool" in res.msg
    assert writes()[before:] == []


def test_prune_only_recorded_queues_of_declared_pools(runner, writes, prefect_server, pool):
    api = prefect_server.api
    other = pool + "-other"
    api("POST", "/work_pools/", {"name": other, "type": "process"})
    try:
        declared = [wq(pool, f"q{n}") for n in range(3)]
        assert runner.run(MODULE, {"work_queues": declared + [wq(other, "x")]}).changed
        assert {f"{pool}/q1", f"{pool}/q2", f"{other}/x"} <= recorded(prefect_server)
        # made in the UI (or by a worker's --work-queue): never recorded, never pruned
        api("POST", f"/work_pools/{q(pool)}/queues", {"name": "ui"})
        keep = {"work_queues": declared[:1]}
        assert not runner.run(MODULE, keep).changed  # prune is opt-in
        keep["prune"] = True
        before = len(writes())
        check = runner.run(MODULE, keep, check=True, diff=True)
        assert check.changed and check.actions() == {
            f"{pool}/q0": "unchanged",
            f"{pool}/q1": "deleted",
            f"{pool}/q2": "deleted",
        }, check.result
        assert writes()[before:] == []
        assert runner.run(MODULE, keep).changed
        assert set(queues(prefect_server, pool)) == {"default", "q0", "ui"}
        assert "x" in queues(prefect_server, other)  # another pool's queue: not this prune's
        assert f"{pool}/q1" not in recorded(prefect_server)
        assert f"{other}/x" in recorded(prefect_server)
        before = len(writes())
        assert not runner.run(MODULE, keep).changed
        assert writes()[before:] == []
        # a recorded queue deleted in the UI is forgotten: one made later under its name is
        # not ours, and prune leaves it alone
        api("DELETE", f"/work_pools/{q(pool)}/queues/q0")
        assert runner.run(MODULE, {"work_queues": [wq(pool, "q5")]}).changed
        assert f"{pool}/q0" not in recorded(prefect_server)
        api("POST", f"/work_pools/{q(pool)}/queues", {"name": "q0"})
        res = runner.run(MODULE, {"prune": True, "work_queues": [wq(pool, "q5")]})
        assert not res.changed, res.result
        assert {"q0", "ui", "q5", "default"} == set(queues(prefect_server, pool))
    finally:
        api("DELETE", f"/work_pools/{q(other)}")


def test_declared_queues_are_adopted(runner, writes, prefect_server, pool):
    api = prefect_server.api
    api("POST", f"/work_pools/{q(pool)}/queues", {"name": "made-in-ui", "priority": 5})
    args = {"work_queues": [wq(pool, "made-in-ui", priority=5)]}
    before = len(writes())
    # check mode: the queue is as declared, the record would be saved (a change), nothing written
    res = runner.run(MODULE, args, check=True)
    assert res.changed and res.result["record_pending"], res.result
    assert res.result["summary"] == {"unchanged": 1}
    assert writes()[before:] == []
    res = runner.run(MODULE, args)
    # adopting writes the record, not the queue: a change all the same
    assert res.changed and res.result["record_pending"], res.result
    assert res.result["summary"] == {"unchanged": 1}
    assert [w for w in writes()[before:] if "/variables" not in w[1]] == []
    assert f"{pool}/made-in-ui" in recorded(prefect_server)
    before = len(writes())
    res = runner.run(MODULE, args)
    assert not res.changed and res.result["record_pending"] is False, res.result
    assert writes()[before:] == []  # adopted once: the next run writes nothing
    # once no longer declared, prune takes it
    res = runner.run(MODULE, {"prune": True, "work_queues": [wq(pool, "other")]})
    assert res.actions() == {f"{pool}/other": "created", f"{pool}/made-in-ui": "deleted"}
    assert "made-in-ui" not in queues(prefect_server, pool)


def test_absent(runner, writes, prefect_server, pool):
    args = {"work_queues": [wq(pool, "gone", concurrency_limit=3)]}
    assert runner.run(MODULE, args).changed
    args["work_queues"][0] = wq(pool, "gone", state="absent")
    assert runner.run(MODULE, args, check=True).changed
    assert "gone" in queues(prefect_server, pool)
    res = runner.run(MODULE, args, diff=True)
    assert res.changed and res.actions() == {f"{pool}/gone": "deleted"}
    assert res.result["diff"][0]["before"]["concurrency_limit"] == 3
    assert "gone" not in queues(prefect_server, pool)
    assert f"{pool}/gone" not in recorded(prefect_server)
    before = len(writes())
    assert not runner.run(MODULE, args).changed
    assert writes()[before:] == []
