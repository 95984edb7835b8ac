"""module_utils/prefect_api.py's PrefectClient against a real Prefect server: calls share one
kept-alive connection per thread, a connection the server closed while idle is replaced without
losing or repeating the call, and a proxy in the environment still carries every call."""

from __future__ import annotations

import time
import urllib.request
from functools import partial

import pytest
from inprocess import import_module_utils


@pytest.fixture(scope="module")
def api():
    return import_module_utils("prefect_api")


@pytest.fixture
def no_proxy_env(monkeypatch):
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_calls_share_one_connection(api, prefect_server, no_proxy_env):
    proxy = prefect_server.proxy
    client = api.PrefectClient(prefect_server.api_url, prefect_server.auth_string)
    before = proxy.connections
    answers = [client.get("/health") for _ in range(10)]
    rows = client.post("/flows/filter", {"limit": 1})
    assert answers == [True] * 10
    assert isinstance(rows, list)
    assert proxy.connections - before == 1


def test_parallel_calls_one_connection_per_thread(api, prefect_server, no_proxy_env):
    proxy = prefect_server.proxy
    client = api.PrefectClient(prefect_server.api_url, prefect_server.auth_string)
    before = proxy.connections
    answers = client.parallel([partial(client.get, "/health") for _ in range(16)], workers=4)
    assert answers == [True] * 16
    assert 1 <= proxy.connections - before <= 4


def test_connection_closed_while_idle_is_replaced_once(api, prefect_server, no_proxy_env):
    """The write after an unannounced close reaches the server once, on a new connection."""
    proxy = prefect_server.proxy
    client = api.PrefectClient(prefect_server.api_url, prefect_server.auth_string)
    name = f"kept_alive_{time.monotonic_ns()}"
    before = proxy.connections
    proxy.close_after_reply = 1
    assert client.get("/health") is True
    proxy.reset()
    created = client.post("/variables/", {"name": name, "value": 1})
    assert created["name"] == name
    assert proxy.requests == [("POST", "/api/variables/")]
    assert proxy.connections - before == 2
    # replaced at once, not by the retry with its back-off
    assert client.calls == [("GET", "/health"), ("POST", "/variables/")]
    rows = prefect_server.api(
        "POST", "/variables/filter", {"variables": {"name": {"any_": [name]}}}
    )
    assert [row["name"] for row in rows] == [name]


def test_real_server_keep_alive_timeout(api, prefect_server, no_proxy_env):
    """Prefect's own server closes an idle connection after 5 s
    (PREFECT_SERVER_API_KEEPALIVE_TIMEOUT): the next call goes on a new one."""
    client = api.PrefectClient(prefect_server.direct_api_url, prefect_server.auth_string)
    assert client.get("/health") is True
    first = client._local.conn
    assert first.sock is not None
    time.sleep(6)
    assert client.get("/health") is True
    assert client._local.conn is not first
    assert client.calls == [("GET", "/health"), ("GET", "/health")]


def test_http_errors_on_a_kept_alive_connection(api, prefect_server, no_proxy_env):
    client = api.PrefectClient(prefect_server.api_url, "admin:wrong", retries=0)
    with pytest.raises(api.PrefectAPIError, match="refused the credentials") as err:
        client.post("/flows/filter", {})
    assert err.value.status == 401
    good = api.PrefectClient(prefect_server.api_url, prefect_server.auth_string)
    assert good.get("/flows/00000000-0000-0000-0000-000000000000", allow_404=True) is None
    assert good.get("/health") is True


def test_proxy_in_the_environment_carries_the_calls(api, prefect_server, no_proxy_env):
    """With http_proxy set, calls go through it (here: nothing listens, so they fail); a host in
    no_proxy is called directly, on a kept-alive connection."""
    # Request.open installs its opener (with the proxy) for all of urllib: put it back after
    no_proxy_env.setattr(urllib.request, "_opener", None)
    no_proxy_env.setenv("http_proxy", "http://127.0.0.1:9")
    client = api.PrefectClient(prefect_server.direct_api_url, prefect_server.auth_string, retries=0)
    with pytest.raises(api.PrefectAPIError, match="cannot reach"):
        client.get("/health")
    no_proxy_env.setenv("no_proxy", "127.0.0.1")
    client = api.PrefectClient(prefect_server.direct_api_url, prefect_server.auth_string, retries=0)
    assert client.get("/health") is True
    assert client._local.conn is not None
