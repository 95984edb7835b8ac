"""prefect_work_pools against a real Prefect server: ladder and validation."""

from __future__ import annotations

from ladder import run_ladder


def pools(limit, working_dir):
    return {"work_pools": [
        {"name": "t-pool", "type": "process", "concurrency_limit": limit,
         "job_variables": {"working_dir": working_dir}},
        {"name": "t-pool-2", "type": "process", "description": "second"},
    ]}  # fmt: skip


def test_ladder(runner, writes, prefect_server):
    steps = run_ladder(runner, writes, "prefect_work_pools", pools(2, "/opt/a"), pools(5, "/opt/b"))
    pool = prefect_server.api("GET", "/work_pools/t-pool")
    assert pool["type"] == "process"
    assert pool["concurrency_limit"] == 5
    props = pool["base_job_template"]["variables"]["properties"]
    assert props["working_dir"]["default"] == "/opt/b"
    # a new pool gets the type's default job template, like `prefect work-pool create`
    assert "command" in props and "{{ command }}" in str(pool["base_job_template"])
    assert steps[5].actions() == {"t-pool": "updated", "t-pool-2": "unchanged"}
    assert prefect_server.api("GET", "/work_pools/t-pool-2")["description"] == "second"


def test_clear_limit_pause_and_absent(runner, prefect_server):
    args = {"work_pools": [{"name": "t-pool-3", "concurrency_limit": 3}]}
    assert runner.run("prefect_work_pools", args).changed
    # what is not declared is left alone (the worker role only ensures the pool exists)
    assert not runner.run("prefect_work_pools", {"work_pools": [{"name": "t-pool-3"}]}).changed
    assert prefect_server.api("GET", "/work_pools/t-pool-3")["concurrency_limit"] == 3
    args = {"work_pools": [{"name": "t-pool-3", "paused": True, "concurrency_limit": -1}]}
    res = runner.run("prefect_work_pools", args, diff=True)
    assert res.changed
    pool = prefect_server.api("GET", "/work_pools/t-pool-3")
    assert pool["concurrency_limit"] is None and pool["is_paused"] is True
    assert not runner.run("prefect_work_pools", args).changed
    args["work_pools"][0]["state"] = "absent"
    assert runner.run("prefect_work_pools", args).actions() == {"t-pool-3": "deleted"}
    assert prefect_server.api("GET", "/work_pools/t-pool-3") is None
    assert not runner.run("prefect_work_pools", args).changed


def test_validation(runner, writes, prefect_server):
    runner.run("prefect_work_pools", {"work_pools": [{"name": "t-pool-typed"}]})
    before = len(writes())
    res = runner.run("prefect_work_pools", {"work_pools": [
        {"name": "t-pool-new", "job_variables": {"workdir": "/x"}},
        {"name": "t-pool-typed", "type": "docker"},
        {"name": "t-pool-neg", "concurrency_limit": -2},
        {"name": "t-pool-odd", "type": "no-such-type"},
        {"name": "t-pool-new"},
    ]})  # fmt: skip
    assert res.failed
    assert writes()[before:] == []
    msg = res.msg
    assert "work_pools[0] (t-pool-new): job_variables.workdir: not a variable" in msg
    assert "working_dir" in msg
    assert "work_pools[1] (t-pool-typed): type: the pool exists with type 'process'" in msg
    assert "work_pools[2] (t-pool-neg): concurrency_limit: must be 0 or more (or -1" in msg
    assert "work_pools[3] (t-pool-odd): type: unknown work pool type 'no-such-type'" in msg
    assert "work_pools[4] (t-pool-new): name: duplicate of work_pools[0]" in msg
    assert prefect_server.api("GET", "/work_pools/t-pool-new") is None
