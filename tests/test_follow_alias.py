"""The model server's supervisor (roles/mlflow_model_server/files/follow_alias.py), run for real.

The supervisor runs as the unit runs it: its own process, its own reverse proxy on a real port,
real child process groups, real signals. What is stood in for is MLflow: a registry that only
answers the alias look-up, and an ``mlflow`` executable beside the supervisor's Python (where it
looks for it) that serves ``/ping`` and ``/invocations`` like ``mlflow models serve``, names its
version in each answer, fails to start for the versions listed in FAKE_BROKEN, and dies in the
middle of a request whose body asks it to. The swap with real MLflow scoring servers is proven by
molecule (verify_ml_pipeline.yml); this test proves the supervisor's logic in seconds.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO

SUPERVISOR = REPO / "roles" / "mlflow_model_server" / "files" / "follow_alias.py"
MODEL, ALIAS = "fake-news-classifier", "champion"
POLL = 0.3

FAKE_MLFLOW = """\
import json, os, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

args = sys.argv[1:]
version = args[args.index("-m") + 1].rsplit("/", 1)[1]
port = int(args[args.index("-p") + 1])
with open(os.environ["FAKE_LOG"], "a") as log:
    log.write(f"start {version} {port} {os.getpid()}\\n")
time.sleep(float(os.environ.get("FAKE_START_SECONDS", "0.5")))
if version in os.environ.get("FAKE_BROKEN", "").split(","):
    sys.exit("no such model")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_GET(self):
        self.reply(200, b"\\n" if self.path == "/ping" else b"{}")

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if b"crash" in body:
            os._exit(3)
        time.sleep(0.003)
        answer = {"predictions": [version], "received": len(body)}
        self.reply(200, json.dumps(answer).encode())

    def reply(self, status, body):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
"""


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


class Registry:
    """The registry's alias look-up, answering for the alias the test sets."""

    def __init__(self) -> None:
        self.version: str | None = None
        registry = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if registry.version is None:
                    status = 404
                    body = {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "no such alias"}
                else:
                    status, body = 200, {"model_version": {"version": registry.version}}
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@dataclass
class Stack:
    registry: Registry
    process: subprocess.Popen[str]
    port: int
    state_file: Path
    fake_log: Path
    output: list[str] = field(default_factory=list)

    def starts(self, version: str) -> int:
        lines = self.fake_log.read_text().splitlines() if self.fake_log.exists() else []
        return sum(1 for line in lines if line.split()[1] == version)

    def child_pids(self) -> list[int]:
        return [int(line.split()[3]) for line in self.fake_log.read_text().splitlines()]

    def served(self) -> str | None:
        try:
            return json.loads(self.state_file.read_text())["version"]
        except (FileNotFoundError, ValueError):
            return None

    def logged(self, text: str) -> bool:
        return self.count(text) > 0

    def count(self, text: str) -> int:
        return sum(1 for line in self.output if text in line)


def wait_until(condition: Any, seconds: float = 20, what: str = "") -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what or condition}"
        time.sleep(0.05)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    bin_dir = tmp_path / "venv" / "bin"
    bin_dir.mkdir(parents=True)
    # The supervisor starts the `mlflow` beside its own Python: give it a Python there.
    (bin_dir / "python").symlink_to(sys.executable)
    fake = bin_dir / "mlflow"
    fake.write_text(f"#!{sys.executable}\n{FAKE_MLFLOW}")
    fake.chmod(0o755)
    registry = Registry()
    port, *backend_ports = free_ports(3)
    runtime = tmp_path / "run"
    runtime.mkdir()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "RUNTIME_DIRECTORY": str(runtime),
        "MLFLOW_TRACKING_URI": registry.url,
        "MODEL_NAME": MODEL,
        "MODEL_ALIAS": ALIAS,
        "SERVE_HOST": "127.0.0.1",
        "SERVE_PORT": str(port),
        "BACKEND_PORTS": ",".join(map(str, backend_ports)),
        "POLL_SECONDS": str(POLL),
        "START_TIMEOUT_SECONDS": "20",
        "FAKE_LOG": str(tmp_path / "fake.log"),
        "FAKE_BROKEN": "3",
    }
    process = subprocess.Popen(  # noqa: S603
        [str(bin_dir / "python"), str(SUPERVISOR)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    result = Stack(registry, process, port, runtime / "served.json", tmp_path / "fake.log")

    def read_output() -> None:
        for line in process.stdout or []:
            result.output.append(line.rstrip())

    threading.Thread(target=read_output, daemon=True).start()
    try:
        wait_until(lambda: result.logged("Listening on"), what="the supervisor to listen")
        yield result
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        for pid in result.child_pids() if result.fake_log.exists() else []:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        registry.httpd.shutdown()
        registry.httpd.server_close()


class Client:
    """One persistent HTTP/1.1 connection, as send-requests' httpx.Client keeps."""

    def __init__(self, port: int) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        self.sock: socket.socket | None = None
        self.reconnects = 0

    def request(
        self, method: str, path: str, body: bytes | None = None, chunked: bool = False
    ) -> tuple[int, dict[str, str], bytes]:
        headers = {"Content-Type": "application/json"}
        if chunked:
            headers["Transfer-Encoding"] = "chunked"
        self.connection.request(method, path, body=body, headers=headers, encode_chunked=chunked)
        if self.sock is not None and self.connection.sock is not self.sock:
            self.reconnects += 1
        self.sock = self.connection.sock
        response = self.connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()


class Hammer(threading.Thread):
    """POSTs to /invocations through one connection until stopped; counts the answers."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.client = Client(port)
        self.versions: list[str] = []
        self.failures: list[str] = []
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            try:
                status, headers, body = self.client.request("POST", "/invocations", b'{"x": 1}')
            except (OSError, http.client.HTTPException) as exc:
                self.failures.append(repr(exc))
                self.client.connection.close()
                continue
            if status != 200:
                self.failures.append(f"HTTP {status}: {body[:200]!r}")
                continue
            version = json.loads(body)["predictions"][0]
            assert headers["X-Model-Version"] == version
            self.versions.append(version)

    def stop(self) -> None:
        self.halt.set()
        self.join(timeout=20)


def test_swaps_without_a_failed_request_and_keeps_the_old_version_when_the_new_one_fails(
    stack: Stack,
) -> None:
    client = Client(stack.port)
    # No alias yet: the proxy answers, 503, with a JSON error (and /ping is not 200).
    status, headers, body = client.request("GET", "/ping")
    assert status == 503 and headers["Content-Type"] == "application/json"
    assert json.loads(body)["message"] == f"No version of {MODEL}@{ALIAS} is served yet"
    assert client.request("POST", "/invocations", b"{}")[0] == 503
    assert stack.served() is None

    stack.registry.version = "1"
    wait_until(lambda: client.request("GET", "/ping")[0] == 200, what="version 1 to be served")
    assert stack.served() == "1"
    assert json.loads(stack.state_file.read_text()) == {
        "model": MODEL,
        "alias": ALIAS,
        "version": "1",
    }
    # Chunked and sized bodies reach the scoring server whole.
    payload = b'{"dataframe_split": {"columns": ["title", "text"], "data": [["a", "b"]]}}'
    for chunked in (False, True):
        status, headers, body = client.request("POST", "/invocations", payload, chunked=chunked)
        assert (status, headers["X-Model-Version"]) == (200, "1")
        assert json.loads(body)["received"] == len(payload)

    # The alias moves: version 2 starts beside version 1, which answers until the switch.
    hammer = Hammer(stack.port)
    hammer.start()
    wait_until(lambda: len(hammer.versions) > 20, what="answers from version 1")
    stack.registry.version = "2"
    wait_until(lambda: stack.served() == "2", what="the switch to version 2")
    switched_at = len(hammer.versions)
    wait_until(lambda: len(hammer.versions) > switched_at + 20, what="answers from version 2")
    wait_until(lambda: stack.logged("Stopping the scoring server of version 1"), what="v1 stop")
    answered = len(hammer.versions)

    # The alias moves to a version that does not start: version 2 is still served.
    stack.registry.version = "3"
    wait_until(lambda: stack.logged("Version 3 of"), what="version 3 to fail")
    time.sleep(6 * POLL)
    hammer.stop()

    assert hammer.failures == [], hammer.failures[:5]
    assert hammer.client.reconnects == 0
    first_v2 = hammer.versions.index("2")
    # (the request in flight when served.json was read may still have gone to version 1)
    assert 20 < first_v2 <= switched_at + 1
    assert set(hammer.versions[:first_v2]) == {"1"} and set(hammer.versions[first_v2:]) == {"2"}
    assert len(hammer.versions) > answered
    print(f"{len(hammer.versions)} requests, 0 failed, switched after {first_v2}")
    assert stack.served() == "2"
    assert client.request("GET", "/ping")[1]["X-Model-Version"] == "2"
    assert stack.logged(
        "Version 3 of fake-news-classifier@champion failed to start: it exited with 1 while "
        "starting; still serving version 2; trying it again in 60 s"
    )
    # Not tried again at every poll; at once when the alias comes back to it after moving away.
    assert stack.starts("3") == 1
    stack.registry.version = "2"
    time.sleep(4 * POLL)
    stack.registry.version = "3"
    wait_until(lambda: stack.starts("3") == 2, what="version 3 to be tried again")
    wait_until(lambda: stack.count("failed to start") == 2, what="the second failure")

    # Version 2 dies in the middle of a request: that request gets a 502 (JSON, no traceback);
    # then 503 while it starts again (version 3 waits for its next try), then version 2 again.
    status, headers, body = client.request("POST", "/invocations", b'{"crash": true}')
    assert status == 502 and json.loads(body)["error_code"] == "BAD_GATEWAY"
    assert "Traceback" not in body.decode()
    wait_until(lambda: stack.starts("2") == 2, what="version 2 to be started again")
    wait_until(lambda: client.request("GET", "/ping")[0] == 200, what="version 2 again")
    assert stack.served() == "2" and stack.logged("The scoring server of version 2 exited with")

    # SIGTERM: the supervisor stops its scoring servers and exits 0.
    stack.process.send_signal(signal.SIGTERM)
    assert stack.process.wait(timeout=30) == 0
    for pid in stack.child_pids():
        with pytest.raises(ProcessLookupError):
            os.killpg(pid, 0)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", stack.port), timeout=2).close()
    assert not stack.state_file.exists()
    assert not any("Traceback" in line for line in stack.output), "\n".join(stack.output)


def test_refuses_backend_ports_that_clash(tmp_path: Path) -> None:
    env = {
        "HOME": str(tmp_path),
        "MLFLOW_TRACKING_URI": "http://127.0.0.1:9",
        "MODEL_NAME": MODEL,
        "MODEL_ALIAS": ALIAS,
        "SERVE_PORT": "5001",
        "BACKEND_PORTS": "5101,5001",
    }
    proc = subprocess.run(  # noqa: S603
        [sys.executable, str(SUPERVISOR)], env=env, capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 1
    assert "BACKEND_PORTS '5101,5001' must be two ports" in proc.stderr
