"""The shipped dataset is what its committed generator makes, and has the promised shape."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd

from flows._common import SAMPLE_DATASET, parse_dataset
from flows.data import make_news_sample


def test_shipped_sample_is_reproducible() -> None:
    result = subprocess.run(  # noqa: S603
        [sys.executable, str(make_news_sample.__file__), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert SAMPLE_DATASET.read_text(encoding="utf-8") == make_news_sample.to_csv(
        make_news_sample.generate()
    )


def test_shipped_sample_shape() -> None:
    frame = parse_dataset(SAMPLE_DATASET.read_bytes(), "the sample")

    assert len(frame) == 400
    counts = frame["label"].value_counts()
    assert set(counts.index) == {"FAKE", "REAL"}
    assert counts.min() >= 150  # roughly balanced
    assert (frame["title"].str.len() > 0).all() and (frame["text"].str.len() > 50).all()
    assert not frame.duplicated().any()


def test_generator_is_seeded() -> None:
    assert make_news_sample.generate(20, seed=1) == make_news_sample.generate(20, seed=1)
    assert make_news_sample.generate(20, seed=1) != make_news_sample.generate(20, seed=2)
    assert len(pd.DataFrame(make_news_sample.generate(4000))) == 4000
