"""prefect_variables against a real Prefect server: ladder, prune, secrets, validation."""

from __future__ import annotations

import pytest
from ladder import run_ladder

TOKEN = "var-token-5d1e9a7c3b"  # noqa: S105


def variables_v(rows: int, recipients: list[str], token: str) -> dict:
    return {
        "variables": [
            {"name": "t_rows_min", "value": rows},
            {"name": "t_recipients", "value": recipients, "tags": ["alerts"]},
            {"name": "t_settings", "value": {"retries": 2, "region": "europe-west1"}},
            {"name": "t_token", "value": token, "secret": True},
        ]
    }


def read(server, name):
    return server.api("GET", f"/variables/name/{name}")


def test_ladder_and_secrets(runner, writes, prefect_server):
    first = variables_v(200, ["ml@example.com"], TOKEN)
    second = variables_v(300, ["ml@example.com"], TOKEN + "-rotated")
    steps = run_ladder(runner, writes, "prefect_variables", first, second)

    assert read(prefect_server, "t_rows_min")["value"] == 300
    assert read(prefect_server, "t_recipients")["value"] == ["ml@example.com"]
    assert sorted(read(prefect_server, "t_recipients")["tags"]) == [
        "alerts",
        "managed-by:prefect-stack",
    ]
    assert read(prefect_server, "t_settings")["value"] == {"retries": 2, "region": "europe-west1"}
    assert read(prefect_server, "t_token")["value"] == TOKEN + "-rotated"
    assert steps[4].actions() == {
        "t_rows_min": "updated",
        "t_recipients": "unchanged",
        "t_settings": "unchanged",
        "t_token": "updated",
    }
    # the secret is in no step's output, not even in the diff that says it changes
    for step in steps:
        assert TOKEN not in step.stdout + step.stderr
    token_diff = [d for d in steps[4].result["diff"] if "t_token" in d["after_header"]][0]
    assert token_diff["after"]["value"] == "******** (changed)"


def test_a_value_keeps_its_json_type(runner, prefect_server):
    args = {"variables": [{"name": "t_typed", "value": "5"}]}
    assert runner.run("prefect_variables", args).changed
    assert read(prefect_server, "t_typed")["value"] == "5"
    args["variables"][0]["value"] = 5
    assert runner.run("prefect_variables", args).changed
    assert read(prefect_server, "t_typed")["value"] == 5
    assert not runner.run("prefect_variables", args).changed


def test_prune_only_managed(runner, writes, prefect_server):
    tag = "managed-by:prune-test"
    declared = [{"name": f"t_prune_{n}", "value": n} for n in range(3)]
    assert runner.run("prefect_variables", {"managed_tag": tag, "variables": declared}).changed
    # made in the UI (no managed tag), and managed under another tag: both must survive
    prefect_server.api("POST", "/variables/", {"name": "t_prune_foreign", "value": "ui"})
    keep = {"managed_tag": tag, "variables": declared[:1]}
    assert not runner.run("prefect_variables", keep).changed  # prune is opt-in
    keep["prune"] = True
    check = runner.run("prefect_variables", keep, check=True, diff=True)
    assert check.changed and check.actions() == {
        "t_prune_0": "unchanged",
        "t_prune_1": "deleted",
        "t_prune_2": "deleted",
    }
    assert read(prefect_server, "t_prune_1") is not None
    assert runner.run("prefect_variables", keep).changed
    assert read(prefect_server, "t_prune_1") is None and read(prefect_server, "t_prune_2") is None
    assert read(prefect_server, "t_prune_0")["value"] == 0
    assert read(prefect_server, "t_prune_foreign")["value"] == "ui"
    assert not runner.run("prefect_variables", keep).changed


def test_absent(runner, prefect_server):
    args = {"variables": [{"name": "t_gone", "value": [1, 2]}]}
    assert runner.run("prefect_variables", args).changed
    args["variables"][0]["state"] = "absent"
    del args["variables"][0]["value"]
    assert runner.run("prefect_variables", args, check=True).changed
    assert read(prefect_server, "t_gone") is not None
    assert runner.run("prefect_variables", args).changed
    assert read(prefect_server, "t_gone") is None
    assert not runner.run("prefect_variables", args).changed


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ({"name": "Upper", "value": 1}, "variables[1] (Upper): name: variable names may only"),
        ({"name": "t-ok"}, "variables[1] (t-ok): value: required"),
        ({"name": "t-big", "value": "x" * 6000}, "value: is 6002 characters as JSON"),
        ({"name": "t-nul", "value": "a\x00b"}, "value: contains a NUL character"),
        ({"name": "t-tags", "value": 1, "tags": "a,b"}, "tags: expected a list, got a string"),
        (
            {"name": "t_first", "value": 2},
            "variables[1] (t_first): name: duplicate of variables[0]",
        ),
        ({"name": "t-x", "value": 1, "colour": "red"}, "colour: unknown option"),
    ],
)
def test_validation_names_item_and_field_and_writes_nothing(
    runner, writes, prefect_server, item, expected
):
    args = {"variables": [{"name": "t_first", "value": 1}, item]}
    before = len(writes())
    res = runner.run("prefect_variables", args)
    assert res.failed and expected in res.msg, res.msg
    assert res.msg.startswith("validation failed, nothing was changed")
    assert writes()[before:] == []
    assert read(prefect_server, "t_first") is None
