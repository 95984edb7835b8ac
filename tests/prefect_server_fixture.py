"""Start a REAL, throwaway Prefect server (backed by a throwaway Postgres) for tests and benchmarks.

Used by ``tests/conftest.py`` (session fixture) and ``bench/deployments_bench.py``; no mocks.

* Postgres 15 from ``/usr/lib/postgresql/15/bin`` (``initdb`` + ``pg_ctl``) on a free loopback port,
  run as an unprivileged user when we are root; SQLite when the binaries are absent.
* ``prefect server start --no-services --no-ui`` on a free loopback port, with its own
  ``PREFECT_HOME`` and ``PREFECT_SERVER_API_AUTH_STRING`` so basic auth is exercised.
* Optionally a recording proxy in front of it that counts every request, so a test can prove a
  second run makes no write call to the API.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

PG_BIN = Path(os.environ.get("PREFECT_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
VENV_BIN = Path(__file__).resolve().parent.parent / ".venv" / "bin"
# read-only POST endpoints of the Prefect API (everything else that is not GET is a write)
READ_ONLY_POST_SUFFIXES = ("/filter", "/count", "/paginate")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _unprivileged_user() -> str | None:
    """Postgres refuses to run as root: pick a user to run it as (None: we are not root)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise RuntimeError("running as root and no 'postgres' or 'nobody' user to run Postgres as")


class ThrowawayPostgres:
    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.datadir = workdir / "pgdata"
        self.sockdir = workdir / "pgsock"
        self.port = free_port()
        self.user = _unprivileged_user()

    def _run(self, *args: str) -> None:
        cmd = list(args)
        if self.user:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, text=True)  # noqa: S603

    def start(self) -> str:
        for d in (self.datadir, self.sockdir):
            d.mkdir(mode=0o700)
            if self.user:
                pw = pwd.getpwnam(self.user)
                os.chown(d, pw.pw_uid, pw.pw_gid)
        self._run(
            str(PG_BIN / "initdb"), "-D", str(self.datadir), "-U", "postgres", "-A", "trust",
            "--no-sync", "-E", "UTF8",
        )  # fmt: skip
        opts = (
            f"-p {self.port} -k {self.sockdir} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=60"
        )
        self._run(
            str(PG_BIN / "pg_ctl"), "-D", str(self.datadir), "-o", opts, "-w", "-t", "60",
            "-l", str(self.datadir / "postgres.log"), "start",
        )  # fmt: skip
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        if (self.datadir / "postmaster.pid").exists():
            with contextlib.suppress(subprocess.CalledProcessError):
                self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.datadir), "-m", "fast", "stop")


class RecordingProxy:
    """A loopback HTTP proxy in front of the server that records (method, path) of each request.

    A request to ``/case/<tag>/api/...`` is forwarded as ``/api/...`` and recorded with its whole
    path, so that one playbook's tasks, each pointed at its own ``tagged_url``, can be told apart.
    """

    def __init__(self, upstream_port: int):
        self.requests: list[tuple[str, str]] = []
        self.connections = 0  # client connections accepted
        # the next N replies close their connection unannounced, as a server whose keep-alive
        # timeout ran out closes an idle one
        self.close_after_reply = 0
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # silence
                pass

            def setup(self):
                super().setup()
                with proxy.lock:
                    proxy.connections += 1

            def _forward(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                with proxy.lock:
                    proxy.requests.append((self.command, self.path.split("?")[0]))
                upstream = self.path
                if upstream.startswith("/case/"):
                    upstream = "/" + upstream.split("/", 3)[3]
                conn = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=120)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                conn.request(self.command, upstream, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                conn.close()
                with proxy.lock:
                    if proxy.close_after_reply:
                        proxy.close_after_reply -= 1
                        self.close_connection = True

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()

    def writes(self) -> list[tuple[str, str]]:
        with self.lock:
            return [
                (m, p)
                for m, p in self.requests
                if m in ("PUT", "PATCH", "DELETE")
                or (m == "POST" and not p.rstrip("/").endswith(READ_ONLY_POST_SUFFIXES))
            ]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class PrefectTestServer:
    """``with PrefectTestServer() as srv:`` gives ``srv.api_url``, ``srv.auth_string``..."""

    def __init__(self, use_postgres: bool | None = None, proxy: bool = True):
        self.workdir = Path(tempfile.mkdtemp(prefix="prefect-test-"))
        os.chmod(self.workdir, 0o755)  # the unprivileged Postgres user must traverse it  # noqa: S103
        if use_postgres is None:
            use_postgres = (PG_BIN / "initdb").exists()
        self.pg = ThrowawayPostgres(self.workdir) if use_postgres else None
        self.port = free_port()
        self.auth_string = f"admin:{secrets.token_urlsafe(12)}"
        self.want_proxy = proxy
        self.proxy: RecordingProxy | None = None
        self.proc: subprocess.Popen | None = None
        self.log_path = self.workdir / "server.log"

    # -- lifecycle -------------------------------------------------------------------------
    @property
    def auth_header(self) -> str:
        """The ``Authorization`` header's value for ``auth_string``."""
        return "Basic " + base64.b64encode(self.auth_string.encode()).decode()

    @property
    def direct_api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    @property
    def api_url(self) -> str:
        """The URL the modules are pointed at (through the recording proxy when there is one)."""
        if self.proxy:
            return f"http://127.0.0.1:{self.proxy.port}/api"
        return self.direct_api_url

    def tagged_url(self, tag: str) -> str:
        """``api_url`` with requests recorded under ``/case/<tag>`` (see RecordingProxy)."""
        assert self.proxy, "tagged URLs need the recording proxy"
        return f"http://127.0.0.1:{self.proxy.port}/case/{tag}/api"

    def client_env(self) -> dict[str, str]:
        """Environment for the ``prefect`` CLI to talk to this server."""
        env = dict(os.environ)
        env.update(
            PREFECT_HOME=str(self.workdir / "client-home"),
            PREFECT_API_URL=self.direct_api_url,
            PREFECT_API_AUTH_STRING=self.auth_string,
            PREFECT_SERVER_ANALYTICS_ENABLED="false",
        )
        return env

    def start(self, timeout: float = 120) -> PrefectTestServer:
        env = dict(os.environ)
        env.update(
            PREFECT_HOME=str(self.workdir / "home"),
            PREFECT_SERVER_API_AUTH_STRING=self.auth_string,
            PREFECT_SERVER_ANALYTICS_ENABLED="false",
            PREFECT_SERVER_UI_ENABLED="false",
            PREFECT_SERVER_LOGGING_LEVEL="WARNING",
        )
        env.pop("PREFECT_API_URL", None)
        if self.pg:
            env["PREFECT_SERVER_DATABASE_CONNECTION_URL"] = self.pg.start()
        else:
            env["PREFECT_SERVER_DATABASE_CONNECTION_URL"] = (
                f"sqlite+aiosqlite:///{self.workdir / 'prefect.db'}"
            )
        log = open(self.log_path, "wb")  # noqa: SIM115 - lives as long as the server
        self.proc = subprocess.Popen(  # noqa: S603
            [
                str(VENV_BIN / "prefect"), "server", "start", "--host", "127.0.0.1",
                "--port", str(self.port), "--no-services", "--no-ui", "--analytics-off",
            ],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"prefect server exited early:\n{self.log_path.read_text()}")
            try:
                if self.api("GET", "/health", base=self.direct_api_url) is True:
                    break
            except (OSError, urllib.error.URLError):
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"prefect server not healthy in {timeout}s")
            time.sleep(0.5)
        if self.want_proxy:
            self.proxy = RecordingProxy(self.port)
        return self

    def stop(self) -> None:
        if self.proxy:
            self.proxy.stop()
            self.proxy = None
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.pg:
            self.pg.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> PrefectTestServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- REST helper (direct, not through the proxy, so it does not pollute the counts) -------
    def api(self, method: str, path: str, body=None, base: str | None = None, auth: bool = True):
        url = (base or self.direct_api_url) + path
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method)  # noqa: S310
        req.add_header("Content-Type", "application/json")
        if auth:
            req.add_header("Authorization", self.auth_header)
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:  # noqa: S310
                raw = resp.read()
        except urllib.error.HTTPError as err:
            if err.code == 404:
                return None
            raise
        return json.loads(raw) if raw else None
