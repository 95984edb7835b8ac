"""scripts/test.sh, the CI entry point, stops everything it started when it ends early.

It starts pytest before the stack's images are built, and the scenarios and lint beside pytest.
When a set-up lane then fails, or CI stops the run, nothing it started may go on in the
background. The set-up scripts, pytest, molecule and the linters are stand-ins here (the real ones
are the whole suite); each stand-in leaves a child behind it, as pytest's servers and molecule's
ansible-playbook do, and ignores SIGINT where said, so the escalation to SIGKILL is proven too.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# A long-running stand-in: writes its own and its child's pid, then waits on the child.
RUNNING = """#!/usr/bin/env bash
{trap}
sleep 600 &
echo "$$ $!" > "{pids}/{name}"
wait
"""


def _tree(tmp_path: Path, image_build: str, ignore_int: str) -> Path:
    """A copy of test.sh with stand-ins for every command it runs."""
    root = tmp_path / "repo"
    pids = tmp_path / "pids"
    pids.mkdir()
    (root / "scripts").mkdir(parents=True)
    (root / "molecule" / "one").mkdir(parents=True)
    (root / "molecule" / "one" / "molecule.yml").write_text("---\n")
    shutil.copy(ROOT / "scripts" / "test.sh", root / "scripts" / "test.sh")
    scripts = {
        "setup-controller.sh": "exit 0",
        "install-docker-engine.sh": "exit 0",
        "install-browser.sh": "exit 0",
        "install-postgres-binaries.sh": "exit 0",
        # The instance images are there at once; the stack's images take longer, as on CI.
        "build-test-images.sh": f'[ "${{1:-}}" = --instances ] && exit 0\n{image_build}',
        "role_readmes.py": "",
    }
    for name, body in scripts.items():
        (root / "scripts" / name).write_text(body + "\n")
    venv_bin = root / ".venv" / "bin"
    venv_bin.mkdir(parents=True)
    for name in ("pytest", "molecule", "yamllint"):
        trap = "trap '' INT" if name == ignore_int else ""
        (venv_bin / name).write_text(RUNNING.format(trap=trap, pids=pids, name=name))
    for name in ("ansible-lint", "ruff"):
        (venv_bin / name).write_text("#!/bin/sh\nexit 0\n")
    (venv_bin / "python").symlink_to(shutil.which("python3"))
    for path in venv_bin.iterdir():
        path.chmod(0o755)
    return root


def _start(root: Path) -> subprocess.Popen:
    # The logs a stopped run leaves (for whoever looks into why) go to this test's own directory.
    env = {**os.environ, "PREFECT_STACK_SCENARIOS": "one", "TMPDIR": str(root.parent)}
    return subprocess.Popen(  # noqa: S603
        ["bash", str(root / "scripts" / "test.sh")],  # noqa: S607
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )


def _pids(pids: Path, names: tuple[str, ...], timeout: float = 60) -> list[int]:
    deadline = time.monotonic() + timeout
    while not all((pids / name).exists() for name in names):
        assert time.monotonic() < deadline, f"not all of {names} started: {os.listdir(pids)}"
        time.sleep(0.2)
    time.sleep(0.2)  # each file is written in one go; this leaves the write time to end
    return [int(pid) for name in names for pid in (pids / name).read_text().split()]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def _still_alive(pids: list[int], grace: float = 10) -> list[int]:
    """The pids still running ``grace`` seconds on: a SIGKILL takes effect on a busy machine a
    moment after the script that sent it ends."""
    deadline = time.monotonic() + grace
    while (alive := [pid for pid in pids if _alive(pid)]) and time.monotonic() < deadline:
        time.sleep(0.2)
    return alive


def _stop_leftovers(pids: list[int]) -> None:
    for pid in pids:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)


def test_a_failed_image_build_stops_pytest_and_its_children(tmp_path):
    broken = "sleep 3\necho 'the image build broke'\nexit 1"
    root = _tree(tmp_path, image_build=broken, ignore_int="")
    run = _start(root)
    pids = _pids(tmp_path / "pids", ("pytest",))
    try:
        output, _ = run.communicate(timeout=60)
        assert run.returncode == 1, output
        assert "set-up failed: Docker engine, then the test images" in output
        assert "the image build broke" in output
        assert "molecule scenarios" not in output
        assert _still_alive(pids) == [], output
    finally:
        run.kill()
        _stop_leftovers(pids)


def test_a_stopped_run_stops_pytest_the_scenarios_and_lint(tmp_path):
    # pytest's stand-in ignores SIGINT, as a process stuck in a C call would: it is killed.
    root = _tree(tmp_path, image_build="exit 0", ignore_int="pytest")
    run = _start(root)
    pids = _pids(tmp_path / "pids", ("pytest", "molecule", "yamllint"))
    try:
        assert run.poll() is None
        run.send_signal(signal.SIGTERM)
        output, _ = run.communicate(timeout=60)
        assert run.returncode == 143, output
        assert "stopping the set-up and tests still running" in output
        assert _still_alive(pids) == [], output
    finally:
        run.kill()
        _stop_leftovers(pids)
