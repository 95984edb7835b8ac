"""load-data against a real Prefect API, a real LocalFileSystem block and a real HTTP server."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from flows._common import SAMPLE_DATASET
from flows.data.make_news_sample import generate, to_csv
from flows.load_data import load_data
from flows.tests.helpers import failure_message

SMALL_CSV = to_csv(generate(40, seed=7)).encode()


def stored(data_store: Path, path: str = "news/dataset.csv") -> pd.DataFrame:
    return pd.read_csv(data_store / path, dtype=str, keep_default_na=False)


def test_default_run_stores_the_shipped_sample(data_store: Path) -> None:
    summary = load_data()

    frame = stored(data_store)
    shipped = pd.read_csv(SAMPLE_DATASET, dtype=str, keep_default_na=False)
    assert list(frame.columns) == ["title", "text", "label"]
    assert len(frame) == len(shipped) == summary["rows"] == 400
    assert set(frame["label"]) == {"FAKE", "REAL"}
    pd.testing.assert_frame_equal(frame, shipped)
    assert summary["stored_at"] == str(data_store / "news" / "dataset.csv")


def test_the_dataset_is_replaced_whole(data_store: Path, tmp_path: Path) -> None:
    """A reader that opened the old dataset keeps reading it whole: the new one is renamed in."""
    load_data()
    target = data_store / "news" / "dataset.csv"
    first = target.read_bytes()
    source = tmp_path / "small.csv"
    source.write_bytes(SMALL_CSV)

    with target.open("rb") as reader:
        reader.read(10)
        assert load_data(source=str(source))["rows"] == 40
        # A rewrite in place would have truncated the file under this reader.
        assert first[:10] + reader.read() == first
    assert len(stored(data_store)) == 40
    assert sorted(p.name for p in target.parent.iterdir()) == ["dataset.csv"]


def test_http_source_is_downloaded_and_stored(data_store: Path, http_server) -> None:
    http_server.routes["/news.csv"] = lambda handler: (200, SMALL_CSV)

    summary = load_data(source=f"{http_server.url}/news.csv", dataset_path="raw/news.csv")

    assert summary["rows"] == 40
    assert stored(data_store, "raw/news.csv")["title"].tolist() == [
        row["title"] for row in generate(40, seed=7)
    ]


def test_http_server_error_is_retried(data_store: Path, http_server) -> None:
    answers = iter([(503, b"busy"), (200, SMALL_CSV)])
    http_server.routes["/flaky.csv"] = lambda handler: next(answers)

    summary = load_data(source=f"{http_server.url}/flaky.csv")

    assert http_server.count("/flaky.csv") == 2
    assert summary["rows"] == 40


def test_http_not_found_fails_clearly_without_retrying(data_store: Path, http_server) -> None:
    state = load_data(source=f"{http_server.url}/missing.csv", return_state=True)

    message = failure_message(state)
    assert "Could not download" in message and "HTTP 404" in message
    assert http_server.count("/missing.csv") == 1
    assert not (data_store / "news" / "dataset.csv").exists()


def test_local_path_and_file_url_sources(data_store: Path, tmp_path: Path) -> None:
    source = tmp_path / "mine.csv"
    # Extra columns are dropped, header case and spaces are forgiven, unlabelled rows are skipped.
    frame = pd.DataFrame(generate(30, seed=3))
    frame["extra"] = "x"
    frame.loc[0, "label"] = ""
    frame.rename(columns={"title": " Title "}).to_csv(source, index=False)

    assert load_data(source=str(source))["rows"] == 29
    assert list(stored(data_store).columns) == ["title", "text", "label"]
    assert load_data(source=source.as_uri(), dataset_path="b.csv")["rows"] == 29


def test_bad_columns_fail_clearly(data_store: Path, tmp_path: Path) -> None:
    source = tmp_path / "bad.csv"
    source.write_text("headline,body,label\nA,B,FAKE\nC,D,REAL\n")

    state = load_data(source=str(source), return_state=True)

    message = failure_message(state)
    assert "lacks the column(s) title, text" in message
    assert "found: headline, body, label" in message
    assert not (data_store / "news" / "dataset.csv").exists()


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "is empty"),
        (b"title,text,label\nA,B,FAKE\nC,D,FAKE\n", "single label ('FAKE')"),
        (b'title,text,label\n"A,B,FAKE\n', "not a readable CSV file"),
    ],
)
def test_unusable_files_fail_clearly(
    data_store: Path, tmp_path: Path, content: bytes, expected: str
) -> None:
    source = tmp_path / "data.csv"
    source.write_bytes(content)

    assert expected in failure_message(load_data(source=str(source), return_state=True))


def test_missing_data_store_block_fails_clearly(data_store: Path) -> None:
    state = load_data(data_store_block="local-file-system/no-such-store", return_state=True)

    message = failure_message(state)
    assert (
        "The Prefect block 'local-file-system/no-such-store' (the data store) does not exist"
        in message
    )


def test_malformed_block_slug_fails_clearly(data_store: Path) -> None:
    state = load_data(data_store_block="ml-data", return_state=True)

    assert "is not a Prefect block slug" in failure_message(state)


def test_gs_source_without_gcs_block_fails_clearly(data_store: Path) -> None:
    state = load_data(source="gs://bucket/news.csv", return_state=True)

    message = failure_message(state)
    assert "'gcs-bucket/ml-data-gcs'" in message and "does not exist" in message


@pytest.mark.parametrize(
    ("source", "expected"),
    [("s3://bucket/news.csv", "Unsupported source"), ("no/such/file.csv", "does not exist")],
)
def test_bad_sources_fail_clearly(data_store: Path, source: str, expected: str) -> None:
    assert expected in failure_message(load_data(source=source, return_state=True))
