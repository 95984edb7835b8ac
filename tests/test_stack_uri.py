"""action_plugins/prefect_stack_uri.py: a call that uploads nothing costs one call on the host
(the builtin's action makes a temporary directory first: four); an upload, ``async``, check mode
and failures are the builtin's own.

Real ansible-playbook runs on this machine (local connection, pipelining on, as the roles run)
against a real HTTP server in this process. Calls on the host are counted from ``-vvv``'s EXEC
lines.
"""

from __future__ import annotations

import base64
import json
import re
import sys

import pytest
from conftest import REPO, calls_per_task, run_local_play

sys.path.insert(0, str(REPO))  # flows/tests/helpers.py, as the flow tests import it
from flows.tests.helpers import LocalHTTPServer  # noqa: E402

RECAP = re.compile(r"ok=\d+\s+changed=\d+\s+unreachable=0\s+failed=(\d+)\s+skipped=(\d+)")


PATHS = ("/health", "/api", "/upload", "/form", "/async", "/teapot", "/x")


@pytest.fixture
def server():
    """The flow tests' HTTP server, each path answering with what it received (/teapot: 418)."""
    received = []

    def echo(handler):
        body = handler.rfile.read(int(handler.headers.get("Content-Length") or 0)).decode()
        received.append({"method": handler.command, "path": handler.path, "body": body})
        status = 418 if handler.path == "/teapot" else 200
        return status, json.dumps(received[-1]).encode(), "application/json"

    http = LocalHTTPServer()
    http.routes.update(dict.fromkeys(PATHS, echo))
    http.thread.start()
    yield http.url, received
    http.httpd.shutdown()
    http.httpd.server_close()


def run(folder, tasks, *options):
    """One play of ``tasks`` on localhost at -vvv; returns (rc, output, failed, skipped, calls)."""
    (folder / "files").mkdir(exist_ok=True)
    (folder / "files" / "payload.txt").write_text("payload-from-the-controller\n")
    proc, output = run_local_play(folder, tasks, "-vvv", *options)
    recap = RECAP.search(output)
    assert recap, output[-3000:]
    return proc.returncode, output, int(recap.group(1)), int(recap.group(2)), calls_per_task(output)


def both(name, register, **args):
    """The same call through the builtin and through ours."""
    return [
        {"name": f"builtin {name}", "ansible.builtin.uri": args, "register": f"{register}_builtin"},
        {"name": f"ours {name}", "prefect_stack_uri": args, "register": f"{register}_ours"},
    ]


def test_a_call_that_uploads_nothing_costs_one_call_and_answers_as_the_builtin(tmp_path, server):
    url, received = server
    tasks = [
        *both("get", "get", url=f"{url}/health", return_content=True),
        *both("post", "post", url=f"{url}/api", method="POST", body_format="json",
              body={"name": "pool", "limit": 2}),
        {"name": "compare", "ansible.builtin.assert": {"that": [
            "get_ours.status == get_builtin.status == 200",
            "get_ours.json == get_builtin.json",
            "get_ours.content == get_builtin.content",
            "post_ours.json == post_builtin.json",
            "post_ours.json.body | from_json == {'name': 'pool', 'limit': 2}",
        ]}},
    ]  # fmt: skip
    rc, output, failed, _, calls = run(tmp_path, tasks)

    assert (rc, failed) == (0, 0), output[-3000:]
    # the module, pipelined: no home lookup, no temporary directory, no clean-up
    assert calls["ours get"] == calls["ours post"] == 1, calls
    assert calls["builtin get"] > 1, calls
    ours = output.split("TASK [ours get]")[1].split("TASK [")[0]
    assert "ansible-tmp-" not in ours
    assert [r["method"] for r in received] == ["GET", "GET", "POST", "POST"]


def test_an_upload_goes_through_a_temporary_directory_as_with_the_builtin(tmp_path, server):
    url, received = server
    tasks = [
        {"name": "ours src", "prefect_stack_uri": {
            "url": f"{url}/upload", "method": "POST", "src": "payload.txt"}},
        {"name": "ours multipart", "prefect_stack_uri": {
            "url": f"{url}/form", "method": "POST", "body_format": "form-multipart",
            "body": {"file": {"filename": "payload.txt", "mime_type": "text/plain"}}}},
        {"name": "ours multipart content", "prefect_stack_uri": {
            "url": f"{url}/form", "method": "POST", "body_format": "form-multipart",
            "body": {"file": {"filename": "named.txt", "content": "inline"}}}},
    ]  # fmt: skip
    rc, output, failed, _, calls = run(tmp_path, tasks)

    assert (rc, failed) == (0, 0), output[-3000:]
    assert calls["ours src"] > 1 and calls["ours multipart"] > 1, calls
    assert calls["ours multipart content"] == 1, calls  # nothing to upload from the controller
    assert received[0]["body"] == "payload-from-the-controller\n"
    # a multipart field's file is sent base64-encoded
    assert base64.b64encode(b"payload-from-the-controller\n").decode() in received[1]["body"]
    assert any(v in received[2]["body"] for v in ("inline", base64.b64encode(b"inline").decode()))


def test_failures_async_and_check_mode_are_the_builtins(tmp_path, server):
    url, received = server
    tasks = [
        {"name": "ours async", "prefect_stack_uri": {"url": f"{url}/async"},
         "async": 30, "poll": 1, "register": "in_background"},
        {"name": "ours refused", "prefect_stack_uri": {"url": f"{url}/teapot"},
         "register": "refused", "ignore_errors": True},
        {"name": "builtin refused", "ansible.builtin.uri": {"url": f"{url}/teapot"},
         "register": "refused_builtin", "ignore_errors": True},
        {"name": "compare", "ansible.builtin.assert": {"that": [
            "in_background.status == 200",
            "refused is failed and refused.status == 418",
            "refused.msg == refused_builtin.msg",
        ]}},
    ]  # fmt: skip
    rc, output, failed, _, _ = run(tmp_path, tasks)
    assert (rc, failed) == (0, 0), output[-3000:]
    assert [r["path"] for r in received] == ["/async", "/teapot", "/teapot"]

    received.clear()
    rc, output, failed, skipped, _ = run(
        tmp_path,
        [{"name": "ours in check mode", "prefect_stack_uri": {"url": f"{url}/x"}}],
        "--check",
    )
    assert (rc, failed, skipped) == (0, 0, 1), output[-3000:]
    assert received == []  # the builtin's action does not run in check mode, nor does ours
