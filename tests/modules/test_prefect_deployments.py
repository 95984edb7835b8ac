"""prefect_deployments against a real Prefect server: ladder, schedules, prune, validation."""

from __future__ import annotations

import copy

import pytest
from ladder import run_ladder

POOL = "t-deploy-pool"


@pytest.fixture(scope="module", autouse=True)
def pool(prefect_server):
    prefect_server.api("POST", "/work_pools/", {"name": POOL, "type": "process"})


def deps(project_dir, cron="0 0 1 * *", rows=100, tags=("ml",)):
    return {
        "project_dir": str(project_dir),
        "declared_work_pools": [POOL],
        "deployments": [
            {
                "name": "load-data/t-main",
                "entrypoint": "flows/load_data.py:load_data",
                "parameters": {"rows": rows},
                "schedules": [{"cron": cron, "timezone": "UTC", "active": True}],
                "work_pool": {"name": POOL, "job_variables": {"env": {"A": "1"}}},
                "tags": list(tags),
                "description": "load",
            },
            {
                "name": "t-main",
                "entrypoint": "flows/train_model.py:train_model",
                "schedules": [{"cron": "0 0 1 * *", "timezone": "Europe/Paris"}],
                "work_pool": {"name": POOL, "work_queue_name": "training"},
                "concurrency_limit": 1,
            },
        ],
    }


def read(server, flow, name):
    return server.api("GET", f"/deployments/name/{flow}/{name}")


def test_ladder(runner, writes, prefect_server, project_dir):
    first = deps(project_dir)
    second = deps(project_dir, cron="30 6 * * MON", rows=7)
    steps = run_ladder(runner, writes, "prefect_deployments", first, second)
    dep = read(prefect_server, "load-data", "t-main")
    assert dep["parameters"] == {"rows": 7}
    assert [s["schedule"]["cron"] for s in dep["schedules"]] == ["30 6 * * MON"]  # no duplicate
    assert dep["entrypoint"] == "flows/load_data.py:load_data"
    assert dep["pull_steps"] == [{"prefect.deployments.steps.set_working_directory": {
        "directory": str(project_dir)}}]  # fmt: skip
    assert dep["work_pool_name"] == POOL and dep["job_variables"] == {"env": {"A": "1"}}
    assert dep["parameter_openapi_schema"]["properties"]["rows"]["type"] == "integer"
    # flow name from @prefect.flow(name="train-model") when the name has no flow part
    train = read(prefect_server, "train-model", "t-main")
    assert train["work_queue_name"] == "training"
    assert train["schedules"][0]["schedule"]["timezone"] == "Europe/Paris"
    assert train["global_concurrency_limit"]["limit"] == 1
    assert steps[5].actions() == {"load-data/t-main": "updated", "train-model/t-main": "unchanged"}
    changed = steps[5].result["results"][0]["changed_fields"]
    assert set(changed) == {"parameters", "schedules"}


def test_schedule_toggle_and_absent(runner, writes, prefect_server, project_dir):
    args = deps(project_dir)
    args["deployments"] = args["deployments"][:1]
    args["deployments"][0]["name"] = "load-data/t-toggle"
    assert runner.run("prefect_deployments", args).changed
    args["deployments"][0]["schedules"][0]["active"] = False
    assert runner.run("prefect_deployments", args).changed
    dep = read(prefect_server, "load-data", "t-toggle")
    assert [s["active"] for s in dep["schedules"]] == [False]
    assert not runner.run("prefect_deployments", args).changed
    args["deployments"][0]["state"] = "absent"
    assert runner.run("prefect_deployments", args).actions() == {"load-data/t-toggle": "deleted"}
    assert read(prefect_server, "load-data", "t-toggle") is None
    before = len(writes())
    assert not runner.run("prefect_deployments", args).changed
    assert writes()[before:] == []


def test_prune_only_managed(runner, prefect_server, project_dir):
    label = "managed-by=prune-test"
    args = deps(project_dir)
    args["managed_label"] = label
    for item in args["deployments"]:
        item["name"] = item["name"].replace("t-main", "t-prune")
    assert runner.run("prefect_deployments", args).changed
    # a deployment made by other means (no label) must survive pruning
    flow = prefect_server.api("POST", "/flows/", {"name": "load-data"})
    prefect_server.api("POST", "/deployments/", {"name": "t-foreign", "flow_id": flow["id"]})
    keep = copy.deepcopy(args)
    keep["deployments"] = keep["deployments"][:1]
    keep["prune"] = False
    assert not runner.run("prefect_deployments", keep).changed  # prune is opt-in
    keep["prune"] = True
    check = runner.run("prefect_deployments", keep, check=True, diff=True)
    assert check.changed and check.actions() == {
        "load-data/t-prune": "unchanged", "train-model/t-prune": "deleted"}  # fmt: skip
    assert read(prefect_server, "train-model", "t-prune") is not None
    assert runner.run("prefect_deployments", keep).changed
    assert read(prefect_server, "train-model", "t-prune") is None
    assert read(prefect_server, "load-data", "t-foreign") is not None
    assert read(prefect_server, "load-data", "t-main") is not None  # other label: untouched


def invalid(runner, writes, project_dir, **changes) -> str:
    args = deps(project_dir)
    item = args["deployments"][0]
    item["name"] = "load-data/t-invalid"
    for key, value in changes.items():
        if key == "extra":
            args["deployments"].append(value)
        else:
            item[key] = value
    before = len(writes())
    res = runner.run("prefect_deployments", args)
    assert res.failed, res.result
    assert writes()[before:] == [], "validation must fail before any write"
    return res.msg


ITEM = "deployments[0] (load-data/t-invalid): "


def test_bad_cron(runner, writes, project_dir, prefect_server):
    msg = invalid(runner, writes, project_dir, schedules=[{"cron": "61 0 1 * *"}])
    assert ITEM + "schedules[0].cron: '61 0 1 * *': minute: 61 is out of range" in msg
    assert read(prefect_server, "load-data", "t-invalid") is None


def test_bad_timezone_and_schedule_kind(runner, writes, project_dir):
    msg = invalid(runner, writes, project_dir,
                  schedules=[{"cron": "0 0 * * *", "timezone": "Mars/Olympus"},
                             {"interval": 60}])  # fmt: skip
    assert ITEM + "schedules[0].timezone: unknown timezone 'Mars/Olympus'" in msg
    assert ITEM + "schedules[1].interval: unsupported" in msg


def test_timezone_directories_and_odd_names(runner, writes, project_dir):
    """A directory of the tz database and an over-long name get the message, not a traceback."""
    schedules = [{"cron": "0 0 * * *", "timezone": tz} for tz in ("America", "x" * 300)]
    msg = invalid(runner, writes, project_dir, schedules=schedules)
    assert ITEM + "schedules[0].timezone: unknown timezone 'America'" in msg
    assert ITEM + "schedules[1].timezone: unknown timezone" in msg
    assert "Traceback" not in msg
    # a NUL character, which no Prefect value may hold, fails before any lookup
    schedules = [{"cron": "0 0 * * *", "timezone": "\x00"}]
    msg = invalid(runner, writes, project_dir, schedules=schedules)
    assert ITEM + "schedules[0].timezone: contains a NUL character" in msg


def test_missing_file(runner, writes, project_dir):
    msg = invalid(runner, writes, project_dir, entrypoint="flows/nope.py:load_data")
    assert ITEM + "entrypoint: file flows/nope.py does not exist" in msg


def test_missing_function(runner, writes, project_dir):
    msg = invalid(runner, writes, project_dir, entrypoint="flows/load_data.py:load")
    assert ITEM + "entrypoint: flows/load_data.py has no top-level function 'load'" in msg
    assert "load_data" in msg


def test_undeclared_pool(runner, writes, project_dir):
    msg = invalid(runner, writes, project_dir, work_pool={"name": "ghost-pool"})
    assert ITEM + "work_pool.name: work pool 'ghost-pool' is neither declared" in msg


def test_duplicate_name(runner, writes, project_dir):
    msg = invalid(runner, writes, project_dir, extra={
        "name": "t-invalid", "flow_name": "load-data",
        "entrypoint": "flows/load_data.py:load_data", "work_pool": {"name": POOL}})  # fmt: skip
    assert "deployments[2] (load-data/t-invalid): name: duplicate of deployments[0]" in msg


def test_unknown_parameter_and_flow_name_mismatch(runner, writes, project_dir):
    msg = invalid(runner, writes, project_dir, parameters={"rowz": 1}, flow_name="other")
    assert "entrypoint: flow_name 'other' differs from the @flow(name='load-data')" in msg
    msg = invalid(runner, writes, project_dir, parameters={"rowz": 1})
    assert ITEM + "parameters.rowz: the flow function takes no parameter 'rowz'" in msg


def test_default_flow_name_from_function(runner, prefect_server, project_dir):
    args = {"project_dir": str(project_dir), "declared_work_pools": [POOL], "deployments": [
        {"name": "t-plain", "entrypoint": "flows/plain.py:send_requests_now",
         "work_pool": {"name": POOL}}]}  # fmt: skip
    res = runner.run("prefect_deployments", args)
    assert res.actions() == {"send-requests-now/t-plain": "created"}
    assert read(prefect_server, "send-requests-now", "t-plain") is not None


def test_concurrency_limit_set_and_cleared(runner, prefect_server, project_dir):
    args = deps(project_dir)
    args["deployments"] = args["deployments"][:1]
    args["deployments"][0]["name"] = "load-data/t-limit"
    args["deployments"][0]["concurrency_limit"] = 2
    assert runner.run("prefect_deployments", args).changed
    dep = read(prefect_server, "load-data", "t-limit")
    assert dep["global_concurrency_limit"]["limit"] == 2
    del args["deployments"][0]["concurrency_limit"]
    res = runner.run("prefect_deployments", args)
    assert res.result["results"][0]["changed_fields"] == ["concurrency_limit"]
    assert read(prefect_server, "load-data", "t-limit")["global_concurrency_limit"] is None
    assert not runner.run("prefect_deployments", args).changed


def test_code_dir_validates_code_not_yet_shipped(runner, writes, project_dir):
    """--check before the flows are synced: parse the code where it comes from."""
    args = deps(project_dir)
    args["project_dir"] = "/nonexistent/project"
    before = len(writes())
    res = runner.run("prefect_deployments", args, check=True)
    assert res.failed and "entrypoint: file flows/load_data.py does not exist" in res.msg
    args["code_dir"] = str(project_dir)
    args["deployments"][0]["name"] = "load-data/t-code-dir"
    res = runner.run("prefect_deployments", args, check=True, diff=True)
    assert not res.failed, res.msg
    assert res.actions()["load-data/t-code-dir"] == "created"
    after = res.result["diff"][0]["after"]
    assert after["pull_steps"][0][
        "prefect.deployments.steps.set_working_directory"
    ]["directory"] == "/nonexistent/project"  # fmt: skip
    assert writes()[before:] == []


ENV_SECRET = "flow-secret-7c1e9a0b3d5f"  # noqa: S105


def test_env_values_never_printed(runner, prefect_server, project_dir):
    """job_variables.env values are masked at -vvv: on create, on a no-op, under --check --diff
    with a changed value, and on the real update."""

    def args(value):
        a = deps(project_dir)
        a["deployments"] = [a["deployments"][0]]
        a["deployments"][0]["name"] = "load-data/t-env-secret"
        a["deployments"][0]["work_pool"]["job_variables"] = {"env": {"API_TOKEN": value}}
        return a

    steps = [(args(ENV_SECRET), False), (args(ENV_SECRET), False),
             (args(ENV_SECRET + "-new"), True), (args(ENV_SECRET + "-new"), False)]  # fmt: skip
    for n, (step_args, check) in enumerate(steps):
        res = runner.run("prefect_deployments", step_args, check=check, diff=True, verbose=3,
                         json_output=False)  # fmt: skip
        assert res.rc == 0, res.stdout[-3000:]
        text = res.stdout + res.stderr
        assert "t-env-secret" in text and "API_TOKEN" in text, n  # the output is there ...
        assert ENV_SECRET not in text, n  # ... the values are not
    dep = read(prefect_server, "load-data", "t-env-secret")
    assert dep["job_variables"]["env"]["API_TOKEN"] == ENV_SECRET + "-new"


PARAM_SECRET = "param-secret-2b8d4f6a"  # noqa: S105
JOBVAR_SECRET = "jobvar-secret-9e1c3a57"  # noqa: S105


def secret_dep(project_dir, name, rows, extra_env="x"):
    a = deps(project_dir)
    a["deployments"] = [a["deployments"][0]]
    dep = a["deployments"][0]
    dep["name"] = name
    dep["parameters"] = {"rows": rows, "source": PARAM_SECRET}
    dep["work_pool"]["job_variables"] = {
        "env": {"API_TOKEN": ENV_SECRET + extra_env},
        "command": JOBVAR_SECRET + extra_env,
    }
    dep["secret_fields"] = ["parameters.source", "work_pool.job_variables.command"]
    return a


def test_secret_fields_never_printed(runner, prefect_server, project_dir):
    """Fields listed in secret_fields are masked at -vvv like the env values: on create, on a
    no-op, under --check --diff with a changed value, and on the real update."""
    name = "load-data/t-secret-fields"
    steps = [(secret_dep(project_dir, name, 5), False), (secret_dep(project_dir, name, 5), False),
             (secret_dep(project_dir, name, 6, "y"), True),
             (secret_dep(project_dir, name, 6, "y"), False)]  # fmt: skip
    for n, (step_args, check) in enumerate(steps):
        res = runner.run("prefect_deployments", step_args, check=check, diff=True, verbose=3,
                         json_output=False)  # fmt: skip
        assert res.rc == 0, res.stdout[-3000:]
        text = res.stdout + res.stderr
        assert "t-secret-fields" in text and "source" in text and "command" in text, n
        for secret in (PARAM_SECRET, JOBVAR_SECRET, ENV_SECRET):
            assert secret not in text, (n, secret)
        if n == 2:  # the diff tells that the env value and the listed field change
            for field in ("API_TOKEN", "command"):
                assert f'"{field}": "******** (changed)"' in text, (field, text[-3000:])
    dep = read(prefect_server, "load-data", "t-secret-fields")
    assert dep["parameters"] == {"rows": 6, "source": PARAM_SECRET}  # stored as given
    assert dep["job_variables"]["command"] == JOBVAR_SECRET + "y"


def test_a_422_shows_no_secret(runner, writes, prefect_server, project_dir):
    """A deployment the server refuses with 422 (a parameter of the wrong type, checked by the
    server when enforce_parameter_schema is on; Prefect's message quotes the value) fails with
    the server's reason and no secret, at -vvv."""
    args = secret_dep(project_dir, "load-data/t-422", 5)
    dep = args["deployments"][0]
    dep["enforce_parameter_schema"] = True
    dep["parameters"]["rows"] = PARAM_SECRET + "-rows"  # `rows: int` in the flow
    dep["secret_fields"].append("parameters.rows")
    res = runner.run("prefect_deployments", args, diff=True, verbose=3, json_output=False)
    text = res.stdout + res.stderr
    assert res.rc != 0
    assert "HTTP 422 on POST /deployments/" in text, text[-3000:]
    assert "is not of type 'integer'" in text  # the server's reason is kept ...
    for secret in (PARAM_SECRET, JOBVAR_SECRET, ENV_SECRET):
        assert secret not in text, secret  # ... the values are not
    # one attempt (a 422 is not retried), and nothing stored
    assert [w for w in writes() if "/deployments" in w[1]] == [("POST", "/api/deployments/")]
    assert read(prefect_server, "load-data", "t-422") is None


def test_secret_fields_outside_the_item_fail_validation(runner, writes, project_dir):
    args = secret_dep(project_dir, "load-data/t-bad-secret-fields", 5)
    args["deployments"][0]["secret_fields"] = ["parameters.source", "tags", "parameters..x"]
    res = runner.run("prefect_deployments", args)
    assert res.failed
    assert "deployments[0] (load-data/t-bad-secret-fields): secret_fields[1]: tags is not under" \
        " parameters or work_pool.job_variables" in res.msg, res.msg  # fmt: skip
    assert "secret_fields[2]: parameters..x is not a dotted path" in res.msg
    assert writes() == []


def test_api_errors_do_not_echo_the_request():
    """A 422 from Prefect echoes the request body and each rejected input: both are dropped."""
    import sys

    from conftest import REPO

    sys.path.insert(0, str(REPO / "module_utils"))
    from prefect_compare import strip_request_data

    body = (
        '{"exception_message": "Invalid request received.", "exception_detail": [{"type": '
        '"string_type", "loc": ["body", "job_variables", "env"], "msg": "Input should be a valid '
        f'string", "input": {{"API_TOKEN": "{ENV_SECRET}"}}}}], "request_body": {{"job_variables":'
        f' {{"env": {{"API_TOKEN": "{ENV_SECRET}"}}}}}}}}'
    )
    stripped = strip_request_data(body)
    assert ENV_SECRET not in stripped
    assert "Input should be a valid string" in stripped and "job_variables" in stripped
    assert strip_request_data("plain text") == "plain text"
