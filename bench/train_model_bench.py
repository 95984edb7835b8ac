"""Training time and peak memory of the train-model flow, on the shipped dataset and a 10x one.

    .venv/bin/python bench/train_model_bench.py [--trials 10] [--scales 1 10]

Each size runs in a fresh Python process (so one size's memory does not hide the next) that starts
Prefect's test harness (a temporary Prefect server in its own process), saves a LocalFileSystem
data-store block holding the dataset, and runs the real `train-model` flow against a temporary
SQLite MLflow store: the same code as on a worker, minus the network. Scale 1 is the shipped
sample (400 rows); scale N is N x 400 rows made by the same generator with another seed.

Printed per size: rows, the flow's wall time, the time of its MLflow run (search + refit + model
logging), the time of the cross-validated search alone (the scikit-learn fits), held-out
accuracy, the flow process's peak resident memory (ru_maxrss) before and after the flow ran
(modules the flow imports lazily are imported before "before", so the difference is what training
added), and, from a second run of the same size under tracemalloc, the peak of the Python heap
(numpy/scipy arrays included) during the flow. The Prefect server's memory is not
included (it is another process).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def measure(scale: int, trials: int, trace: bool) -> dict:
    """Run train-model once in this process; return the figures.

    With ``trace``, tracemalloc records the peak of the Python heap (numpy and scipy arrays
    included) during the flow; it slows the run, so the timing run is a separate process.
    """
    sys.path.insert(0, str(REPO_ROOT))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "true")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    # Import what the flow imports lazily, so that the memory before/after compares training,
    # not module loading.
    import mlflow.pyfunc  # noqa: F401
    import mlflow.sklearn  # noqa: F401
    import skops.io  # noqa: F401
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore  # noqa: F401
    from prefect.filesystems import LocalFileSystem
    from prefect.testing.utilities import prefect_test_harness

    from flows._common import SAMPLE_DATASET
    from flows.data.make_news_sample import DEFAULT_ROWS, generate, to_csv
    from flows.train_model import train_model

    with tempfile.TemporaryDirectory(prefix="train-model-bench-") as tmp:
        root = Path(tmp)
        dataset = root / "store" / "news" / "dataset.csv"
        dataset.parent.mkdir(parents=True)
        if scale == 1:
            dataset.write_bytes(SAMPLE_DATASET.read_bytes())
        else:
            dataset.write_text(to_csv(generate(DEFAULT_ROWS * scale, seed=1000 + scale)))
        os.chdir(root)  # MLflow's local artifacts (./mlruns) go to the temporary directory
        with prefect_test_harness(server_startup_timeout=120):
            LocalFileSystem(basepath=str(root / "store")).save("ml-data", overwrite=True)
            rss_before_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            if trace:
                tracemalloc.start()
            started = time.perf_counter()
            result = train_model(n_trials=trials, tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
            flow_seconds = time.perf_counter() - started
            if trace:
                traced_peak_mb = tracemalloc.get_traced_memory()[1] / 2**20
                tracemalloc.stop()
                return {"traced_peak_mb": round(traced_peak_mb, 1)}
            rss_after_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "scale": scale,
        "rows": result["train_rows"] + result["test_rows"],
        "trials": trials,
        "flow_seconds": round(flow_seconds, 2),
        "mlflow_run_seconds": round(result["seconds"], 2),
        "cv_search_seconds": round(result["search_seconds"], 2),
        "test_accuracy": round(result["test_accuracy"], 3),
        "peak_rss_before_mb": round(rss_before_mb, 1),
        "peak_rss_after_mb": round(rss_after_mb, 1),
        "training_added_mb": round(rss_after_mb - rss_before_mb, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description="Benchmark the train-model flow.")
    parser.add_argument("--trials", type=int, default=10, help="n_trials of train-model")
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 10])
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # internal: measure one size
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)  # internal
    args = parser.parse_args()

    if args.one is not None:
        print("RESULT " + json.dumps(measure(args.one, args.trials, args.trace)))
        return 0

    results = []
    for scale in args.scales:
        result: dict = {}
        for trace in (False, True):
            command = [sys.executable, __file__, "--one", str(scale), "--trials", str(args.trials)]
            done = subprocess.run(  # noqa: S603
                command + ["--trace"] * trace, capture_output=True, text=True, check=False
            )
            lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
            if done.returncode != 0 or not lines:
                print(done.stdout[-3000:], done.stderr[-3000:], sep="\n", file=sys.stderr)
                print(f"scale {scale}: the benchmark run failed", file=sys.stderr)
                return 1
            result.update(json.loads(lines[-1].removeprefix("RESULT ")))
        results.append(result)

    columns = list(results[0])
    print(" | ".join(columns))
    for result in results:
        print(" | ".join(str(result[column]) for column in columns))
    if len(results) > 1:
        first, last = results[0], results[-1]
        print(
            f"x{last['rows'] / first['rows']:.0f} rows: "
            f"x{last['mlflow_run_seconds'] / first['mlflow_run_seconds']:.1f} MLflow run time, "
            f"x{last['cv_search_seconds'] / first['cv_search_seconds']:.1f} search time, "
            f"x{last['peak_rss_after_mb'] / first['peak_rss_after_mb']:.2f} peak RSS, "
            f"x{last['traced_peak_mb'] / first['traced_peak_mb']:.1f} traced peak heap"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
