"""module_utils/prefect_record.py against a real Prefect server: what prune may delete for kinds
without tags (work queues, concurrency limits) survives on the server, split across variables when
large, written only when it changes, and out of prefect_variables' prune."""

from __future__ import annotations

import pytest
from inprocess import import_module_utils


@pytest.fixture(scope="module")
def utils():
    return import_module_utils("prefect_api"), import_module_utils("prefect_record")


@pytest.fixture
def client(utils, prefect_server):
    api, _ = utils
    return api.PrefectClient(prefect_server.api_url, prefect_server.auth_string)


def stored(server, key):
    rows = server.api(
        "POST",
        "/variables/filter",
        {"variables": {"name": {"like_": f"prefect_stack_managed_{key}"}}},
    )
    return {row["name"]: row for row in rows}


def test_round_trip_and_no_write_when_unchanged(utils, client, prefect_server, writes):
    _, rec = utils
    record = rec.ManagedRecord(client, "t_round")
    assert record.load() == set()
    record.add("pool-a/ml")
    record.add("pool-a/batch")
    assert record.save(check_mode=True) == 0
    assert writes() == []
    assert record.save(check_mode=False) == 1
    assert [method for method, _ in writes()] == ["POST"]  # the proxy sees this client's writes
    rows = stored(prefect_server, "t_round")
    assert rows["prefect_stack_managed_t_round"]["value"] == ["pool-a/batch", "pool-a/ml"]
    assert rows["prefect_stack_managed_t_round"]["tags"] == [rec.RECORD_TAG]

    again = rec.ManagedRecord(client, "t_round")
    assert again.load() == {"pool-a/batch", "pool-a/ml"}
    assert "pool-a/ml" in again
    prefect_server.proxy.reset()
    assert again.save(check_mode=False) == 0
    again.add("pool-a/ml")  # already there: still nothing to write
    assert again.save(check_mode=False) == 0
    assert writes() == []

    again.discard("pool-a/ml")
    assert again.save(check_mode=False) == 1
    assert rec.ManagedRecord(client, "t_round").load() == {"pool-a/batch"}


def test_a_large_record_is_split_and_shrinks_back(utils, client, prefect_server):
    _, rec = utils
    record = rec.ManagedRecord(client, "t_big")
    record.load()
    names = {f"pool-{i:03d}/queue-with-a-longish-name-{i:03d}" for i in range(400)}
    for name in names:
        record.add(name)
    record.save(check_mode=False)
    rows = stored(prefect_server, "t_big")
    assert len(rows) >= 3, sorted(rows)
    assert all(len(str(row["value"])) <= 5000 for row in rows.values())
    assert rec.ManagedRecord(client, "t_big").load() == names

    for name in sorted(names)[1:]:
        record.discard(name)
    record.save(check_mode=False)
    assert list(stored(prefect_server, "t_big")) == ["prefect_stack_managed_t_big"]
    assert rec.ManagedRecord(client, "t_big").load() == {sorted(names)[0]}


def test_a_similar_name_is_not_part_of_the_record(utils, client, prefect_server):
    _, rec = utils
    # `_` is a wildcard of the server's `like_`, and t_sim is a prefix of t_sim_other
    prefect_server.api(
        "POST",
        "/variables/",
        {"name": "prefect_stack_managed_t_sim_other", "value": ["not-mine"], "tags": []},
    )
    record = rec.ManagedRecord(client, "t_sim")
    assert record.load() == set()


def test_bad_key_is_refused(utils, client):
    _, rec = utils
    with pytest.raises(ValueError, match="record key"):
        rec.ManagedRecord(client, "Work-Queues")


def test_prefect_variables_prune_leaves_the_record_alone(utils, client, runner, prefect_server):
    _, rec = utils
    record = rec.ManagedRecord(client, "t_kept")
    record.load()
    record.add("pool-a/default")
    record.save(check_mode=False)
    result = runner.run("prefect_variables", {"variables": [], "prune": True})
    assert not result.failed, result.msg
    assert "prefect_stack_managed_t_kept" in stored(prefect_server, "t_kept")
