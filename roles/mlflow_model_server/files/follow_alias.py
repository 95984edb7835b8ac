"""Serve the model version an MLflow registry alias points at, and follow the alias.

Run by the ``mlflow-model-server`` unit with the virtualenv's Python. Every POLL_SECONDS it asks
the registry which version ``MODEL_NAME@MODEL_ALIAS`` points at. While there is none (before the
first training) it waits quietly. When the version differs from the served one it stops the
scoring server and starts ``mlflow models serve -m models:/<name>/<version>`` (the exact version,
so that what is served is known), waits for ``/ping`` and records the served version in
``$RUNTIME_DIRECTORY/served.json``. A scoring server that dies is started again; an unreachable
tracking server leaves the running one alone. Standard library only.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

log = logging.getLogger("follow_alias")
NO_SUCH_ALIAS = {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"}


class Settings:
    def __init__(self, env: dict[str, str]) -> None:
        self.tracking_uri = env["MLFLOW_TRACKING_URI"].rstrip("/")
        if urllib.parse.urlparse(self.tracking_uri).scheme not in ("http", "https"):
            raise SystemExit(f"MLFLOW_TRACKING_URI {self.tracking_uri!r} is not an http(s) URL")
        self.model = env["MODEL_NAME"]
        self.alias = env["MODEL_ALIAS"]
        self.host = env.get("SERVE_HOST", "127.0.0.1")
        self.port = int(env.get("SERVE_PORT", "5001"))
        self.workers = int(env.get("SERVE_WORKERS", "1"))
        self.poll = float(env.get("POLL_SECONDS", "10"))
        self.start_timeout = float(env.get("START_TIMEOUT_SECONDS", "300"))
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


def ping(s: Settings) -> bool:
    try:
        with urllib.request.urlopen(f"http://{s.host}:{s.port}/ping", timeout=5) as response:
            return response.status == 200
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


class Supervisor:
    def __init__(self, s: Settings) -> None:
        self.s = s
        self.child: subprocess.Popen[bytes] | None = None
        self.served: str | None = None
        self.stopping = False
        self.last_note = ""

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

    def stop_child(self) -> None:
        """Stop the scoring server's whole process group (mlflow execs uvicorn in a child) and
        wait until it is gone, so that the port is free and the next /ping is the new server's."""
        if self.child is None:
            return
        pgid = self.child.pid
        log.info("Stopping the scoring server (process group %s)", pgid)
        for sig, grace in ((signal.SIGTERM, 30.0), (signal.SIGKILL, 10.0)):
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + grace
            while group_alive(pgid) and time.monotonic() < deadline:
                self.child.poll()
                time.sleep(0.2)
            if not group_alive(pgid):
                break
        self.child.wait()
        self.child = None
        self.served = None
        self.s.state_file.unlink(missing_ok=True)

    def start_child(self, version: str) -> bool:
        s = self.s
        uri = f"models:/{s.model}/{version}"
        log.info("Starting the scoring server for %s (%s@%s)", uri, s.model, s.alias)
        # The mlflow next to this Python (the virtualenv's); argv list, no shell.
        mlflow = str(Path(sys.executable).parent / "mlflow")
        self.child = subprocess.Popen(  # noqa: S603
            [
                mlflow,
                "models",
                "serve",
                "-m",
                uri,
                "--env-manager",
                "local",
                "-h",
                s.host,
                "-p",
                str(s.port),
                "-w",
                str(s.workers),
            ],
            start_new_session=True,
        )
        deadline = time.monotonic() + s.start_timeout
        while not self.stopping and time.monotonic() < deadline:
            if self.child.poll() is not None:
                log.error("The scoring server exited with %s while starting", self.child.returncode)
                self.stop_child()
                return False
            if ping(s):
                self.served = version
                tmp = s.state_file.with_suffix(".tmp")
                tmp.write_text(json.dumps({"model": s.model, "alias": s.alias, "version": version}))
                tmp.replace(s.state_file)
                log.info("Serving %s on http://%s:%s/invocations", uri, s.host, s.port)
                return True
            time.sleep(1)
        if not self.stopping:
            log.error("The scoring server did not answer /ping within %.0f s", s.start_timeout)
        self.stop_child()
        return False

    def step(self) -> None:
        if self.child is not None and self.child.poll() is not None:
            log.error("The scoring server exited with %s; starting it again", self.child.returncode)
            self.stop_child()
        try:
            wanted = alias_version(self.s)
        except (OSError, ValueError, KeyError) as exc:
            self.note(
                "Cannot read %s@%s from %s (%s); trying again",
                self.s.model,
                self.s.alias,
                self.s.tracking_uri,
                exc,
            )
            return
        if wanted is None:
            if self.served is None:
                self.note(
                    "No model version has the alias %s@%s yet; waiting for it",
                    self.s.model,
                    self.s.alias,
                )
            else:
                self.note(
                    "The alias %s@%s is gone; still serving version %s",
                    self.s.model,
                    self.s.alias,
                    self.served,
                )
            return
        if wanted == self.served:
            return
        if self.served is not None:
            log.info(
                "%s@%s moved from version %s to %s", self.s.model, self.s.alias, self.served, wanted
            )
        self.stop_child()
        self.last_note = ""
        self.start_child(wanted)

    def run(self) -> int:
        def stop(signum: int, _frame: object) -> None:
            self.stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        self.s.state_file.unlink(missing_ok=True)
        while not self.stopping:
            self.step()
            self.sleep(self.s.poll)
        self.stop_child()
        return 0


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s", stream=sys.stdout)
    return Supervisor(Settings(dict(os.environ))).run()


if __name__ == "__main__":
    sys.exit(main())
