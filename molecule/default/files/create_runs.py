"""Create COUNT runs of a deployment at once (one thread each) and print their ids as JSON.

Usage: create_runs.py API_URL DEPLOYMENT_ID COUNT SECONDS; the Authorization header comes from the
environment (PREFECT_STACK_AUTH_HEADER), not the command line, where any local user could read it.
"""

import json
import os
import sys
import urllib.request
from concurrent.futures import ThreadPoolExecutor


def create(api: str, deployment_id: str, seconds: int) -> str:
    if not api.startswith("https://"):
        raise SystemExit(f"not an https URL: {api}")
    request = urllib.request.Request(  # noqa: S310 (https only, checked above)
        f"{api}/deployments/{deployment_id}/create_flow_run",
        data=json.dumps({"parameters": {"seconds": seconds}}).encode(),
        headers={
            "Authorization": os.environ["PREFECT_STACK_AUTH_HEADER"],
            "Content-Type": "application/json",
        },
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310 (https only)
        return json.load(response)["id"]


def main() -> None:
    api, deployment_id = sys.argv[1], sys.argv[2]
    count, seconds = int(sys.argv[3]), int(sys.argv[4])
    with ThreadPoolExecutor(max_workers=count) as pool:
        ids = list(pool.map(lambda _: create(api, deployment_id, seconds), range(count)))
    print(json.dumps(ids))


if __name__ == "__main__":
    main()
