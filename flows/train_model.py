"""The `train-model` flow: hyper-parameter search for a text classifier, tracked in MLflow.

It reads the dataset that load-data stored, holds out a stratified test split, tries ``n_trials``
hyper-parameter sets of a scikit-learn pipeline (TF-IDF of title and text + logistic regression),
each scored by stratified k-fold cross-validation on the training split and logged to MLflow as a
nested run, refits the best one on the whole training split, reports accuracy and macro F1 on the
held-out split, logs the model and registers it under one name as a new version.

The alias (``champion``) moves to the new version only when it beats the current champion: both
are scored on this run's held-out split (macro F1), and a tie, or a champion that cannot be
scored, keeps the alias where it is, so a worse model never goes live by itself. The decision and
both scores are logged, tagged on the MLflow run and the version, and published as the markdown
artifact ``train-model-promotion``. ``force_promotion`` moves the alias whatever the scores.

The pipeline is plain scikit-learn (no custom code), so MLflow's scoring server
(``mlflow models serve -m models:/fake-news-classifier@champion``) can load it without this
package. Its input is a frame with the columns title and text; its output is the label.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
from prefect import flow, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger
from scipy.stats import loguniform
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import ParameterSampler, StratifiedKFold, cross_val_score
from sklearn.model_selection import train_test_split as split
from sklearn.pipeline import Pipeline

try:
    from flows._common import (
        DEFAULT_ALIAS,
        DEFAULT_DATA_STORE_BLOCK,
        DEFAULT_DATASET_PATH,
        DEFAULT_MODEL_NAME,
        FEATURE_COLUMNS,
        LABEL_COLUMN,
        FlowInputError,
        check_tracking_server,
        load_block,
        parse_dataset,
        read_from_store,
        resolve_tracking_uri,
        retry_unless_input_error,
    )
except ModuleNotFoundError:  # run from inside flows/ rather than from the project root
    from _common import (  # type: ignore[no-redef]
        DEFAULT_ALIAS,
        DEFAULT_DATA_STORE_BLOCK,
        DEFAULT_DATASET_PATH,
        DEFAULT_MODEL_NAME,
        FEATURE_COLUMNS,
        LABEL_COLUMN,
        FlowInputError,
        check_tracking_server,
        load_block,
        parse_dataset,
        read_from_store,
        resolve_tracking_uri,
        retry_unless_input_error,
    )

DEFAULT_EXPERIMENT = "fake-news"

# The hyper-parameters a trial draws (ParameterSampler: lists uniformly, distributions by rvs).
SEARCH_SPACE: dict[str, Any] = {
    "features__text__ngram_range": [(1, 1), (1, 2)],
    "features__text__min_df": [1, 2],
    "features__text__sublinear_tf": [True, False],
    "features__title__ngram_range": [(1, 1), (1, 2)],
    "classifier__C": loguniform(1e-2, 1e2),
    "classifier__class_weight": [None, "balanced"],
}


def build_pipeline(random_state: int = 42) -> Pipeline:
    """TF-IDF of title and of text side by side, then a logistic regression."""
    features = ColumnTransformer(
        [("title", TfidfVectorizer(), "title"), ("text", TfidfVectorizer(), "text")]
    )
    classifier = LogisticRegression(max_iter=2000, random_state=random_state)
    return Pipeline([("features", features), ("classifier", classifier)])


def _loggable(params: dict[str, Any]) -> dict[str, Any]:
    """Hyper-parameters as JSON-friendly values (floats rounded, tuples and None as text)."""
    loggable: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, bool):
            loggable[key] = bool(value)
        elif isinstance(value, float):
            loggable[key] = round(float(value), 6)
        elif isinstance(value, int):
            loggable[key] = int(value)
        else:
            loggable[key] = str(value)
    return loggable


@task(cache_policy=NO_CACHE)
def split_dataset(
    content: bytes, origin: str, test_size: float, cv_folds: int, random_state: int
) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series, pd.Series]:
    """Parse the stored CSV and split it into stratified train and held-out test parts."""
    frame = parse_dataset(content, origin)
    counts = frame[LABEL_COLUMN].value_counts()
    test_rows = int(np.ceil(len(frame) * test_size))
    if counts.min() < cv_folds + 2 or test_rows < counts.size:
        raise FlowInputError(
            f"The dataset {origin} is too small to train on: {len(frame)} rows, labels "
            f"{counts.to_dict()}; each label needs at least cv_folds + 2 = {cv_folds + 2} rows "
            f"and the test split (test_size={test_size}) at least one row per label"
        )
    x_train, x_test, y_train, y_test = split(
        frame[list(FEATURE_COLUMNS)],
        frame[LABEL_COLUMN],
        test_size=test_size,
        stratify=frame[LABEL_COLUMN],
        random_state=random_state,
    )
    if y_train.value_counts().min() < cv_folds:
        raise FlowInputError(
            f"The training split of {origin} has fewer than cv_folds={cv_folds} rows of a label"
        )
    get_run_logger().info(
        "Split %s: %d training rows, %d test rows", origin, len(x_train), len(x_test)
    )
    return x_train, x_test, y_train, y_test


@task(cache_policy=NO_CACHE)
def search_hyperparameters(
    x_train: pd.DataFrame,
    y_train: pd.Series,
    n_trials: int,
    cv_folds: int,
    random_state: int,
) -> list[dict[str, Any]]:
    """Score ``n_trials`` sampled hyper-parameter sets by cross-validated macro F1.

    Each trial is logged as a nested MLflow run of the active run.
    """
    import mlflow

    logger = get_run_logger()
    folds = StratifiedKFold(n_splits=cv_folds, shuffle=True, random_state=random_state)
    sampler = ParameterSampler(SEARCH_SPACE, n_iter=n_trials, random_state=random_state)
    trials = []
    for number, params in enumerate(sampler):
        pipeline = build_pipeline(random_state).set_params(**params)
        started = time.perf_counter()
        scores = cross_val_score(pipeline, x_train, y_train, cv=folds, scoring="f1_macro", n_jobs=1)
        seconds = time.perf_counter() - started
        trial = {
            "trial": number,
            "params": params,
            "cv_f1_macro": float(scores.mean()),
            "cv_f1_macro_std": float(scores.std()),
            "seconds": seconds,
        }
        with mlflow.start_run(run_name=f"trial-{number}", nested=True):
            mlflow.log_params(_loggable(params))
            mlflow.log_metrics(
                {
                    "cv_f1_macro": trial["cv_f1_macro"],
                    "cv_f1_macro_std": trial["cv_f1_macro_std"],
                    "fit_seconds": seconds,
                }
            )
        logger.info(
            "Trial %d/%d: cv macro F1 %.3f ± %.3f (%.1fs) with %s",
            number + 1,
            n_trials,
            trial["cv_f1_macro"],
            trial["cv_f1_macro_std"],
            seconds,
            _loggable(params),
        )
        trials.append(trial)
    return trials


@task(cache_policy=NO_CACHE)
def fit_and_evaluate(
    params: dict[str, Any],
    x_train: pd.DataFrame,
    y_train: pd.Series,
    x_test: pd.DataFrame,
    y_test: pd.Series,
    random_state: int,
) -> tuple[Pipeline, dict[str, float]]:
    """Refit the best pipeline on the whole training split and score it on the held-out split."""
    pipeline = build_pipeline(random_state).set_params(**params)
    pipeline.fit(x_train, y_train)
    predicted = pipeline.predict(x_test)
    metrics = {
        "test_accuracy": float(accuracy_score(y_test, predicted)),
        "test_f1_macro": float(f1_score(y_test, predicted, average="macro")),
    }
    get_run_logger().info(
        "Held-out split (%d rows): accuracy %.3f, macro F1 %.3f",
        len(y_test),
        metrics["test_accuracy"],
        metrics["test_f1_macro"],
    )
    return pipeline, metrics


@task(
    retries=2,
    retry_delay_seconds=[5, 15],
    retry_condition_fn=retry_unless_input_error,
    cache_policy=NO_CACHE,
)
def log_and_register(
    pipeline: Pipeline, x_sample: pd.DataFrame, registered_model_name: str
) -> dict[str, Any]:
    """Log the model to the active MLflow run and register it as a new version (no alias)."""
    import mlflow
    from mlflow.models import infer_signature

    signature = infer_signature(x_sample, pipeline.predict(x_sample))
    info = mlflow.sklearn.log_model(
        pipeline, name="model", signature=signature, input_example=x_sample.head(2)
    )
    version = mlflow.register_model(info.model_uri, registered_model_name)
    get_run_logger().info("Registered %s version %s", registered_model_name, version.version)
    return {"model_uri": info.model_uri, "version": str(version.version)}


def current_champion(tracking_uri: str, registered_model_name: str, alias: str) -> str | None:
    """The version the alias points at, or None when the model or the alias does not exist."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    try:
        return str(client.get_model_version_by_alias(registered_model_name, alias).version)
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            return None
        if exc.error_code != "PERMISSION_DENIED":
            raise
    # MLflow's basic-auth app answers 403 to a user who is not an admin when the registered model
    # does not exist yet (its permission lookup finds no model). The search lists the models the
    # user may read: the name missing there means no champion to beat; registering then creates
    # the model, or fails if the user may not.
    quoted = registered_model_name.replace("\\", "\\\\").replace("'", "\\'")
    found = client.search_registered_models(filter_string=f"name = '{quoted}'")
    if any(model.name == registered_model_name for model in found):
        raise PermissionError(
            f"The MLflow user may not read the alias {alias!r} of {registered_model_name!r}"
        )
    return None


@task(cache_policy=NO_CACHE)
def score_version(
    registered_model_name: str, version: str, x_test: pd.DataFrame, y_test: pd.Series
) -> float:
    """Macro F1 of a registered version on this run's held-out split."""
    import mlflow

    model = mlflow.pyfunc.load_model(f"models:/{registered_model_name}/{version}")
    predicted = np.asarray(model.predict(x_test)).ravel()
    return float(f1_score(y_test, predicted, average="macro"))


def decide_promotion(
    new_version: str,
    new_score: float,
    champion: str | None,
    champion_score: float | None,
    champion_error: str | None,
    forced: bool,
) -> tuple[bool, str]:
    """Whether the alias moves to ``new_version``, and why (one sentence)."""
    ours = f"v{new_version} scores {new_score:.4f}"
    if champion is None:
        return True, f"{ours} and there is no champion yet: promoted"
    if forced:
        theirs = "unscored" if champion_score is None else f"{champion_score:.4f}"
        return True, f"{ours}, champion v{champion} {theirs}: promoted (forced)"
    if champion_error is not None:
        return False, (
            f"{ours}; champion v{champion} could not be scored on this split "
            f"({champion_error}): champion kept"
        )
    assert champion_score is not None
    if new_score > champion_score:
        return True, f"{ours}, champion v{champion} {champion_score:.4f}: promoted"
    return False, f"{ours}, champion v{champion} {champion_score:.4f}: not better, champion kept"


@task(
    retries=2,
    retry_delay_seconds=[5, 15],
    retry_condition_fn=retry_unless_input_error,
    cache_policy=NO_CACHE,
)
def set_alias(tracking_uri: str, registered_model_name: str, alias: str, version: str) -> None:
    from mlflow.tracking import MlflowClient

    MlflowClient(tracking_uri=tracking_uri).set_registered_model_alias(
        registered_model_name, alias, version
    )


@flow(name="train-model")
def train_model(
    n_trials: int = 10,
    data_store_block: str = DEFAULT_DATA_STORE_BLOCK,
    dataset_path: str = DEFAULT_DATASET_PATH,
    tracking_uri: str | None = None,
    experiment_name: str = DEFAULT_EXPERIMENT,
    registered_model_name: str = DEFAULT_MODEL_NAME,
    alias: str = DEFAULT_ALIAS,
    test_size: float = 0.2,
    cv_folds: int = 3,
    random_state: int = 42,
    force_promotion: bool = False,
) -> dict[str, Any]:
    """Train, compare and register a fake-news classifier; promote it only when it is better.

    Args:
        n_trials: number of hyper-parameter sets to try (random search).
        data_store_block: slug of the file-system block load-data stored the dataset in.
        dataset_path: path of the dataset inside the data store.
        tracking_uri: MLflow tracking URI; empty: the MLFLOW_TRACKING_URI environment variable.
        experiment_name: MLflow experiment of the runs (created when missing).
        registered_model_name: name the best model is registered under.
        alias: registry alias of the served version (send-requests serves `@champion`); it moves
            to the new version only when that beats the current one on the held-out split.
        test_size: share of rows held out for the final accuracy and F1.
        cv_folds: folds of the cross-validation that scores each trial.
        random_state: seed of the split, the folds and the search.
        force_promotion: move the alias to the new version whatever the scores.
    """
    import mlflow

    logger = get_run_logger()
    if n_trials < 1:
        raise FlowInputError(f"n_trials must be at least 1 (got {n_trials})")
    if not 0 < test_size < 1:
        raise FlowInputError(f"test_size must be between 0 and 1 (got {test_size})")
    if cv_folds < 2:
        raise FlowInputError(f"cv_folds must be at least 2 (got {cv_folds})")
    uri = resolve_tracking_uri(tracking_uri)
    check_tracking_server(uri)
    store = load_block(data_store_block, "the data store")
    content = read_from_store(store, data_store_block, dataset_path)
    origin = f"{dataset_path!r} in {data_store_block!r}"
    x_train, x_test, y_train, y_test = split_dataset(
        content, origin, test_size, cv_folds, random_state
    )

    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment(experiment_name)
    started = time.perf_counter()
    with mlflow.start_run(run_name="train-model") as run:
        from prefect.runtime import flow_run

        mlflow.set_tags({"prefect.flow_run_id": str(flow_run.id), "dataset": origin})
        mlflow.log_params(
            {
                "n_trials": n_trials,
                "cv_folds": cv_folds,
                "test_size": test_size,
                "random_state": random_state,
                "train_rows": len(x_train),
                "test_rows": len(x_test),
            }
        )
        trials = search_hyperparameters(x_train, y_train, n_trials, cv_folds, random_state)
        best = max(trials, key=lambda trial: trial["cv_f1_macro"])
        logger.info("Best trial: %d (cv macro F1 %.3f)", best["trial"], best["cv_f1_macro"])
        pipeline, metrics = fit_and_evaluate(
            best["params"], x_train, y_train, x_test, y_test, random_state
        )
        mlflow.log_params({f"best__{k}": v for k, v in _loggable(best["params"]).items()})
        mlflow.log_metrics({**metrics, "best_cv_f1_macro": best["cv_f1_macro"]})
        champion = current_champion(uri, registered_model_name, alias)
        registered = log_and_register(pipeline, x_test.head(5), registered_model_name)
        champion_score = champion_error = None
        if champion is not None:
            try:
                champion_score = score_version(registered_model_name, champion, x_test, y_test)
            except Exception as exc:  # noqa: BLE001 - any failure keeps the champion
                champion_error = f"{type(exc).__name__}: {exc}"[:300]
        promoted, reason = decide_promotion(
            registered["version"],
            metrics["test_f1_macro"],
            champion,
            champion_score,
            champion_error,
            force_promotion,
        )
        if promoted:
            set_alias(uri, registered_model_name, alias, registered["version"])
        decision = "promoted" if promoted else "kept"
        mlflow.set_tags({"promotion.decision": decision, "promotion.reason": reason})
        if champion_score is not None:
            mlflow.log_metric("champion_test_f1_macro", champion_score)
        logger.info("Promotion of %s@%s: %s", registered_model_name, alias, reason)
    seconds = time.perf_counter() - started
    serving = registered["version"] if promoted else champion

    create_markdown_artifact(
        key="train-model-promotion",
        markdown=(
            f"### {registered_model_name}@{alias}: {decision}\n\n{reason}.\n\n"
            f"| | version | held-out macro F1 |\n| --- | --- | --- |\n"
            f"| new | {registered['version']} | {metrics['test_f1_macro']:.4f} |\n"
            f"| champion before | {champion or '-'} | "
            f"{'-' if champion_score is None else format(champion_score, '.4f')} |\n"
        ),
        description=f"{registered_model_name}@{alias} now points at v{serving}",
    )

    create_table_artifact(
        key="train-model-trials",
        table=[
            {
                "trial": trial["trial"],
                "cv_f1_macro": round(trial["cv_f1_macro"], 4),
                **_loggable(trial["params"]),
            }
            for trial in trials
        ],
        description=(
            f"Trials of train-model; best trial {best['trial']} registered as "
            f"{registered_model_name} v{registered['version']} ({decision}): held-out accuracy "
            f"{metrics['test_accuracy']:.3f}, macro F1 {metrics['test_f1_macro']:.3f}"
        ),
    )
    return {
        "run_id": run.info.run_id,
        "registered_model_name": registered_model_name,
        "version": registered["version"],
        "alias": alias,
        "promoted": promoted,
        "promotion_reason": reason,
        "champion_version": serving,
        "previous_champion_version": champion,
        "previous_champion_f1_macro": champion_score,
        "best_params": _loggable(best["params"]),
        "best_cv_f1_macro": best["cv_f1_macro"],
        **metrics,
        "train_rows": len(x_train),
        "test_rows": len(x_test),
        "seconds": seconds,
        "search_seconds": sum(trial["seconds"] for trial in trials),
    }


if __name__ == "__main__":
    train_model()
