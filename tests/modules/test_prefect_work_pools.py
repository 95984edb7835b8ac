"""prefect_work_pools against a real Prefect server: ladder, validation, cloud-run-v2 pools."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import uuid

import pytest
from conftest import REPO, VENV_BIN
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


def raw(text: str) -> str:
    """Prefect's {{ }} placeholders past Ansible's Jinja (plays are JSON: no !unsafe)."""
    return "{% raw %}" + text + "{% endraw %}"


ENV_SECRET = "pool-env-secret-61d0b8c2"  # noqa: S105
FIELD_SECRET = "pool-field-secret-3f7a9e15"  # noqa: S105
LABEL_SECRET = "pool-label-secret-c24e6d08"  # noqa: S105


def secret_pools(suffix):
    template = {
        "job_configuration": {"command": raw("{{ command }}"), "env": raw("{{ env }}"),
                              "labels": {"team": "ml", "token": LABEL_SECRET + suffix}},
        "variables": {"type": "object", "properties": {
            "command": {"type": "string"}, "env": {"type": "object"}}},
    }  # fmt: skip
    return {"work_pools": [
        {"name": "t-pool-secrets", "type": "process",
         "job_variables": {"env": {"DB_URL": ENV_SECRET + suffix},
                           "command": FIELD_SECRET + suffix},
         "secret_fields": ["job_variables.command"]},
        {"name": "t-pool-secret-template", "type": "process", "base_job_template": template,
         "job_variables": {"command": FIELD_SECRET + suffix},
         "secret_fields": ["job_variables.command",
                           "base_job_template.job_configuration.labels.*"]},
    ]}  # fmt: skip


def test_secrets_never_printed(runner, prefect_server):
    """env values and the fields listed in secret_fields, in job variables and in a whole base
    job template, are masked at -vvv: on create, on a no-op, under --check --diff with changed
    values (which the diff says), and on the real update."""
    steps = [("x", False), ("x", False), ("y", True), ("y", False)]
    for n, (suffix, check) in enumerate(steps):
        res = runner.run("prefect_work_pools", secret_pools(suffix), check=check, diff=True,
                         verbose=3, json_output=False)  # fmt: skip
        assert res.rc == 0, res.stdout[-3000:]
        text = res.stdout + res.stderr
        assert "t-pool-secret-template" in text and "DB_URL" in text and "labels" in text, n
        for secret in (ENV_SECRET, FIELD_SECRET, LABEL_SECRET):
            assert secret not in text, (n, secret)
        if n == 2:
            for field in ("DB_URL", "token", "default"):
                assert f'"{field}": "******** (changed)"' in text, (field, text[-3000:])
    pool = prefect_server.api("GET", "/work_pools/t-pool-secret-template")
    assert pool["base_job_template"]["job_configuration"]["labels"]["token"] == LABEL_SECRET + "y"


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


# ---- cloud-run-v2: the template from prefect-gcp, validated before any write -----------------
WORKER_PY = str(VENV_BIN / "python")  # has prefect-gcp, like the worker's virtualenv
IMAGE = "europe-west1-docker.pkg.dev/t-project/flows/ml:1.4.0"
TOKEN = "tok-5e6f7a8b9c0d-cloud-run"  # noqa: S105


def block_id(server, slug: str, name: str, data: dict) -> str:
    """Id of a block document (created through the API, not the proxy, when missing)."""
    doc = server.api("GET", f"/block_types/slug/{slug}/block_documents/name/{name}")
    if doc:
        return doc["id"]
    btype = server.api("GET", f"/block_types/slug/{slug}")
    if btype is None:  # a server that could not register the collections' block types itself
        subprocess.run(  # noqa: S603
            [str(VENV_BIN / "prefect"), "block", "register", "-m", "prefect_gcp"],
            env=server.client_env(), check=True, capture_output=True, timeout=300,
        )  # fmt: skip
        btype = server.api("GET", f"/block_types/slug/{slug}")
    schema = server.api("POST", "/block_schemas/filter", {
        "block_schemas": {"block_type_id": {"any_": [btype["id"]]}}, "limit": 1})[0]  # fmt: skip
    body = {"name": name, "data": data, "block_type_id": btype["id"],
            "block_schema_id": schema["id"]}  # fmt: skip
    return server.api("POST", "/block_documents/", body)["id"]


@pytest.fixture(scope="module")
def gcp_creds(prefect_server) -> str:
    return block_id(prefect_server, "gcp-credentials", "t-crv2-creds", {"project": "t-project"})


def cloud_run(creds, name="t-cloud-run", memory="1Gi", **job_variables):
    variables = {"image": IMAGE, "region": "europe-west1", "cpu": "1000m", "memory": memory,
                 "credentials": {"$ref": {"block_document_id": creds}},
                 "env": {"TZ": "UTC", "API_TOKEN": TOKEN}}  # fmt: skip
    variables.update(job_variables)
    return {"worker_python": WORKER_PY, "work_pools": [
        {"name": name, "type": "cloud-run-v2", "concurrency_limit": 2,
         "job_variables": variables}]}  # fmt: skip


def defaults(pool: dict) -> dict:
    props = pool["base_job_template"]["variables"]["properties"]
    return {k: v["default"] for k, v in props.items() if "default" in v}


def test_cloud_run_ladder(runner, writes, prefect_server, gcp_creds):
    first, second = cloud_run(gcp_creds), cloud_run(gcp_creds, memory="2Gi")
    steps = run_ladder(runner, writes, "prefect_work_pools", first, second)
    pool = prefect_server.api("GET", "/work_pools/t-cloud-run")
    assert pool["type"] == "cloud-run-v2" and pool["concurrency_limit"] == 2
    assert defaults(pool)["launch_stage"] == "BETA"  # the type's own defaults stay
    want = {"image": IMAGE, "region": "europe-west1", "cpu": "1000m", "memory": "2Gi",
            "credentials": {"$ref": {"block_document_id": gcp_creds}},
            "env": {"TZ": "UTC", "API_TOKEN": TOKEN}}  # fmt: skip
    assert {k: defaults(pool)[k] for k in want} == want
    # prefect-gcp 0.6.22's own template (the server's bundled registry copy is older)
    assert steps[1].result["results"][0]["template_source"] == f"prefect-gcp 0.6.22 in {WORKER_PY}"
    template = pool["base_job_template"]
    assert "env_from_secrets" in template["variables"]["properties"]
    limits = template["job_configuration"]["job_body"]["template"]["template"]["containers"][0]
    assert limits["resources"]["limits"] == {"cpu": "{{ cpu }}", "memory": "{{ memory }}"}
    assert steps[5].actions() == {"t-cloud-run": "updated"}
    diff = steps[5].result["diff"][0]
    memory = [d["base_job_template"]["variables"]["properties"]["memory"]["default"]
              for d in (diff["before"], diff["after"])]  # fmt: skip
    assert memory == ["1Gi", "2Gi"]
    env = diff["after"]["base_job_template"]["variables"]["properties"]["env"]["default"]
    assert env == {"TZ": "********", "API_TOKEN": "********"}  # every env value, as deployments
    for step in steps:  # not in the diff, not in the echoed invocation, not anywhere
        assert TOKEN not in step.stdout


def test_cloud_run_named_block_reference(runner, writes, prefect_server, gcp_creds):
    named = {"$ref": {"block_type": "gcp-credentials", "name": "t-crv2-creds"}}
    args = cloud_run(gcp_creds, name="t-cloud-run-named", credentials=named)
    assert runner.run("prefect_work_pools", args).actions() == {"t-cloud-run-named": "created"}
    pool = prefect_server.api("GET", "/work_pools/t-cloud-run-named")
    assert defaults(pool)["credentials"] == {"$ref": {"block_document_id": gcp_creds}}
    before = len(writes())
    assert not runner.run("prefect_work_pools", args).changed  # the existing pool is the base
    by_id = cloud_run(gcp_creds, name="t-cloud-run-named")
    assert not runner.run("prefect_work_pools", by_id).changed  # both forms are the same block
    assert writes()[before:] == []


def test_deployment_targets_cloud_run_pool(runner, prefect_server, project_dir, gcp_creds):
    pool = "t-cloud-run-deploy"
    assert runner.run("prefect_work_pools", cloud_run(gcp_creds, name=pool)).changed
    args = {"project_dir": str(project_dir), "declared_work_pools": [pool], "deployments": [
        {"name": "load-data/t-cloud-run", "entrypoint": "flows/load_data.py:load_data",
         "work_pool": {"name": pool,
                       "job_variables": {"memory": "4Gi", "cpu": "2000m"}}}]}  # fmt: skip
    res = runner.run("prefect_deployments", args)
    assert res.actions() == {"load-data/t-cloud-run": "created"}, res.msg
    dep = prefect_server.api("GET", "/deployments/name/load-data/t-cloud-run")
    assert dep["work_pool_name"] == pool
    assert dep["job_variables"] == {"memory": "4Gi", "cpu": "2000m"}
    assert not runner.run("prefect_deployments", args).changed


def test_cloud_run_validation(runner, writes, prefect_server, gcp_creds):
    secret = block_id(prefect_server, "secret", "t-crv2-not-gcp", {"value": "x-secret-value"})
    bad = [  # (pool, job_variables, field, message)
        ("t-crv2-unknown", {"regoin": "europe-west1"}, "job_variables.regoin",
         "not a variable of the cloud-run-v2 base job template (variables: args, "),
        ("t-crv2-cpu", {"cpu": {"limit": 2}}, "job_variables.cpu",
         "expected type string, got object"),
        ("t-crv2-region", {"region": ["europe-west1"]}, "job_variables.region",
         "expected type string, got array"),
        ("t-crv2-image", {"image": 3}, "job_variables.image",
         "expected type string or null, got integer"),
        ("t-crv2-stage", {"launch_stage": "STABLE"}, "job_variables.launch_stage",
         '"STABLE" is not one of: "ALPHA", "BETA", "GA"'),
        ("t-crv2-memory", {"memory": "1 GB"}, "job_variables.memory",
         '"1 GB" does not match the pattern ^\\d+(?:G|Gi|M|Mi)$'),
        ("t-crv2-secret", {"prefect_api_auth_string_secret": {"secret": "prefect-auth"}},
         "job_variables.prefect_api_auth_string_secret.version", "required but missing"),
        ("t-crv2-timeout", {"timeout": 0}, "job_variables.timeout", "0 must be greater than 0"),
        ("t-crv2-env", {"env": {"WORKERS": 4}}, "job_variables.env.WORKERS",
         "expected type string or null, got integer"),
        ("t-crv2-noblock", {"credentials": {"$ref": {"block_document_id": str(uuid.uuid4())}}},
         "job_variables.credentials", "does not exist on the server"),
        ("t-crv2-wrongblock", {"credentials": {"$ref": {"block_document_id": secret}}},
         "job_variables.credentials",
         "is a 'secret' block; this variable takes a 'gcp-credentials' block"),
        ("t-crv2-badref", {"credentials": {"$ref": "t-crv2-creds"}}, "job_variables.credentials",
         "a block reference is {$ref: {block_document_id: <uuid>}}"),
    ]  # fmt: skip
    items = [{"name": n, "type": "cloud-run-v2", "job_variables": jv} for n, jv, _f, _m in bad]
    items.append({"name": "t-crv2-type", "type": "cloud-run-v9", "job_variables": {"cpu": "1"}})
    items.append({"name": "t-crv2-custom", "type": "t-custom", "base_job_template": {
        "job_configuration": {"image": raw("{{ image }}"), "zone": raw("{{ zone }}")},
        "variables": {"type": "object", "required": ["image"], "properties": {
            "image": {"type": "string"},
            "replicas": {"type": "integer", "default": "two"}}}}})  # fmt: skip
    before = len(writes())
    res = runner.run("prefect_work_pools", {"worker_python": WORKER_PY, "work_pools": items})
    assert res.failed
    assert writes()[before:] == [], "validation must fail before any write"
    msg = res.msg
    errors = res.result["validation_errors"]
    for index, (name, _jv, field, message) in enumerate(bad):
        where = f"work_pools[{index}] ({name}): {field}: "
        found = [e[len(where) :] for e in errors if e.startswith(where)]
        assert len(found) == 1 and message in found[0], (name, errors)
    n = len(bad)
    assert f"work_pools[{n}] (t-crv2-type): type: unknown work pool type 'cloud-run-v9'" in msg
    assert "cloud-run-v2" in msg.split("(t-crv2-type)")[1]  # lists the known types
    custom = f"work_pools[{n + 1}] (t-crv2-custom): "
    assert custom + "base_job_template.job_configuration: uses variables that " in msg
    assert "does not declare: {{ zone }}" in msg
    assert custom + "job_variables.image: required by the t-custom base job template" in msg
    field = "base_job_template.variables.properties.replicas.default"
    assert custom + field + ": expected type integer, got string" in msg
    assert "x-secret-value" not in res.stdout
    for item in items:
        assert prefect_server.api("GET", f"/work_pools/{item['name']}") is None


def test_worker_python_fallbacks(runner, writes):
    before = len(writes())
    pools = {"work_pools": [{"name": "t-crv2-fallback", "type": "cloud-run-v2",
                             "job_variables": {"region": "europe-west1"}}]}  # fmt: skip
    res = runner.run("prefect_work_pools", {"worker_python": "", **pools}, check=True)
    assert res.actions() == {"t-crv2-fallback": "created"}, res.msg
    assert res.result["results"][0]["template_source"] == "the server's worker metadata"
    res = runner.run("prefect_work_pools", {"worker_python": "/nonexistent/python", **pools})
    assert res.failed
    assert "work_pools: worker_python: /nonexistent/python is not an executable file" in res.msg
    assert writes()[before:] == []


def test_named_block_not_there_yet(runner, writes):
    """--check may run before the block is created: a warning; a real run: an error."""
    missing = {"$ref": {"block_type": "gcp-credentials", "name": "t-crv2-later"}}
    args = {"worker_python": "", "work_pools": [{"name": "t-crv2-later", "type": "cloud-run-v2",
            "job_variables": {"credentials": missing}}]}  # fmt: skip
    before = len(writes())
    res = runner.run("prefect_work_pools", args, check=True)
    assert res.actions() == {"t-crv2-later": "created"}, res.msg
    assert any("block gcp-credentials/t-crv2-later does not exist yet" in w
               for w in res.result.get("warnings", []))  # fmt: skip
    res = runner.run("prefect_work_pools", args)
    assert res.failed
    where = "work_pools[0] (t-crv2-later): job_variables.credentials: "
    assert where + "block gcp-credentials/t-crv2-later does not exist on the server" in res.msg
    assert writes()[before:] == []


# ---- the stdlib checker, as on a host without jsonschema --------------------------------------
def load_schema_tools():
    path = REPO / "module_utils" / "prefect_worker_schema.py"
    spec = importlib.util.spec_from_file_location("_t_prefect_worker_schema", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CASES = [  # (variable, value, path of the error or None when valid)
    ("cpu", {"limit": 2}, ("cpu",)), ("cpu", "2000m", None), ("region", ["x"], ("region",)),
    ("image", 3, ("image",)), ("image", None, None), ("launch_stage", "STABLE", ("launch_stage",)),
    ("memory", "1 GB", ("memory",)), ("memory", "512Mi", None), ("timeout", 0, ("timeout",)),
    ("max_retries", "3", ("max_retries",)), ("keep_job", "yes", ("keep_job",)),
    ("env", {"A": 1}, ("env", "A")), ("args", ["a", 2], ("args", 1)),
    ("env_from_secrets", {"X": {"secret": "s"}}, ("env_from_secrets", "X")),
    ("credentials", {"$ref": {"block_document_id": str(uuid.uuid4())}}, None),
    ("credentials", {"project": 5}, ("credentials",)),
]  # fmt: skip


def test_stdlib_checker_agrees_with_jsonschema(monkeypatch):
    from prefect_gcp.workers.cloud_run_v2 import CloudRunWorkerV2

    tools = load_schema_tools()
    variables = CloudRunWorkerV2.get_default_base_job_template()["variables"]
    checker = tools.VariablesSchema(variables)
    for key, value, where in CASES:
        own = checker.variable_errors(key, value, (key,))
        theirs = tools.jsonschema_errors({key: value}, variables)
        if where is None:
            assert own == [] and theirs == [], (key, value, own, theirs)
        else:
            assert own and theirs, (key, value, own, theirs)
            assert own[0][0][: len(theirs[0][0])] == theirs[0][0], (key, own, theirs)
            assert own[0][0][: len(where)] == where, (key, own)
    monkeypatch.setitem(sys.modules, "jsonschema", None)  # a host with the standard library only
    assert tools.jsonschema_errors({"cpu": {}}, variables) is None
    assert tools.jsonschema_schema_error(variables) is None
    assert checker.variable_errors("cpu", {}, ("cpu",)) == [
        (("cpu",), "expected type string, got object")
    ]
