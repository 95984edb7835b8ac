"""Where a test run's CPU went, from the samples bench/ci_cpu_sampler.sh recorded.

Prints how busy the machine was in each 5-minute window, then CPU minutes by owner: each container
(the molecule instances, and the containers their own Docker engines run, named instance/name),
each host process tree (a ``molecule test`` with every ansible-playbook it waited for, pytest with
its servers, the Docker daemons) and what is left (set-up, lint, processes that are not sampled).
A container started again under the same id restarts its counter; that is counted as a new start.

    .venv/bin/python bench/ci_cpu_report.py /tmp/cpu.txt [--window 300]
"""

from __future__ import annotations

import argparse
import re
from collections import defaultdict


def parse(path: str):
    samples, names = [], {}
    for line in open(path, errors="replace"):  # noqa: SIM115 (one pass over a big file)
        kind, _, rest = line.rstrip("\n").partition(" ")
        parts = rest.split(" ")
        if kind == "T":
            ticks = [int(x) for x in parts[2:] if x]
            busy = ticks[0] + ticks[1] + ticks[2] + ticks[5] + ticks[6] + ticks[7]
            samples.append({"t": int(parts[0]), "busy": busy, "idle": ticks[3] + ticks[4],
                            "containers": {}, "procs": {}})  # fmt: skip
        elif kind == "C" and samples:
            samples[-1]["containers"][parts[0]] = int(parts[1])
        elif kind in ("N", "I"):
            names.setdefault(parts[0], parts[1])
        elif kind == "P" and samples:
            samples[-1]["procs"][parts[0]] = (parts[1], int(parts[2]), " ".join(parts[3:]))
    return samples, names


def container_name(cid: str, names: dict[str, str]) -> str:
    for prefix, name in names.items():
        if cid.startswith(prefix):
            return name
    return "container " + cid[:12]


def process_group(cmd: str) -> str | None:
    scenario = re.search(r"molecule test --scenario-name (\S+)", cmd)
    if scenario:
        return f"molecule {scenario.group(1)} (ansible on the host)"
    if re.search(r"/pytest\b", cmd):
        return "pytest (with its servers)"
    if re.match(r"(\S*/)?(dockerd|containerd)( |$)", cmd):
        return "Docker daemons"
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("samples")
    parser.add_argument("--window", type=int, default=300, help="seconds per busy-%% window")
    args = parser.parse_args()
    samples, names = parse(args.samples)
    if len(samples) < 2:
        raise SystemExit("fewer than two samples")
    t0 = samples[0]["t"]
    minutes = (samples[-1]["t"] - t0) / 60
    windows = defaultdict(lambda: [0, 0])
    for a, b in zip(samples, samples[1:], strict=False):
        window = windows[(a["t"] - t0) // args.window]
        window[0] += b["busy"] - a["busy"]
        window[1] += b["idle"] - a["idle"]
    total = (samples[-1]["busy"] - samples[0]["busy"]) / 100 / 60
    print(f"{len(samples)} samples over {minutes:.1f} min; the machine used {total:.1f} CPU-min")
    busy = [f"{100 * b / max(b + i, 1):.0f}" for b, i in (windows[k] for k in sorted(windows))]
    print(f"busy % per {args.window // 60} min: {' '.join(busy)}")

    owners: dict[str, float] = defaultdict(float)
    for a, b in zip(samples, samples[1:], strict=False):
        for cid, ns in b["containers"].items():
            if cid in a["containers"]:
                delta = ns - a["containers"][cid] if ns >= a["containers"][cid] else ns
                owners["container " + container_name(cid, names)] += delta / 1e9 / 60
    # A process tree's CPU: the largest own + waited-for children's time its top process showed.
    peak: dict[str, tuple[str, int, str]] = {}
    for sample in samples:
        for pid, (ppid, ticks, cmd) in sample["procs"].items():
            if ticks >= peak.get(pid, ("", -1, ""))[1]:
                peak[pid] = (ppid, ticks, cmd)
    for ppid, ticks, cmd in peak.values():
        group = process_group(cmd)
        parent = peak.get(ppid)
        if group and not (parent and process_group(parent[2]) == group):
            owners[group] += ticks / 100 / 60
    owners["the rest (set-up, lint, unsampled processes)"] = max(total - sum(owners.values()), 0)
    print("CPU-min by owner:")
    for owner, cpu in sorted(owners.items(), key=lambda item: -item[1]):
        if cpu >= 0.1:
            print(f"  {cpu:6.1f}  {100 * cpu / total:3.0f} %  {owner}")


if __name__ == "__main__":
    main()
