"""A flow the molecule verify step deploys and runs on the prefect-agent worker."""

from prefect import flow, get_run_logger


@flow(name="molecule-smoke")
def smoke(greeting: str = "hello") -> str:
    get_run_logger().info("%s from the prefect-agent worker", greeting)
    return greeting
