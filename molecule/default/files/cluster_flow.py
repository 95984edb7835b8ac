"""A flow the cluster scenario runs in batches: it logs the host it runs on, then sleeps."""

import socket
import time

from prefect import flow, get_run_logger


@flow(name="cluster-smoke")
def cluster_smoke(seconds: float = 1.0) -> str:
    host = socket.gethostname()
    get_run_logger().info("ran on %s", host)
    time.sleep(seconds)
    return host
