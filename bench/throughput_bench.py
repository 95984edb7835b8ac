"""Benchmark: flow-run throughput with one worker host and with two, side by side in one run.

Starts one throwaway Prefect server (Postgres-backed, with basic auth: the same code as the
tests, ``tests/prefect_server_fixture.py``), creates a ``process`` work pool and a deployment of
a tiny flow (``bench/throughput_flow.py``, copied into a temp dir; it sleeps ``--seconds``), then
alternates two scenarios for ``--rounds`` rounds on that same server (A B A B ..., so drift of
the machine or of the database affects both):

* A, "1 worker": one ``prefect worker start --type process --name host-a --limit L``;
* B, "2 workers": two of them, ``host-a`` and ``host-b``, with the same per-worker limit.

In each round the workers are started and waited for (their first heartbeat), ``--runs`` flow
runs are created at once (all SCHEDULED for the same instant), the benchmark waits until every
run is finished (at most ``--timeout`` seconds), reads ``expected_start_time`` (scheduled),
``start_time`` (RUNNING) and ``end_time`` of each run, and stops the workers.

Printed per scenario, as min / median / max over the rounds: runs completed per minute
(runs / (last end - scheduled time)), p50 and p95 of start_time - expected_start_time in seconds,
and the p50 of that time split at the PENDING state (scheduled -> pending: a worker picked the
run up; pending -> running: its flow process started); per round, the 1-minute load average of
the machine before and after, and how many runs each worker ran (from the ``prefect.worker.name``
label the worker puts on the flow run, cross-checked with the flow's own log line naming its
worker); then the ratio of the throughputs, 2 workers / 1 worker. ``--json`` prints the figures
as JSON instead (progress lines go to stderr).

The "worker hosts" here are stand-ins: separate worker processes on this one machine, each with
its own ``PREFECT_HOME``, polling the same pool as two hosts would. They share this machine's
CPUs, so once the flow processes saturate the CPUs a second worker cannot double the throughput
here. The real multi-host proof (two worker VMs against one server) is the molecule ``default``
scenario. Not a timed test: run it by hand::

    .venv/bin/python bench/throughput_bench.py [--runs 20] [--rounds 2] [--limit 2] [--seconds 1]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from prefect_server_fixture import PrefectTestServer  # noqa: E402

VENV_BIN = REPO / ".venv" / "bin"
POOL = "throughput-pool"
FLOW_SOURCE = REPO / "bench" / "throughput_flow.py"
ENTRYPOINT = "throughput_flow.py:throughput_flow"
SCENARIOS = {"1 worker": ("host-a",), "2 workers": ("host-a", "host-b")}
FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
PAGE = 200  # the API's default (and maximum) page size for */filter
MARKER = "throughputbenchworker"  # = throughput_flow.MARKER (not imported: no prefect import here)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), q in [0, 100]."""
    data = sorted(values)
    if not data:
        return math.nan
    k = (len(data) - 1) * q / 100
    lo, hi = math.floor(k), math.ceil(k)
    return data[lo] + (data[hi] - data[lo]) * (k - lo)


def filter_all(server: PrefectTestServer, path: str, body: dict) -> list[dict]:
    """POST a */filter endpoint page by page."""
    out: list[dict] = []
    while True:
        page = server.api("POST", path, {**body, "limit": PAGE, "offset": len(out)}) or []
        out.extend(page)
        if len(page) < PAGE:
            return out


# -- worker processes ---------------------------------------------------------------------------
def descendants(pid: int) -> list[int]:
    """PIDs of the live descendants of ``pid`` (from /proc; the flow processes of a worker)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    out, stack = [], [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            out.append(child)
            stack.append(child)
    return out


class Worker:
    """One ``prefect worker start`` process: a stand-in for one worker host."""

    def __init__(self, server: PrefectTestServer, name: str, limit: int, workdir: Path):
        self.name = name
        home = workdir / f"home-{name}"
        home.mkdir(exist_ok=True)
        self.log_path = workdir / f"{name}.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
        env.update(
            PREFECT_HOME=str(home),
            PREFECT_API_URL=server.direct_api_url,
            PREFECT_API_AUTH_STRING=server.auth_string,
            PREFECT_WORKER_QUERY_SECONDS="2",
            PREFECT_SERVER_ANALYTICS_ENABLED="false",
        )
        self.started_at = datetime.now(timezone.utc)
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(  # noqa: S603
                [
                    str(VENV_BIN / "prefect"), "worker", "start", "--pool", POOL,
                    "--type", "process", "--name", name, "--limit", str(limit),
                ],
                env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM the worker (and its process group), then SIGKILL whatever it left behind."""
        if self.proc.poll() is not None:
            return
        spawned = descendants(self.proc.pid)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        for pid in spawned:  # flow processes that left the worker's process group, if any
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def wait_workers_ready(server: PrefectTestServer, workers: list[Worker], timeout: float) -> None:
    """Wait until every worker has sent a heartbeat since it was started (it is polling)."""
    deadline = time.monotonic() + timeout
    while True:
        seen = {
            w["name"]: parse_time(w.get("last_heartbeat_time"))
            for w in server.api("POST", f"/work_pools/{POOL}/workers/filter", {}) or []
        }
        pending = [w for w in workers if not seen.get(w.name) or seen[w.name] < w.started_at]
        if not pending:
            return
        for w in pending:
            if w.proc.poll() is not None:
                raise RuntimeError(f"worker {w.name} exited early:\n{w.log_tail()}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"workers not ready in {timeout}s: {[w.name for w in pending]}")
        time.sleep(0.5)


# -- one round of one scenario ------------------------------------------------------------------
def create_runs(server: PrefectTestServer, deployment_id: str, count: int) -> list[str]:
    when = datetime.now(timezone.utc).isoformat()
    state = {"type": "SCHEDULED", "state_details": {"scheduled_time": when}}
    return [
        server.api("POST", f"/deployments/{deployment_id}/create_flow_run", {"state": state})["id"]
        for _ in range(count)
    ]


def read_runs(server: PrefectTestServer, ids: list[str]) -> list[dict]:
    return filter_all(server, "/flow_runs/filter", {"flow_runs": {"id": {"any_": ids}}})


def wait_runs(server: PrefectTestServer, ids: list[str], workers: list[Worker], timeout: float):
    deadline = time.monotonic() + timeout
    while True:
        runs = read_runs(server, ids)
        if len(runs) == len(ids) and all(r["state_type"] in FINAL for r in runs):
            return runs, False
        dead = [w.name for w in workers if w.proc.poll() is not None]
        if dead or time.monotonic() > deadline:
            if dead:
                log(f"  worker(s) exited: {dead}")
            return runs, True
        time.sleep(1)


def pending_times(server: PrefectTestServer, runs: list[dict]) -> dict[str, datetime]:
    """flow run id -> when a worker picked it up (its PENDING state), from the state history."""
    out = {}
    for r in runs:
        states = server.api("GET", f"/flow_run_states/?flow_run_id={r['id']}") or []
        times = [parse_time(st["timestamp"]) for st in states if st["type"] == "PENDING"]
        if times:
            out[r["id"]] = min(times)
    return out


def log_workers(server: PrefectTestServer, ids: list[str]) -> dict[str, str]:
    """flow run id -> worker name, from the flow's own log line (see throughput_flow.py)."""
    body = {"logs": {"flow_run_id": {"any_": ids}, "text": {"query": MARKER}}}
    out = {}
    for entry in filter_all(server, "/logs/filter", body):
        words = entry["message"].split()
        if len(words) == 2 and words[0] == MARKER:
            out[entry["flow_run_id"]] = words[1]
    return out


def run_round(server, deployment_id, names, args, workdir: Path) -> dict:
    workers: list[Worker] = []
    ids: list[str] = []
    load_before = os.getloadavg()[0]
    try:
        for name in names:
            workers.append(Worker(server, name, args.limit, workdir))
        wait_workers_ready(server, workers, timeout=120)
        ids = create_runs(server, deployment_id, args.runs)
        runs, timed_out = wait_runs(server, ids, workers, args.timeout)
        if not timed_out:  # let the flow processes exit (and flush their logs to the API)
            deadline = time.monotonic() + 30
            while any(descendants(w.proc.pid) for w in workers) and time.monotonic() < deadline:
                time.sleep(0.5)
    finally:
        for w in workers:
            w.stop()
    if timed_out:  # do not let leftovers be picked up by the next round's workers
        for r in runs:
            if r["state_type"] not in FINAL:
                server.api("DELETE", f"/flow_runs/{r['id']}")
    res = summarize(runs, pending_times(server, runs), log_workers(server, ids), names, timed_out)
    res["runs"] = args.runs
    res["load_avg_1min"] = [load_before, os.getloadavg()[0]]
    return res


def summarize(runs: list[dict], pending: dict, by_log: dict, names, timed_out: bool) -> dict:
    done = [r for r in runs if r["state_type"] == "COMPLETED"]
    states: dict[str, int] = {}
    for r in runs:
        states[r["state_type"]] = states.get(r["state_type"], 0) + 1
    per_worker = {name: 0 for name in names}
    label_mismatch = 0
    for r in done:
        label = (r.get("labels") or {}).get("prefect.worker.name", "unlabelled")
        per_worker[label] = per_worker.get(label, 0) + 1
        label_mismatch += by_log.get(r["id"]) != label
    lags = [
        (parse_time(r["start_time"]) - parse_time(r["expected_start_time"])).total_seconds()
        for r in done
    ]
    pickup = [
        (pending[r["id"]] - parse_time(r["expected_start_time"])).total_seconds()
        for r in done
        if r["id"] in pending
    ]
    startup = [
        (parse_time(r["start_time"]) - pending[r["id"]]).total_seconds()
        for r in done
        if r["id"] in pending
    ]
    if done:
        first = min(parse_time(r["expected_start_time"]) for r in done)
        last = max(parse_time(r["end_time"]) for r in done)
        span = (last - first).total_seconds()
    else:
        span = math.nan
    return {
        "completed": len(done),
        "states": states,
        "timed_out": timed_out,
        "span_s": span,
        "runs_per_min": len(done) / span * 60 if done and span > 0 else 0.0,
        "p50_lag_s": percentile(lags, 50),
        "p95_lag_s": percentile(lags, 95),
        "max_lag_s": max(lags) if lags else math.nan,
        "p50_pickup_s": percentile(pickup, 50),
        "p50_startup_s": percentile(startup, 50),
        "per_worker": per_worker,
        "log_label_mismatches": label_mismatch,
    }


# -- report -------------------------------------------------------------------------------------
METRICS = (
    ("runs_per_min", "runs completed per minute", "{:8.1f}"),
    ("p50_lag_s", "p50 scheduled -> running (s)", "{:8.2f}"),
    ("p95_lag_s", "p95 scheduled -> running (s)", "{:8.2f}"),
    ("p50_pickup_s", "  p50 scheduled -> pending (s)", "{:8.2f}"),
    ("p50_startup_s", "  p50 pending -> running (s)", "{:8.2f}"),
)


def spread(values: list[float]) -> dict:
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


def figures(results: dict[str, list[dict]], args) -> dict:
    out: dict = {
        "settings": {
            "runs": args.runs, "rounds": args.rounds, "limit_per_worker": args.limit,
            "flow_seconds": args.seconds, "worker_query_seconds": 2,
        },
        "scenarios": {},
    }  # fmt: skip
    for scenario, rounds in results.items():
        out["scenarios"][scenario] = {
            "workers": list(SCENARIOS[scenario]),
            **{key: spread([r[key] for r in rounds]) for key, _, _ in METRICS},
            "rounds": rounds,
        }
    one, two = (results[s] for s in SCENARIOS)
    paired = [
        b["runs_per_min"] / a["runs_per_min"] if a["runs_per_min"] else math.nan
        for a, b in zip(one, two, strict=True)
    ]
    med_one = out["scenarios"]["1 worker"]["runs_per_min"]["median"]
    med_two = out["scenarios"]["2 workers"]["runs_per_min"]["median"]
    out["throughput_ratio_2_over_1"] = {
        "of_medians": med_two / med_one if med_one else math.nan,
        "per_round": paired,
    }
    return out


def no_nan(value):
    """NaN (no completed run) as null, so that ``--json`` prints valid JSON."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: no_nan(v) for k, v in value.items()}
    if isinstance(value, list):
        return [no_nan(v) for v in value]
    return value


def print_report(fig: dict) -> None:
    s = fig["settings"]
    print(f"== flow-run throughput: {s['runs']} runs of a {s['flow_seconds']:g} s flow per round, "
          f"{s['rounds']} round(s) per scenario, --limit {s['limit_per_worker']} per worker, "
          f"worker poll every {s['worker_query_seconds']} s ==")  # fmt: skip
    for scenario, data in fig["scenarios"].items():
        print(f"\n-- {scenario} ({', '.join(data['workers'])}) --")
        print(f"{'':32}{'min':>8}{'median':>8}{'max':>8}")
        for key, label, fmt in METRICS:
            row = "".join(fmt.format(data[key][k]) for k in ("min", "median", "max"))
            print(f"{label:32}{row}")
        for i, r in enumerate(data["rounds"], 1):
            share = ", ".join(f"{name} {n}" for name, n in r["per_worker"].items())
            note = "" if r["completed"] == r["runs"] else f"  states {r['states']}"
            note += "  TIMED OUT" if r["timed_out"] else ""
            note += "  load avg {:.1f} -> {:.1f}".format(*r["load_avg_1min"])
            check = "agree" if not r["log_label_mismatches"] else (
                f"{r['log_label_mismatches']} disagree"
            )  # fmt: skip
            print(f"round {i}: {r['completed']}/{r['runs']} completed in {r['span_s']:.1f} s; "
                  f"runs per worker: {share} (labels and flow logs {check}){note}")  # fmt: skip
    ratio = fig["throughput_ratio_2_over_1"]
    per_round = ", ".join(f"{x:.2f}" for x in ratio["per_round"])
    print(f"\nthroughput ratio 2 workers / 1 worker: {ratio['of_medians']:.2f}x of the medians "
          f"(per round: {per_round})")  # fmt: skip


# -- main ---------------------------------------------------------------------------------------
def setup(server: PrefectTestServer, code_dir: Path, seconds: float) -> str:
    shutil.copy(FLOW_SOURCE, code_dir / FLOW_SOURCE.name)
    server.api("POST", "/work_pools/", {"name": POOL, "type": "process"})
    flow = server.api("POST", "/flows/", {"name": "throughput-flow"})
    pull = [{"prefect.deployments.steps.set_working_directory": {"directory": str(code_dir)}}]
    deployment = server.api("POST", "/deployments/", {
        "name": "throughput", "flow_id": flow["id"], "work_pool_name": POOL,
        "entrypoint": ENTRYPOINT, "path": str(code_dir), "pull_steps": pull,
        "parameters": {"seconds": seconds}, "enforce_parameter_schema": False,
    })  # fmt: skip
    return deployment["id"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="flow runs per round")
    parser.add_argument("--rounds", type=int, default=2, help="rounds per scenario (A B A B)")
    parser.add_argument("--limit", type=int, default=2, help="--limit of each worker")
    parser.add_argument("--seconds", type=float, default=1.0, help="how long the flow sleeps")
    parser.add_argument("--timeout", type=float, default=600, help="max seconds per round")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    results: dict[str, list[dict]] = {scenario: [] for scenario in SCENARIOS}
    with PrefectTestServer(proxy=False) as server, tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        code_dir = workdir / "code"
        code_dir.mkdir()
        deployment_id = setup(server, code_dir, args.seconds)
        for r in range(args.rounds):
            for scenario, names in SCENARIOS.items():
                res = run_round(server, deployment_id, names, args, workdir)
                results[scenario].append(res)
                log(f"round {r + 1} {scenario:9}: {res['completed']}/{res['runs']} completed, "
                    f"{res['runs_per_min']:6.1f} runs/min, p50 {res['p50_lag_s']:5.2f} s, "
                    f"p95 {res['p95_lag_s']:5.2f} s, per worker {res['per_worker']}")  # fmt: skip
                if res["completed"] != res["runs"]:
                    tails = "\n".join(
                        f"--- {n}.log ---\n" + (workdir / f"{n}.log").read_text()[-3000:]
                        for n in names
                    )  # fmt: skip
                    log(f"not all runs completed: {res['states']}\n{tails}")
    fig = figures(results, args)
    if args.json:
        print(json.dumps(no_nan(fig), indent=2))
    else:
        print_report(fig)
    if any(r["completed"] != r["runs"] for rounds in results.values() for r in rounds):
        raise SystemExit("some flow runs did not complete")


if __name__ == "__main__":
    main()
