"""Benchmark: the MLflow server's CPU per authenticated call, with and without its login cache.

Starts the stack's MLflow image twice (SQLite stores, the basic-auth app, one worker): once with
``auth_cache_ttl_seconds = 0`` (MLflow's default, a scrypt check on every call) and once with the
role's default, ``mlflow_server_auth_cache_seconds`` = 60. Each time it makes ``--calls``
authenticated API calls from this machine and reads the container's CPU time from its cgroup.
Prints CPU milliseconds per call, calls per second and the ratio. Not a timed test: run it by hand
on a machine with the test images built::

    .venv/bin/python bench/mlflow_auth_bench.py [--calls 300] [--image IMAGE]
"""

from __future__ import annotations

import argparse
import base64
import secrets
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

INI = """[mlflow]
default_permission = READ
database_uri = sqlite:////data/auth.db
admin_username = admin
authorization_function = mlflow.server.auth:authenticate_request_basic_auth
auth_cache_ttl_seconds = {ttl}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def container_cpu_seconds(container_id: str) -> float:
    """CPU time of the container's cgroup (v1 cpuacct or v2 cpu.stat)."""
    v1 = Path(f"/sys/fs/cgroup/cpuacct/docker/{container_id}/cpuacct.usage")
    if v1.exists():
        return int(v1.read_text()) / 1e9
    for v2 in (
        Path(f"/sys/fs/cgroup/system.slice/docker-{container_id}.scope/cpu.stat"),
        Path(f"/sys/fs/cgroup/docker/{container_id}/cpu.stat"),
    ):
        if v2.exists():
            usage = dict(line.split() for line in v2.read_text().splitlines())
            return int(usage["usage_usec"]) / 1e6
    raise SystemExit(f"no cgroup CPU accounting found for container {container_id}")


def call(url: str, header: str) -> int:
    request = urllib.request.Request(url, headers={"Authorization": header})  # noqa: S310 (loopback)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (loopback)
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:  # not listening yet, or the connection dropped while it starts
        return 0


def measure(image: str, ttl: int, calls: int) -> tuple[float, float]:
    password = secrets.token_urlsafe(24)
    header = "Basic " + base64.b64encode(f"admin:{password}".encode()).decode()
    port = free_port()
    with tempfile.TemporaryDirectory() as workdir:
        Path(workdir, "basic_auth.ini").write_text(INI.format(ttl=ttl))
        # The throwaway passwords go in a 0600 file, not on the command line.
        env_file = Path(workdir, "mlflow.env")
        env_file.touch(mode=0o600)
        env_file.write_text(
            f"MLFLOW_AUTH_ADMIN_PASSWORD={password}\n"
            f"MLFLOW_FLASK_SERVER_SECRET_KEY={secrets.token_hex(16)}\n"
        )
        container_id = subprocess.run(  # noqa: S603
            ["docker", "run", "--detach", "--rm", "--publish", f"127.0.0.1:{port}:5000",  # noqa: S607
             "--volume", f"{workdir}:/etc/mlflow:ro", "--tmpfs", "/data",
             "--env", "MLFLOW_AUTH_CONFIG_PATH=/etc/mlflow/basic_auth.ini",
             "--env-file", str(env_file),
             # All of the container's interfaces; published on loopback only.
             image, "mlflow", "server", "--host", "0.0.0.0", "--port", "5000", "--workers", "1",  # noqa: S104
             "--app-name", "basic-auth", "--backend-store-uri", "sqlite:////data/mlflow.db"],
            check=True, capture_output=True, text=True,
        ).stdout.strip()  # fmt: skip
        try:
            url = f"http://127.0.0.1:{port}/api/2.0/mlflow/experiments/search?max_results=1"
            deadline = time.monotonic() + 300
            while call(url, header) != 200:
                if time.monotonic() > deadline:
                    raise SystemExit("the MLflow server did not answer in 300 s")
                time.sleep(2)
            for _ in range(10):  # warm-up: imports, first queries
                call(url, header)
            cpu_before, start = container_cpu_seconds(container_id), time.monotonic()
            statuses = {call(url, header) for _ in range(calls)}
            wall = time.monotonic() - start
            cpu = container_cpu_seconds(container_id) - cpu_before
            if statuses != {200}:
                raise SystemExit(f"calls answered {sorted(statuses)}")
            return cpu / calls * 1000, calls / wall
        finally:
            subprocess.run(["docker", "rm", "--force", container_id], capture_output=True)  # noqa: S603,S607


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--image", default="prefect-stack/mlflow-server:3.17.2-auth")
    args = parser.parse_args()
    results = {ttl: measure(args.image, ttl, args.calls) for ttl in (0, 60)}
    print(f"{args.calls} authenticated calls (experiments/search) against {args.image}, one worker")
    print(f"{'auth_cache_ttl_seconds':>24} {'CPU ms per call':>16} {'calls/s':>9}")
    for ttl, (cpu_ms, rate) in results.items():
        print(f"{ttl:>24} {cpu_ms:>16.1f} {rate:>9.1f}")
    print(f"CPU per call without the cache / with it: {results[0][0] / results[60][0]:.1f}x")


if __name__ == "__main__":
    main()
