"""Serve the model version an MLflow registry alias points at, and follow the alias without a gap.

Run by the ``mlflow-model-server`` unit with the virtualenv's Python; standard library only.

The public port (SERVE_HOST:SERVE_PORT) is this process's own small threaded reverse proxy. It
forwards every request to the current backend: ``mlflow models serve -m models:/<name>/<version>``
(the exact version, so that what is served is known) on 127.0.0.1 and one of the two internal
ports BACKEND_PORTS, and adds ``X-Model-Version: <version>`` to each answer.

Every POLL_SECONDS it asks the registry which version ``MODEL_NAME@MODEL_ALIAS`` points at:

* none yet (before the first training): it waits quietly; the proxy answers 503 (``/ping`` too);
* another version than the served one: it starts the new scoring server on the free internal
  port, beside the served one, and waits until its ``/ping`` answers (START_TIMEOUT_SECONDS).
  Then it switches the proxy to it (a request goes to one backend or the other, never nowhere),
  records the version in ``$RUNTIME_DIRECTORY/served.json`` and stops the old scoring server
  once the requests it is answering are done (at most DRAIN_SECONDS);
* a new version that exits or does not answer in time is stopped and the old one keeps being
  served (``served.json`` unchanged); that version is tried again after a back-off (60 s,
  doubling up to 30 min; RETRY_FIRST_SECONDS, RETRY_MAX_SECONDS), or at once when the alias has
  moved to another version and comes back to it.

A served scoring server that dies is started again (the proxy answers 503 meanwhile); a backend
that fails in the middle of a request gets the client a 502 with a short JSON error; an
unreachable tracking server leaves the served version alone. Requests are logged at debug level
only (uvicorn's access log is off unless UVICORN_ACCESS_LOG says otherwise). SIGTERM: stop
accepting, let the requests in flight finish (briefly), stop the scoring servers, exit 0.
"""

from __future__ import annotations

import base64
import http.client
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

log = logging.getLogger("follow_alias")
NO_SUCH_ALIAS = {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"}
BACKEND_HOST = "127.0.0.1"
# Headers of one hop (RFC 9110 7.6.1), never forwarded; Content-Length is set anew.
HOP_BY_HOP = {
    "connection",
    "content-length",
    "expect",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
}
UPSTREAM_TIMEOUT_SECONDS = 300.0  # one request to a scoring server
IDLE_SECONDS = 60.0  # an idle client connection is closed after this
MAX_LINE = 65536


class Settings:
    def __init__(self, env: dict[str, str]) -> None:
        self.tracking_uri = env["MLFLOW_TRACKING_URI"].rstrip("/")
        if urllib.parse.urlparse(self.tracking_uri).scheme not in ("http", "https"):
            raise SystemExit(f"MLFLOW_TRACKING_URI {self.tracking_uri!r} is not an http(s) URL")
        self.model = env["MODEL_NAME"]
        self.alias = env["MODEL_ALIAS"]
        self.host = env.get("SERVE_HOST", "127.0.0.1")
        self.port = int(env.get("SERVE_PORT", "5001"))
        try:
            ports = [int(p) for p in env.get("BACKEND_PORTS", "5101,5102").split(",")]
        except ValueError:
            ports = []
        if len(ports) != 2 or len({*ports, self.port}) != 3:
            raise SystemExit(
                f"BACKEND_PORTS {env.get('BACKEND_PORTS')!r} must be two ports, different from "
                f"each other and from SERVE_PORT {self.port}"
            )
        self.backend_ports = ports
        self.workers = int(env.get("SERVE_WORKERS", "1"))
        self.poll = float(env.get("POLL_SECONDS", "10"))
        self.start_timeout = float(env.get("START_TIMEOUT_SECONDS", "300"))
        self.drain = float(env.get("DRAIN_SECONDS", "30"))
        self.retry_first = float(env.get("RETRY_FIRST_SECONDS", "60"))
        self.retry_max = float(env.get("RETRY_MAX_SECONDS", "1800"))
        self.state_file = Path(env.get("RUNTIME_DIRECTORY") or env["HOME"]) / "served.json"
        user, password = env.get("MLFLOW_TRACKING_USERNAME"), env.get("MLFLOW_TRACKING_PASSWORD")
        self.headers = {}
        if user and password:
            token = base64.b64encode(f"{user}:{password}".encode()).decode()
            self.headers["Authorization"] = f"Basic {token}"


def alias_version(s: Settings) -> str | None:
    """The version the alias points at, or None when the model or the alias does not exist."""
    query = urllib.parse.urlencode({"name": s.model, "alias": s.alias})
    url = f"{s.tracking_uri}/api/2.0/mlflow/registered-models/alias?{query}"
    request = urllib.request.Request(url, headers=s.headers)  # noqa: S310 (http(s) checked)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return str(json.load(response)["model_version"]["version"])
    except urllib.error.HTTPError as exc:
        if exc.code in (400, 404):
            try:
                code = json.loads(exc.read() or b"{}").get("error_code")
            except ValueError:
                code = None
            if code in NO_SUCH_ALIAS or exc.code == 404:
                return None
        raise


def ping(port: int) -> bool:
    """Whether the scoring server on `port` answers /ping (directly: no HTTP proxy in between)."""
    connection = http.client.HTTPConnection(BACKEND_HOST, port, timeout=5)
    try:
        connection.request("GET", "/ping", headers={"Connection": "close"})
        response = connection.getresponse()
        response.read()
        return response.status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


def port_in_use(port: int) -> bool:
    try:
        with socket.create_connection((BACKEND_HOST, port), timeout=2):
            return True
    except OSError:
        return False


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(eq=False)
class Backend:
    """One ``mlflow models serve`` process group and the requests it is answering."""

    version: str
    port: int
    process: subprocess.Popen[bytes]
    in_flight: int = 0


@dataclass
class Failure:
    count: int
    retry_at: float  # time.monotonic()


class BadRequest(ValueError):
    pass


class ProxyServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, supervisor: Supervisor) -> None:
        self.supervisor = supervisor
        if ":" in supervisor.s.host:
            self.address_family = socket.AF_INET6
        super().__init__((supervisor.s.host, supervisor.s.port), ProxyHandler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that went away, mostly; never a traceback in the journal for each of those.
        log.debug("Connection from %s ended with an error", client_address, exc_info=True)


class ProxyHandler(BaseHTTPRequestHandler):
    """Forwards each request to the current backend; HTTP/1.1 keep-alive with the client."""

    protocol_version = "HTTP/1.1"
    server_version = "mlflow-model-server"
    timeout = IDLE_SECONDS
    # Headers and body go out in two writes: without this, Nagle's algorithm and the client's
    # delayed ACK would hold each answer back about 40 ms.
    disable_nagle_algorithm = True
    server: ProxyServer

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def forward(self) -> None:
        supervisor = self.server.supervisor
        try:
            body = self.read_body()
        except BadRequest as exc:
            self.close_connection = True
            self.answer(400, "BAD_REQUEST", str(exc))
            return
        except (OSError, ValueError):
            self.close_connection = True  # the client went away while sending
            return
        backend = supervisor.acquire()
        if backend is None:
            self.answer(503, "SERVICE_UNAVAILABLE", supervisor.unavailable, retry=True)
            return
        try:
            status, reason, headers, payload = self.ask(backend, body)
        except (OSError, ValueError, http.client.HTTPException) as exc:
            log.debug("Version %s failed a request: %r", backend.version, exc)
            self.answer(
                502,
                "BAD_GATEWAY",
                f"The scoring server of version {backend.version} failed to answer "
                f"({type(exc).__name__}); try again",
            )
            return
        finally:
            supervisor.release(backend)
        self.relay(backend.version, status, reason, headers, payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = forward

    def read_body(self) -> bytes | None:
        """The request's body (Content-Length or chunked), or None when it has none."""
        if "transfer-encoding" in self.headers:
            if self.headers["Transfer-Encoding"].split(",")[-1].strip().lower() != "chunked":
                raise BadRequest("Transfer-Encoding other than chunked")
            chunks = []
            while True:
                line = self.rfile.readline(MAX_LINE)
                try:
                    size = int(line.split(b";")[0].strip(), 16)
                except ValueError:
                    raise BadRequest("malformed chunk size") from None
                if size == 0:
                    break
                chunk = self.rfile.read(size)
                if len(chunk) < size or self.rfile.readline(MAX_LINE) not in (b"\r\n", b"\n"):
                    raise BadRequest("truncated chunk")
                chunks.append(chunk)
            while self.rfile.readline(MAX_LINE) not in (b"\r\n", b"\n", b""):
                pass  # trailer fields
            return b"".join(chunks)
        lengths = {value.strip() for value in self.headers.get_all("Content-Length") or []}
        if not lengths:
            return None
        if len(lengths) > 1 or not next(iter(lengths)).isdigit():
            raise BadRequest("invalid Content-Length")
        length = int(next(iter(lengths)))
        body = self.rfile.read(length)
        if len(body) < length:
            raise ConnectionError("the client closed the connection while sending the body")
        return body

    def ask(
        self, backend: Backend, body: bytes | None
    ) -> tuple[int, str, list[tuple[str, str]], bytes]:
        """One request to the backend, on a connection of its own."""
        connection = http.client.HTTPConnection(
            BACKEND_HOST, backend.port, timeout=UPSTREAM_TIMEOUT_SECONDS
        )
        try:
            connection.putrequest(
                self.command, self.path, skip_host=True, skip_accept_encoding=True
            )
            named = {
                token.strip().lower()
                for value in self.headers.get_all("Connection") or []
                for token in value.split(",")
            }
            for name, value in self.headers.items():
                if name.lower() not in HOP_BY_HOP and name.lower() not in named:
                    connection.putheader(name, value)
            if "host" not in self.headers:
                connection.putheader("Host", f"{BACKEND_HOST}:{backend.port}")
            if body is not None or self.command in ("POST", "PUT", "PATCH"):
                connection.putheader("Content-Length", str(len(body or b"")))
            connection.putheader("Connection", "close")
            connection.endheaders(body or None)
            response = connection.getresponse()
            payload = response.read()
            return response.status, response.reason, response.getheaders(), payload
        finally:
            connection.close()

    def relay(
        self,
        version: str,
        status: int,
        reason: str,
        headers: list[tuple[str, str]],
        payload: bytes,
    ) -> None:
        bodiless = self.command == "HEAD" or status in (204, 304) or 100 <= status < 200
        try:
            self.log_request(status, len(payload))
            self.send_response_only(status, reason)
            # A HEAD answer keeps the Content-Length the GET would have.
            dropped = HOP_BY_HOP - ({"content-length"} if self.command == "HEAD" else set())
            for name, value in headers:
                if name.lower() not in dropped:
                    self.send_header(name, value)
            self.send_header("X-Model-Version", version)
            if not bodiless:
                self.send_header("Content-Length", str(len(payload)))
            self.end_connection_headers()
            if not bodiless:
                self.wfile.write(payload)
        except OSError:
            self.close_connection = True

    def answer(self, status: int, code: str, message: str, retry: bool = False) -> None:
        """An answer of the proxy itself: MLflow's JSON error shape."""
        body = json.dumps({"error_code": code, "message": message}).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            if retry:
                self.send_header("Retry-After", str(max(1, round(self.server.supervisor.s.poll))))
            self.end_connection_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
        except OSError:
            self.close_connection = True

    def end_connection_headers(self) -> None:
        if self.server.supervisor.stopping:
            self.close_connection = True
        if self.close_connection:
            self.send_header("Connection", "close")
        elif self.request_version == "HTTP/1.0":
            self.send_header("Connection", "keep-alive")
        self.end_headers()


class Supervisor:
    def __init__(self, s: Settings) -> None:
        self.s = s
        self.current: Backend | None = None  # what the proxy forwards to
        self.lost: str | None = None  # the served version whose scoring server died
        self.failures: dict[str, Failure] = {}
        self.lock = threading.Condition()
        self.unavailable = f"No version of {s.model}@{s.alias} is served yet"
        self.stopping = False
        self.last_note = ""

    # The proxy's side: which backend answers a request, and how many it is answering.
    def acquire(self) -> Backend | None:
        with self.lock:
            backend = self.current
            if backend is not None:
                backend.in_flight += 1
            return backend

    def release(self, backend: Backend) -> None:
        with self.lock:
            backend.in_flight -= 1
            self.lock.notify_all()

    def drain(self, backend: Backend, seconds: float) -> int:
        """Wait until no request is in flight to `backend` (at most `seconds`); return how many
        still are."""
        deadline = time.monotonic() + seconds
        with self.lock:
            while backend.in_flight and time.monotonic() < deadline:
                self.lock.wait(min(0.5, max(0.0, deadline - time.monotonic())))
            return backend.in_flight

    def note(self, message: str, *args: Any) -> None:
        """Log a message once, not at every poll."""
        text = message % args
        if text != self.last_note:
            log.info(text)
            self.last_note = text

    def sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.stopping and time.monotonic() < deadline:
            time.sleep(min(0.5, deadline - time.monotonic()))

    def stop_backend(self, backend: Backend) -> None:
        """Stop the scoring server's whole process group (mlflow runs uvicorn in a child) and
        wait until it is gone."""
        pgid = backend.process.pid
        log.info(
            "Stopping the scoring server of version %s (process group %s)", backend.version, pgid
        )
        for sig, grace in ((signal.SIGTERM, 30.0), (signal.SIGKILL, 10.0)):
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + grace
            while group_alive(pgid) and time.monotonic() < deadline:
                backend.process.poll()
                time.sleep(0.2)
            if not group_alive(pgid):
                break
        backend.process.wait()

    def reap(self) -> None:
        """If the served scoring server died, take it out of the proxy (503 until one is back)."""
        backend = self.current
        if backend is None or backend.process.poll() is None:
            return
        with self.lock:
            self.current = None
            self.unavailable = (
                f"The scoring server of {self.s.model} version {backend.version} stopped; "
                "it is being started again"
            )
        log.error(
            "The scoring server of version %s exited with %s; starting it again "
            "(requests get 503 until it answers)",
            backend.version,
            backend.process.returncode,
        )
        self.stop_backend(backend)
        self.s.state_file.unlink(missing_ok=True)
        self.lost = backend.version

    def write_state(self, version: str) -> None:
        s = self.s
        tmp = s.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({"model": s.model, "alias": s.alias, "version": version}))
        tmp.replace(s.state_file)

    def wait_ready(self, backend: Backend) -> str | None:
        """None once the new scoring server answers /ping, else why it did not."""
        deadline = time.monotonic() + self.s.start_timeout
        while not self.stopping:
            self.reap()  # the served one may die meanwhile
            if backend.process.poll() is not None:
                return f"it exited with {backend.process.returncode} while starting"
            if ping(backend.port):
                return None
            if time.monotonic() >= deadline:
                return f"it did not answer /ping within {self.s.start_timeout:.0f} s"
            time.sleep(0.5)
        return "stopping"

    def start(self, version: str) -> bool:
        """Start `version` beside the served one; switch to it once it answers."""
        s = self.s
        old = self.current
        port = next(p for p in s.backend_ports if old is None or p != old.port)
        if port_in_use(port):
            self.note(
                "Cannot start version %s: port %s (BACKEND_PORTS) is in use by another program",
                version,
                port,
            )
            return False
        self.last_note = ""
        uri = f"models:/{s.model}/{version}"
        log.info(
            "Starting the scoring server for %s on %s:%s%s",
            uri,
            BACKEND_HOST,
            port,
            f", beside version {old.version}, which is served until it answers" if old else "",
        )
        # The mlflow next to this Python (the virtualenv's); argv list, no shell.
        mlflow = str(Path(sys.executable).parent / "mlflow")
        command = [mlflow, "models", "serve", "-m", uri, "--env-manager", "local"]
        command += ["-h", BACKEND_HOST, "-p", str(port), "-w", str(s.workers)]
        # Each request is logged by the proxy (at debug level), not once more by uvicorn.
        env = {"UVICORN_ACCESS_LOG": "false", **os.environ}
        process = subprocess.Popen(command, env=env, start_new_session=True)  # noqa: S603
        backend = Backend(version, port, process)
        problem = self.wait_ready(backend)
        if problem is not None:
            self.stop_backend(backend)
            if self.stopping:
                return False
            count = self.failures[version].count + 1 if version in self.failures else 1
            delay = min(s.retry_first * 2 ** (count - 1), s.retry_max)
            self.failures[version] = Failure(count, time.monotonic() + delay)
            served = self.current.version if self.current else None
            if served is None:
                self.unavailable = f"Version {version} of {s.model}@{s.alias} failed to start"
            log.error(
                "Version %s of %s@%s failed to start: %s; %s; trying it again in %.0f s, or as "
                "soon as the alias moves to another version",
                version,
                s.model,
                s.alias,
                problem,
                f"still serving version {served}" if served else "no version is served",
                delay,
            )
            return False
        self.failures.pop(version, None)
        with self.lock:
            old, self.current = self.current, backend
        self.write_state(version)
        self.lost = None
        if old is None:
            log.info(
                "Serving version %s of %s@%s on http://%s:%s",
                version,
                s.model,
                s.alias,
                s.host,
                s.port,
            )
            return True
        log.info(
            "Switched %s@%s from version %s to version %s on http://%s:%s",
            s.model,
            s.alias,
            old.version,
            version,
            s.host,
            s.port,
        )
        left = self.drain(old, s.drain)
        if left:
            log.warning(
                "%d requests to version %s still unanswered after %.0f s",
                left,
                old.version,
                s.drain,
            )
        self.stop_backend(old)
        return True

    def step(self) -> None:
        s = self.s
        self.reap()
        try:
            wanted = alias_version(s)
        except (OSError, ValueError, KeyError) as exc:
            self.note(
                "Cannot read %s@%s from %s (%s); trying again",
                s.model,
                s.alias,
                s.tracking_uri,
                exc,
            )
            return
        served = self.current.version if self.current else None
        if wanted is None and self.lost is None:
            if served is None:
                self.note(
                    "No model version has the alias %s@%s yet; waiting for it", s.model, s.alias
                )
            else:
                self.note(
                    "The alias %s@%s is gone; still serving version %s", s.model, s.alias, served
                )
            return
        # The alias's version; else (no alias) the served one that died.
        target = wanted or self.lost
        candidates = [target]
        if served is None and self.lost and self.lost != target:
            candidates.append(self.lost)  # while the wanted one waits for its next try
        # A version that failed is tried again at once when the alias comes back to it.
        self.failures = {v: f for v, f in self.failures.items() if v in candidates}
        if target == served:
            return
        for version in candidates:
            failure = self.failures.get(version)
            if failure is None or time.monotonic() >= failure.retry_at:
                self.start(version)
                return

    def run(self) -> int:
        def stop(signum: int, _frame: object) -> None:
            self.stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        self.s.state_file.unlink(missing_ok=True)
        try:
            proxy = ProxyServer(self)
        except OSError as exc:
            log.error("Cannot listen on %s:%s: %s", self.s.host, self.s.port, exc)
            return 1
        thread = threading.Thread(target=proxy.serve_forever, args=(0.5,), daemon=True)
        thread.start()
        log.info(
            "Listening on http://%s:%s; the scoring servers take %s:%s and %s:%s in turn",
            self.s.host,
            self.s.port,
            BACKEND_HOST,
            self.s.backend_ports[0],
            BACKEND_HOST,
            self.s.backend_ports[1],
        )
        try:
            while not self.stopping:
                self.step()
                self.sleep(self.s.poll)
        finally:
            proxy.shutdown()
            proxy.server_close()
            backend = self.current
            if backend is not None:
                self.drain(backend, 5)
                with self.lock:
                    self.current = None
                self.stop_backend(backend)
            self.s.state_file.unlink(missing_ok=True)
        return 0


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s", stream=sys.stdout)
    return Supervisor(Settings(dict(os.environ))).run()


if __name__ == "__main__":
    sys.exit(main())
