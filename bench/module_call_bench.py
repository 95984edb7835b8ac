"""Benchmark: what one module call costs on a test host, with and without the bytecode cache.

Starts two throwaway containers of the minimal instance image (scripts/build-test-images.sh): one
as built, with scripts/test-images/ansiballz_bytecode_cache.py, and one with its .pth removed.
Runs a playbook of ``--calls`` ``ansible.builtin.command`` tasks against each in turn (A B A B
...) over ``community.docker.docker`` with pipelining, as the scenarios do, and prints min /
median / max of the machine's CPU-seconds (every process: ansible, the Docker CLI and daemons, the
host's Python) and wall seconds per call (with its share of ansible-playbook's start), and the
ratio of the medians. The first round of the cached host fills its cache and is not counted. Not a
timed test: run it by hand::

    .venv/bin/python bench/module_call_bench.py [--calls 30] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = REPO / ".venv" / "bin"
IMAGE = os.environ.get("MOLECULE_MINIMAL_INSTANCE_IMAGE", "prefect-stack/debian13-minimal:latest")
PTH = "$(python3 -c 'import site; print(site.getsitepackages()[0])')/ansiballz_bytecode_cache.pth"


def machine_cpu_seconds() -> float:
    """User, nice, system, irq and softirq time of the whole machine."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    return sum(int(fields[i]) for i in (0, 1, 2, 5, 6)) / os.sysconf("SC_CLK_TCK")


def docker(*args: str) -> None:
    subprocess.run(["docker", *args], check=True, capture_output=True)  # noqa: S603,S607


def run_playbook(workdir: Path, host: str) -> tuple[float, float]:
    env = {**os.environ, "ANSIBLE_PIPELINING": "1", "ANSIBLE_NOCOLOR": "1"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    cpu, wall = machine_cpu_seconds(), time.monotonic()
    subprocess.run(  # noqa: S603
        [str(VENV_BIN / "ansible-playbook"), "-i", f"{host},", "-c", "community.docker.docker",
         "-e", "ansible_python_interpreter=/usr/bin/python3", str(workdir / "play.yml")],
        env=env, check=True, capture_output=True,
    )  # fmt: skip
    return machine_cpu_seconds() - cpu, time.monotonic() - wall


def summary(values: list[float]) -> str:
    return f"{min(values):.3f} / {statistics.median(values):.3f} / {max(values):.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--calls", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    hosts = {
        kind: f"prefect-stack-bench-{kind}-{uuid.uuid4().hex[:6]}" for kind in ("cached", "plain")
    }
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        tasks = "".join('    - ansible.builtin.command: "true"\n      changed_when: false\n'
                        for _ in range(args.calls))  # fmt: skip
        (workdir / "play.yml").write_text(f"- hosts: all\n  gather_facts: false\n  tasks:\n{tasks}")
        try:
            for host in hosts.values():
                docker("run", "--detach", "--name", host, IMAGE, "sleep", "3600")
            docker("exec", hosts["plain"], "sh", "-c", f'rm "{PTH}"')
            run_playbook(workdir, hosts["cached"])  # fills the cache
            figures: dict[str, list[tuple[float, float]]] = {kind: [] for kind in hosts}
            for _ in range(args.rounds):
                for kind, host in hosts.items():
                    cpu, wall = run_playbook(workdir, host)
                    figures[kind].append((cpu / args.calls, wall / args.calls))
        finally:
            for host in hosts.values():
                subprocess.run(["docker", "rm", "--force", host], capture_output=True, check=False)  # noqa: S603,S607
    print(
        f"{args.calls} module calls a run, {args.rounds} runs each; per call, min / median / max:"
    )
    for kind in hosts:
        cpu = [c for c, _ in figures[kind]]
        wall = [w for _, w in figures[kind]]
        print(f"  {kind:7} machine CPU-s {summary(cpu)}   wall s {summary(wall)}")
    ratio = statistics.median(c for c, _ in figures["plain"]) / statistics.median(
        c for c, _ in figures["cached"]
    )
    print(f"plain / cached, median machine CPU: {ratio:.2f}x  (load {os.getloadavg()[0]:.2f})")


if __name__ == "__main__":
    main()
