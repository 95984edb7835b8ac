"""prefect_blocks against a real Prefect server: ladder, secrets, references, validation."""

from __future__ import annotations

import json

from ladder import run_ladder

SA_KEY = "-----BEGIN PRIVATE KEY-----MIIEvQIBADANBgkqhkiG9w0BAQEFAASC-testkey-"
TOKEN = "tok-9f8e7d6c5b4a-very-secret"  # noqa: S105


def blocks_v(bucket: str, key: str, token: str) -> dict:
    return {
        "blocks": [
            {
                "block_type": "gcp-credentials",
                "name": "t-gcp-creds",
                "data": {
                    "project": "demo",
                    "service_account_info": {"type": "service_account", "private_key": key},
                },
            },
            {
                "block_type": "gcs-bucket",
                "name": "t-gcs",
                "data": {
                    "bucket": bucket,
                    "gcp_credentials": {
                        "$ref": {"block_type": "gcp-credentials", "name": "t-gcp-creds"}
                    },
                },
            },
            {
                "block_type": "local-file-system",
                "name": "t-local",
                "data": {"basepath": "/var/lib/prefect-agent/data"},
            },
            {"block_type": "secret", "name": "t-token", "data": {"value": token}},
        ]
    }


def read(server, slug, name, secrets=False):
    suffix = "?include_secrets=true" if secrets else ""
    return server.api("GET", f"/block_types/slug/{slug}/block_documents/name/{name}{suffix}")


def test_ladder_and_secrets(runner, writes, prefect_server):
    first = blocks_v("bucket-a", SA_KEY, TOKEN)
    second = blocks_v("bucket-b", SA_KEY + "rotated", TOKEN)
    steps = run_ladder(runner, writes, "prefect_blocks", first, second)

    # the writes reached the server
    gcs = read(prefect_server, "gcs-bucket", "t-gcs", secrets=True)
    assert gcs["data"]["bucket"] == "bucket-b"
    ref = gcs["block_document_references"]["gcp_credentials"]["block_document"]
    assert ref["name"] == "t-gcp-creds"
    creds = read(prefect_server, "gcp-credentials", "t-gcp-creds", secrets=True)
    assert creds["data"]["service_account_info"]["private_key"] == SA_KEY + "rotated"
    assert read(prefect_server, "secret", "t-token", secrets=True)["data"]["value"] == TOKEN
    local = read(prefect_server, "local-file-system", "t-local")
    assert local["data"] == {"basepath": "/var/lib/prefect-agent/data"}

    # per-item actions
    assert steps[1].actions() == {
        "t-gcp-creds": "created", "t-gcs": "created", "t-local": "created", "t-token": "created"
    }  # fmt: skip
    assert set(steps[3].actions().values()) == {"unchanged"}
    assert steps[5].actions() == {
        "t-gcp-creds": "updated", "t-gcs": "updated", "t-local": "unchanged",
        "t-token": "unchanged",
    }  # fmt: skip

    # the change diff says the key changed without showing it
    diff = json.dumps(steps[4].result["diff"])
    assert "******** (changed)" in diff
    assert "bucket-b" in diff
    for res in steps:
        text = res.stdout + res.stderr
        assert SA_KEY not in text
        assert TOKEN not in text


def test_secrets_not_printed_with_vvv(runner, prefect_server):
    args = blocks_v("bucket-v", SA_KEY + "vvv", TOKEN + "vvv")
    for check in (True, False):
        res = runner.run("prefect_blocks", args, check=check, diff=True, verbose=3,
                         json_output=False)  # fmt: skip
        assert res.rc == 0, res.stdout[-3000:]
        text = res.stdout + res.stderr
        assert "t-gcs" in text  # the output is there ...
        assert SA_KEY not in text  # ... the secrets are not
        assert "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC" not in text
        assert TOKEN not in text
        assert prefect_server.auth_string.split(":", 1)[1] not in text


def test_state_absent(runner, writes, prefect_server):
    args = {"blocks": [{"block_type": "secret", "name": "t-gone", "data": {"value": "x1234567"}}]}
    assert runner.run("prefect_blocks", args).changed
    args["blocks"][0]["state"] = "absent"
    check = runner.run("prefect_blocks", args, check=True)
    assert check.changed and check.actions() == {"t-gone": "deleted"}
    assert read(prefect_server, "secret", "t-gone") is not None
    assert runner.run("prefect_blocks", args).changed
    assert read(prefect_server, "secret", "t-gone") is None
    before = len(writes())
    again = runner.run("prefect_blocks", args)
    assert not again.changed and writes()[before:] == []


def fails_without_write(runner, writes, args) -> str:
    before = len(writes())
    res = runner.run("prefect_blocks", args)
    assert res.failed, res.result
    assert writes()[before:] == [], "validation must fail before any write"
    return res.msg


def test_unknown_block_type_lists_known(runner, writes):
    msg = fails_without_write(runner, writes, {"blocks": [
        {"block_type": "local-file-system", "name": "t-ok", "data": {"basepath": "/tmp"}},  # noqa: S108
        {"block_type": "json", "name": "t-json", "data": {"value": {"a": 1}}},
    ]})  # fmt: skip
    assert "blocks[1] (json/t-json): block_type: unknown block type 'json'" in msg
    assert "local-file-system" in msg and "gcs-bucket" in msg and "secret" in msg


def test_duplicate_name(runner, writes):
    item = {"block_type": "local-file-system", "name": "t-dup", "data": {"basepath": "/a"}}
    msg = fails_without_write(runner, writes, {"blocks": [item, dict(item)]})
    assert "blocks[1] (local-file-system/t-dup): name: duplicate of blocks[0]" in msg


def test_field_and_reference_validation(runner, writes):
    msg = fails_without_write(runner, writes, {"blocks": [
        {"block_type": "local-file-system", "name": "t-typo", "data": {"basepaht": "/a"}},
        {"block_type": "gcs-bucket", "name": "t-noref", "data": {
            "bucket": "b",
            "gcp_credentials": {"$ref": {"block_type": "gcp-credentials", "name": "missing"}},
        }},
        {"block_type": "gcs-bucket", "name": "t-nobucket", "data": {}},
        {"block_type": "secret", "name": "Bad_Name", "data": {"value": "v"}},
    ]})  # fmt: skip
    assert (
        "blocks[0] (local-file-system/t-typo): data.basepaht: local-file-system has no field" in msg
    )
    assert "blocks[1] (gcs-bucket/t-noref): data.gcp_credentials: referenced block" in msg
    assert "blocks[2] (gcs-bucket/t-nobucket): data.bucket: required field" in msg
    assert "blocks[3] (secret/Bad_Name): name:" in msg


def test_wrong_auth_is_clear(runner, writes):
    before = len(writes())
    res = runner.run("prefect_blocks", {"blocks": []}, auth="admin:wrong")
    assert res.failed
    assert "refused the credentials (HTTP 401" in res.msg and "api_auth_string" in res.msg
    assert "admin:wrong" not in res.stdout
    assert writes()[before:] == []
