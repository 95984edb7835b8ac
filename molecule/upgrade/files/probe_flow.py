"""A flow the upgrade scenario runs on the prefect-agent worker before and after the upgrade."""

import prefect
from prefect import flow, get_run_logger


@flow(name="upgrade-probe")
def probe() -> str:
    get_run_logger().info("running on prefect %s", prefect.__version__)
    return prefect.__version__
