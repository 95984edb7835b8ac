"""Benchmark: how long a converge, a no-op ``site.yml`` and a no-op ``deploy_flows.yml`` take.

Creates the molecule ``default`` instance (or ``--scenario``), times ``molecule converge`` on the
fresh instance, then times ``--rounds`` no-op runs of ``site.yml`` and of ``deploy_flows.yml``
against it with molecule's own inventory and settings (each must report ``changed=0``), prints
min / median / max of each with the machine's load average, and destroys the instance unless
``--keep``. The five slowest tasks of the last no-op ``site.yml`` come from ``profile_tasks``.

``--existing`` times the no-op runs on an instance already converged (``molecule converge``),
without creating, converging or destroying it. ``--against REV`` also runs the playbooks and
roles of another commit (a temporary git worktree) against the same instance, in turn with this
checkout's (A B A B ...), and prints the ratio of the medians: the before and after of a change.
``--mitogen`` also runs this checkout under Mitogen (``ANSIBLE_STRATEGY=mitogen_linear``, the hosts'
connection given by its short name, which Mitogen needs), in turn with Ansible's own strategy.
Not a timed test: run it by hand on a machine with the test images built::

    .venv/bin/python bench/noop_bench.py [--rounds 3] [--keep] [--existing] [--against REV]
        [--mitogen] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = REPO / ".venv" / "bin"
MITOGEN = "this checkout, Mitogen"
RECAP = re.compile(r"^(\S+)\s*:\s*ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)
TASK_TIME = re.compile(r"^(.+?) -{3,}\s+(\d+\.\d+)s$", re.M)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def env() -> dict[str, str]:
    """This machine's environment, but with Python writing its bytecode caches: the venv is
    installed without them, and PYTHONDONTWRITEBYTECODE (set on some machines, CI's among them)
    would time the compiling of Ansible's sources on every run, which a controller does once."""
    run_env = {**os.environ, "PATH": f"{VENV_BIN}:{os.environ['PATH']}", "ANSIBLE_NOCOLOR": "1"}
    run_env.pop("PYTHONDONTWRITEBYTECODE", None)
    return run_env


def molecule(step: str, scenario: str) -> float:
    start = time.monotonic()
    subprocess.run(  # noqa: S603
        [str(VENV_BIN / "molecule"), step, "--scenario-name", scenario],
        cwd=REPO, env=env(), check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    return time.monotonic() - start


def ephemeral_dir(scenario: str) -> Path:
    """Molecule's working folder for the scenario: the newest one with an inventory."""
    found = sorted(
        Path.home().glob(f".ansible/tmp/molecule.*.{scenario}/inventory"),
        key=lambda p: p.stat().st_mtime,
    )
    if not found:
        raise SystemExit(f"no molecule inventory for scenario {scenario}: did create fail?")
    return found[-1].parent


def short_connection_names(folder: Path) -> Path:
    """An inventory over molecule's own that names each host's connection as Mitogen needs it
    (``docker``, not ``community.docker.docker``)."""
    listed = subprocess.run(  # noqa: S603
        [str(VENV_BIN / "ansible-inventory"), "-i", str(folder / "inventory"), "--list"],
        env=env(), capture_output=True, text=True, check=True,
    )  # fmt: skip
    hostvars = json.loads(listed.stdout)["_meta"]["hostvars"]
    hosts = sorted(
        h for h, v in hostvars.items() if v.get("ansible_connection", "").endswith(".docker")
    )
    if not hosts:
        raise SystemExit(f"no host connected by community.docker.docker in {folder}/inventory")
    overlay = folder / "mitogen_inventory.json"
    overlay.write_text(
        json.dumps({"all": {"hosts": dict.fromkeys(hosts, {"ansible_connection": "docker"})}})
    )
    return overlay


def noop_run(
    playbook: str, scenario: str, tree: Path = REPO, mitogen: bool = False
) -> tuple[float, str]:
    """One run of ``playbook`` from ``tree`` (this checkout or another commit's worktree),
    under Mitogen when asked."""
    folder = ephemeral_dir(scenario)
    run_env = {
        **env(),
        "ANSIBLE_CONFIG": str(folder / "ansible.cfg"),
        "ANSIBLE_ROLES_PATH": str(tree / "roles"),
        "ANSIBLE_LIBRARY": str(tree / "library"),
        "ANSIBLE_ACTION_PLUGINS": str(tree / "action_plugins"),
        "ANSIBLE_MODULE_UTILS": str(tree / "module_utils"),
        "ANSIBLE_STRATEGY_PLUGINS": str(REPO / "strategy_plugins"),
        "ANSIBLE_STRATEGY": "mitogen_linear" if mitogen else "linear",
    }
    inventories = ["-i", str(folder / "inventory")]
    if mitogen:
        inventories += ["-i", str(short_connection_names(folder))]
    start = time.monotonic()
    proc = subprocess.run(  # noqa: S603
        [str(VENV_BIN / "ansible-playbook"), *inventories, str(tree / playbook)],
        cwd=tree, env=run_env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    elapsed = time.monotonic() - start
    recaps = RECAP.findall(proc.stdout)
    changed = [(host, c) for host, c, u, f in recaps if c != "0" or u != "0" or f != "0"]
    if proc.returncode != 0 or not recaps or changed:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-30:])
        raise SystemExit(
            f"{playbook} was not a clean no-op (rc {proc.returncode}, {changed}):\n{tail}"
        )
    return elapsed, proc.stdout


def spread(values: list[float]) -> dict[str, float]:
    return {
        "min": round(min(values), 1),
        "median": round(statistics.median(values), 1),
        "max": round(max(values), 1),
    }


@contextlib.contextmanager
def worktree(rev: str):
    """A temporary checkout of ``rev``, removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="noop-bench-"))
    subprocess.run(  # noqa: S603
        ["git", "worktree", "add", "--detach", str(folder), rev],  # noqa: S607
        cwd=REPO, check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        yield folder
    finally:
        subprocess.run(  # noqa: S603
            ["git", "worktree", "remove", "--force", str(folder)],  # noqa: S607
            cwd=REPO, check=False,
        )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="default")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="leave the instance running")
    parser.add_argument("--existing", action="store_true", help="an instance already converged")
    parser.add_argument("--against", metavar="REV", help="also time this commit, in turn")
    parser.add_argument(
        "--mitogen", action="store_true", help="also time this checkout under Mitogen"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    figures: dict[str, object] = {"scenario": args.scenario, "load_before": os.getloadavg()[0]}
    try:
        if not args.existing:
            log("creating the instance")
            molecule("create", args.scenario)
            log("converging the fresh instance")
            figures["converge_s"] = round(molecule("converge", args.scenario), 1)
        with contextlib.ExitStack() as stack:
            # label -> (tree, under Mitogen)
            variants = {"this checkout": (REPO, False)}
            if args.against:
                variants[args.against] = (stack.enter_context(worktree(args.against)), False)
            if args.mitogen:
                variants[MITOGEN] = (REPO, True)
            times = {
                (label, pb): [] for label in variants for pb in ("site.yml", "deploy_flows.yml")
            }
            last_site = ""
            for round_no in range(1, args.rounds + 1):
                for (label, playbook), values in times.items():
                    elapsed, output = noop_run(playbook, args.scenario, *variants[label])
                    values.append(elapsed)
                    if playbook == "site.yml" and label == "this checkout":
                        last_site = output
                    log(f"round {round_no}: {label}: no-op {playbook} {elapsed:.1f} s")
        figures["noop_s"] = {f"{label}: {pb}": spread(v) for (label, pb), v in times.items()}
        # how many times longer the other variant takes than this checkout (or than Mitogen)
        ratios = [(args.against, "this checkout")] if args.against else []
        ratios += [("this checkout", MITOGEN)] if args.mitogen else []
        figures["ratio_of_medians"] = {
            f"{slow} / {fast}: {pb}": round(
                statistics.median(times[(slow, pb)]) / statistics.median(times[(fast, pb)]), 2
            )
            for slow, fast in ratios
            for pb in ("site.yml", "deploy_flows.yml")
        }
        figures["slowest_tasks"] = [
            f"{name.strip()} {seconds}s" for name, seconds in TASK_TIME.findall(last_site)[:5]
        ]
        figures["load_after"] = os.getloadavg()[0]
    finally:
        if not args.keep and not args.existing:
            log("destroying the instance")
            molecule("destroy", args.scenario)

    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(f"scenario {figures['scenario']}: load {figures['load_before']:.1f} before, "
          f"{figures['load_after']:.1f} after")  # fmt: skip
    if "converge_s" in figures:
        print(f"converge of the fresh instance: {figures['converge_s']} s")
    for name, values in figures["noop_s"].items():
        print(f"no-op {name}: min {values['min']} s, median {values['median']} s, "
              f"max {values['max']} s ({args.rounds} runs)")  # fmt: skip
    for name, ratio in figures["ratio_of_medians"].items():
        print(f"{name}: {ratio}x (medians)")
    print("slowest tasks of the last no-op site.yml:")
    for line in figures["slowest_tasks"]:
        print(f"  {line}")


if __name__ == "__main__":
    main()
