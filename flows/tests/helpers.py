"""Helpers of the flow tests: a real local HTTP server and MLflow's real scoring server."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

# (status, body) or (status, body, content type)
Route = Callable[[BaseHTTPRequestHandler], tuple[int, bytes] | tuple[int, bytes, str]]


class LocalHTTPServer:
    """A real HTTP server on 127.0.0.1 (random port). ``routes[path]`` answers a request."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[str, str]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                server.requests.append((self.command, self.path))
                route = server.routes.get(self.path.split("?")[0])
                status, body, *content_type = route(self) if route else (404, b"not found")
                self.send_response(status)
                if content_type:
                    self.send_header("Content-Type", content_type[0])
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = _answer
            do_POST = _answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def count(self, path: str) -> int:
        return sum(1 for _, requested in self.requests if requested.split("?")[0] == path)


def free_port() -> int:
    with contextlib.closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def failure_message(state: Any) -> str:
    """The message of a failed Prefect state (what the UI and the logs show).

    Also checks that the run failed with one of the flows' own clear errors, raised without a
    chained library traceback.
    """
    assert state.is_failed(), f"expected a failed run, got {state!r}"
    exc = state.result(raise_on_failure=False)
    assert type(exc).__name__ in ("FlowInputError", "ServiceUnreachableError"), repr(exc)
    assert exc.__cause__ is None and (exc.__context__ is None or exc.__suppress_context__)
    return str(state.message)


@contextlib.contextmanager
def mlflow_model_server(
    model_uri: str, tracking_uri: str, cwd: Path, log_path: Path
) -> Iterator[str]:
    """Run ``mlflow models serve`` (MLflow's own scoring server) on a free port; yield its URL."""
    port = free_port()
    env = dict(os.environ)
    env["MLFLOW_TRACKING_URI"] = tracking_uri
    # mlflow starts uvicorn from PATH: make it this interpreter's.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    command = [sys.executable, "-m", "mlflow", "models", "serve", "-m", model_uri]
    command += ["--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)]
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603
            command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"mlflow models serve exited: {log_path.read_text()[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/ping", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"mlflow models serve did not start: {log_path.read_text()}")
            time.sleep(0.5)
        yield f"{url}/invocations"
    finally:
        # The server runs in its own session: end that process group (and only it).
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, 15)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait(timeout=10)
