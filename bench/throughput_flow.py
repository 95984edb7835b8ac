"""The tiny flow that ``bench/throughput_bench.py`` deploys (copied to a temp dir, run by workers).

It logs which worker ran it (the process worker passes its name in ``PREFECT__WORKER_NAME``), so
the benchmark can cross-check the ``prefect.worker.name`` label the worker puts on the flow run.
"""

from __future__ import annotations

import os
import time

from prefect import flow, get_run_logger

MARKER = "throughputbenchworker"


@flow(name="throughput-flow")
def throughput_flow(seconds: float = 1.0) -> str:
    worker = os.environ.get("PREFECT__WORKER_NAME", "unknown")
    get_run_logger().info("%s %s", MARKER, worker)
    time.sleep(seconds)
    return worker
