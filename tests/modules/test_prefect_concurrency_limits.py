"""prefect_concurrency_limits against a real Prefect server: ladder, slots, prune, validation."""

from __future__ import annotations

import uuid

from ladder import run_ladder
from test_fuzz_inputs import run_in_process

MODULE = "prefect_concurrency_limits"
RECORD = "prefect_stack_managed_concurrency_limits"


def limits_v(gpu: int, api_active: bool, db: int) -> dict:
    return {
        "global_limits": [
            {"name": "t-gpu", "limit": gpu},
            {"name": "t-api", "limit": 10, "slot_decay_per_second": 0.5, "active": api_active},
        ],
        "task_run_limits": [{"tag": "t-db", "limit": db}],
    }


def read_global(server, name):
    return server.api("GET", f"/v2/concurrency_limits/{name}")


def read_tag(server, tag):
    return server.api("GET", f"/concurrency_limits/tag/{tag}")


def recorded(server) -> set[str]:
    row = server.api("GET", f"/variables/name/{RECORD}")
    return set(row["value"]) if row else set()


def test_ladder(runner, writes, prefect_server):
    steps = run_ladder(runner, writes, MODULE, limits_v(2, True, 5), limits_v(3, False, 6))
    assert steps[1].actions() == {"t-gpu": "created", "t-api": "created", "tag:t-db": "created"}
    assert steps[4].actions() == {"t-gpu": "updated", "t-api": "updated", "tag:t-db": "updated"}
    gpu, api = read_global(prefect_server, "t-gpu"), read_global(prefect_server, "t-api")
    assert (gpu["limit"], gpu["active"], gpu["slot_decay_per_second"]) == (3, True, 0.0)
    assert (api["limit"], api["active"], api["slot_decay_per_second"]) == (10, False, 0.5)
    assert read_tag(prefect_server, "t-db")["concurrency_limit"] == 6
    assert {"t-gpu", "t-api", "tag:t-db"} <= recorded(prefect_server)
    # apply: three creates and the record; change: two PATCHes by id and the tag re-posted
    made = writes()
    assert len(made) == 7 and not [m for m, _ in made if m == "DELETE"], made
    assert sorted(made[-3:]) == sorted(
        [
            ("PATCH", f"/api/v2/concurrency_limits/{gpu['id']}"),
            ("PATCH", f"/api/v2/concurrency_limits/{api['id']}"),
            ("POST", "/api/concurrency_limits/"),
        ]
    ), made
    diffs = {d["after_header"]: d for d in steps[4].result["diff"]}
    api_diff = diffs["concurrency_limits t-api (updated)"]
    assert api_diff["before"]["active"] is True and api_diff["after"]["active"] is False
    assert diffs["concurrency_limits tag:t-db (updated)"]["after"] == {"limit": 6}
    rows = {r["name"]: r for r in steps[5].result["results"]}
    assert rows["tag:t-db"]["list"] == "task_run_limits" and rows["tag:t-db"]["tag"] == "t-db"
    assert rows["t-gpu"]["list"] == "global_limits" and rows["t-gpu"]["id"] == gpu["id"]


def test_a_changed_limit_keeps_its_active_slots(runner, prefect_server):
    args = {
        "global_limits": [{"name": "t-slots", "limit": 3}],
        "task_run_limits": [{"tag": "t-slots-tag", "limit": 2}],
    }
    assert runner.run(MODULE, args).changed
    # slots taken as flows and tasks take them, straight through the API
    taken = prefect_server.api(
        "POST", "/v2/concurrency_limits/increment", {"names": ["t-slots"], "slots": 2}
    )
    assert [row["name"] for row in taken] == ["t-slots"]
    task_run = str(uuid.uuid4())
    taken = prefect_server.api(
        "POST", "/concurrency_limits/increment", {"names": ["t-slots-tag"], "task_run_id": task_run}
    )
    assert [row["name"] for row in taken] == ["t-slots-tag"]
    before = read_global(prefect_server, "t-slots")
    assert before["active_slots"] == 2

    args["global_limits"][0]["limit"] = 5
    args["task_run_limits"][0]["limit"] = 4
    assert runner.run(MODULE, args).actions() == {
        "t-slots": "updated",
        "tag:t-slots-tag": "updated",
    }
    after = read_global(prefect_server, "t-slots")
    assert (after["id"], after["limit"], after["active_slots"]) == (before["id"], 5, 2)
    tag = read_tag(prefect_server, "t-slots-tag")
    assert (tag["concurrency_limit"], tag["active_slots"]) == (4, [task_run])

    # below the slots in use: the server keeps them, new acquisitions wait
    args["global_limits"][0]["limit"] = 1
    assert runner.run(MODULE, args).changed
    assert read_global(prefect_server, "t-slots")["active_slots"] == 2


def test_prune_only_what_this_module_recorded(runner, writes, prefect_server):
    # start from an empty record: the limits earlier tests left are pruned
    assert not runner.run(MODULE, {"prune": True}).failed
    assert recorded(prefect_server) == set()
    declared = {
        "global_limits": [{"name": "t-pr-a", "limit": 1}, {"name": "t-pr-b", "limit": 1}],
        "task_run_limits": [{"tag": "t-pr-c", "limit": 1}],
    }
    assert runner.run(MODULE, declared).changed
    # made as the UI makes them: never pruned; t-pr-adopt is then declared, so adopted
    for name in ("t-pr-ui", "t-pr-adopt"):
        prefect_server.api("POST", "/v2/concurrency_limits/", {"name": name, "limit": 7})
    prefect_server.api(
        "POST", "/concurrency_limits/", {"tag": "t-pr-uitag", "concurrency_limit": 7}
    )

    keep = {
        "global_limits": [{"name": "t-pr-a", "limit": 1}, {"name": "t-pr-adopt", "limit": 7}],
    }
    res = runner.run(MODULE, keep)  # prune is opt-in
    # adopting t-pr-adopt writes the record: a change, though no limit changed
    assert res.changed and res.result["record_pending"], res.result
    assert res.actions() == {"t-pr-a": "unchanged", "t-pr-adopt": "unchanged"}
    assert "t-pr-adopt" in recorded(prefect_server)
    res = runner.run(MODULE, keep)
    assert not res.changed and res.result["record_pending"] is False, res.result
    keep["prune"] = True
    start = len(writes())
    check = runner.run(MODULE, keep, check=True, diff=True)
    assert check.changed and check.actions() == {
        "t-pr-a": "unchanged",
        "t-pr-adopt": "unchanged",
        "t-pr-b": "deleted",
        "tag:t-pr-c": "deleted",
    }
    assert writes()[start:] == []
    assert read_global(prefect_server, "t-pr-b") is not None

    assert runner.run(MODULE, keep).changed
    assert read_global(prefect_server, "t-pr-b") is None
    assert read_tag(prefect_server, "t-pr-c") is None
    for name in ("t-pr-a", "t-pr-adopt", "t-pr-ui"):
        assert read_global(prefect_server, name) is not None, name
    assert read_tag(prefect_server, "t-pr-uitag")["concurrency_limit"] == 7
    assert recorded(prefect_server) == {"t-pr-a", "t-pr-adopt"}

    # adopted, then no longer declared: pruned like the ones it created
    keep["global_limits"] = keep["global_limits"][:1]
    assert runner.run(MODULE, keep).actions() == {"t-pr-a": "unchanged", "t-pr-adopt": "deleted"}
    assert read_global(prefect_server, "t-pr-adopt") is None
    assert read_global(prefect_server, "t-pr-ui") is not None
    start = len(writes())
    assert not runner.run(MODULE, keep).changed
    assert writes()[start:] == []

    # a recorded limit deleted elsewhere is forgotten: one made again in the UI is not ours
    prefect_server.api("DELETE", "/v2/concurrency_limits/t-pr-a")
    assert runner.run(MODULE, {"prune": True}).actions() == {}
    assert recorded(prefect_server) == set()
    prefect_server.api("POST", "/v2/concurrency_limits/", {"name": "t-pr-a", "limit": 9})
    assert runner.run(MODULE, {"prune": True}).actions() == {}
    assert read_global(prefect_server, "t-pr-a")["limit"] == 9


def test_absent(runner, prefect_server):
    args = {
        "global_limits": [{"name": "t-gone", "limit": 4}],
        "task_run_limits": [{"tag": "t-gone", "limit": 4}],
    }
    assert runner.run(MODULE, args).changed
    args = {
        "global_limits": [{"name": "t-gone", "state": "absent"}],
        "task_run_limits": [{"tag": "t-gone", "state": "absent"}],
    }
    assert runner.run(MODULE, args, check=True).changed
    assert read_global(prefect_server, "t-gone") is not None
    res = runner.run(MODULE, args)
    assert res.actions() == {"t-gone": "deleted", "tag:t-gone": "deleted"}
    assert read_global(prefect_server, "t-gone") is None
    assert read_tag(prefect_server, "t-gone") is None
    assert not {"t-gone", "tag:t-gone"} & recorded(prefect_server)
    assert not runner.run(MODULE, args).changed


BAD = "global_limits[1] (t-v-bad)"
# (case, a second global limit or None, task_run_limits, what the message must say)
VALIDATION = [
    ("limit-negative", {"name": "t-v-bad", "limit": -1}, [],
     f"{BAD}: limit: must be at least 0, got -1"),
    ("limit-text", {"name": "t-v-bad", "limit": "many"}, [], f"{BAD}: limit: expected an integer"),
    ("limit-huge", {"name": "t-v-bad", "limit": 2**31}, [],
     f"{BAD}: limit: must be at most 2147483647"),
    ("limit-fraction", {"name": "t-v-bad", "limit": 1.5}, [], f"{BAD}: limit: expected an integer"),
    ("limit-missing", {"name": "t-v-bad"}, [], f"{BAD}: limit: required unless state=absent"),
    ("decay-negative", {"name": "t-v-bad", "limit": 1, "slot_decay_per_second": -0.5}, [],
     f"{BAD}: slot_decay_per_second: must be at least 0"),
    ("decay-nan", {"name": "t-v-bad", "limit": 1, "slot_decay_per_second": "nan"}, [],
     f"{BAD}: slot_decay_per_second: expected a finite number"),
    ("decay-bool", {"name": "t-v-bad", "limit": 1, "slot_decay_per_second": True}, [],
     f"{BAD}: slot_decay_per_second: expected a finite number"),
    ("active", {"name": "t-v-bad", "limit": 1, "active": "maybe"}, [],
     f"{BAD}: active: expected a boolean"),
    ("unknown", {"name": "t-v-bad", "limit": 1, "colour": "red"}, [],
     f"{BAD}: colour: unknown option"),
    ("name-banned", {"name": "a/b", "limit": 1}, [], "global_limits[1] (a/b): name: contains /"),
    ("name-empty", {"name": "", "limit": 1}, [], "global_limits[1]: name: must not be empty"),
    ("name-newline", {"name": "a\nb", "limit": 1}, [], "name: contains a control character"),
    ("name-tag", {"name": "tag:x", "limit": 1}, [], "declare tag 'x' in task_run_limits"),
    ("name-duplicate", {"name": "t-v-first", "limit": 2}, [],
     "global_limits[1] (t-v-first): name: duplicate of global_limits[0]"),
    ("tag-limit", None, [{"tag": "t-v", "limit": -2}],
     "task_run_limits[0] (t-v): limit: must be at least 0"),
    ("tag-unknown", None, [{"tag": "t-v", "limit": 1, "active": True}],
     "task_run_limits[0] (t-v): active: unknown option"),
    ("tag-long", None, [{"tag": "x" * 252, "limit": 1}], "tag: longer than 251 characters (252)"),
    ("tag-missing", None, [{"limit": 1}], "task_run_limits[0]: tag: required"),
    ("tag-duplicate", None, [{"tag": "t-v", "limit": 1}, {"tag": "t-v", "limit": 2}],
     "task_run_limits[1] (t-v): tag: duplicate of task_run_limits[0]"),
    ("tags-not-a-list", None, "t-v", "task_run_limits: expected a list of mappings, got a string"),
    ("tag-not-a-mapping", None, ["t-v"], "task_run_limits[0]: expected a mapping, got a string"),
]  # fmt: skip


def test_validation_names_list_item_and_field_and_writes_nothing(runner, writes, prefect_server):
    """Every case run in-process as the fuzzed inputs are (test_fuzz_inputs.run_in_process), each
    failing before any write, with the global limit declared first in every case left uncreated."""
    cases = []
    for case_id, global_item, task_run_limits, expected in VALIDATION:
        first = [{"name": "t-v-first", "limit": 1}]
        args = {
            "global_limits": first + ([global_item] if global_item else []),
            "task_run_limits": task_run_limits,
        }
        cases.append((case_id, args, expected))
    results = run_in_process(runner, MODULE, cases)
    problems = []
    for case_id, _, expected in cases:
        res = results[case_id]
        msg = str(res.get("msg", ""))
        if not res.get("failed") or not msg.startswith("validation failed, nothing was changed"):
            problems.append(f"{case_id}: not a validation failure: {msg[:300]}")
        elif expected not in msg:
            problems.append(f"{case_id}: {expected!r} not in {msg[:300]!r}")
    assert not problems, "\n".join(problems)
    assert writes() == []
    assert read_global(prefect_server, "t-v-first") is None
