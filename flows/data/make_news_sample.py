"""Generate the small labelled news dataset that the flows ship (``news_sample.csv``).

The project cannot download a public data set at run time (the VM may be offline), so it ships a
synthetic one that this script made. Every row is a short news item with three columns:

* ``title``: a headline,
* ``text``: the body, three to six sentences,
* ``label``: ``FAKE`` or ``REAL`` (the same labels as the well-known "fake or real news" file).

REAL items are written in a sober wire-service style, FAKE items in a sensational one, but both
draw most of their sentences from a shared pool of neutral topical sentences, some items borrow the
other class's style, and a few labels are flipped on purpose. A TF-IDF + linear model therefore
learns something real from the words (about 0.8-0.9 accuracy) without a perfect score.

The output is deterministic (``random.Random(seed)``), so the committed CSV can be checked with:

    python flows/data/make_news_sample.py --check

and regenerated with ``python flows/data/make_news_sample.py``. The benchmark uses
:func:`generate` to make a 10x larger file with the same distribution.
"""

from __future__ import annotations

import argparse
import csv
import io
import random
import sys
from pathlib import Path

DEFAULT_ROWS = 400
DEFAULT_SEED = 20240601
SAMPLE_PATH = Path(__file__).resolve().parent / "news_sample.csv"

# Share of sentences that carry the class's own style, chance that an item borrows the other
# class's style instead, and share of labels flipped on purpose.
STYLE_SHARE = 0.35
CROSS_STYLE = 0.08
LABEL_NOISE = 0.05

TOPICS = {
    "economy": ["inflation", "the central bank", "interest rates", "unemployment", "exports"],
    "health": ["the new vaccine", "hospital waiting times", "the flu season", "a hospital trust"],
    "science": ["the space agency", "a research team", "the climate study", "a new telescope"],
    "politics": ["the senate", "the prime minister", "the city council", "the election board"],
    "technology": ["the chip maker", "a social network", "the data centre", "electric cars"],
    "sport": ["the national team", "the league", "the marathon", "the football club"],
}
PLACES = ["Lisbon", "Ohio", "Manila", "Nairobi", "Oslo", "Texas", "Lyon", "Quebec", "Perth"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]
NUMBERS = ["2", "3.5", "7", "12", "18", "25", "40", "61"]

NEUTRAL = [
    "{subject} has been discussed widely in {place} this week.",
    "The debate about {subject} is expected to continue next month.",
    "Residents of {place} have mixed views about {subject}.",
    "{subject} was also mentioned during a press conference on {day}.",
    "Several groups have commented on {subject} in recent days.",
    "Questions about {subject} remain open, observers noted.",
    "Local media in {place} covered {subject} on {day}.",
    "The issue of {subject} affects many people in {place}.",
    "More details about {subject} are expected later this year.",
]
REAL_STYLE = [
    "Officials in {place} said on {day} that {subject} had changed by {number} percent.",
    "According to a report published on {day}, {subject} rose by {number} percent.",
    "A spokesperson confirmed the figures but declined to comment further.",
    "The agency said the data would be reviewed by independent analysts.",
    "The ministry released the full statistics on its website.",
    "Researchers cautioned that the results are preliminary and need further study.",
    "The committee will publish its findings in a peer-reviewed journal.",
    "Analysts said the change was in line with earlier forecasts.",
]
FAKE_STYLE = [
    "Insiders reveal that {subject} is secretly controlled by a hidden elite!",
    "What the mainstream media won't tell you about {subject} will shock you.",
    "Share this before it gets deleted: the truth about {subject} is finally out!",
    "Doctors hate this one simple trick linked to {subject}.",
    "Anonymous sources claim {subject} was a hoax all along.",
    "They are hiding the real numbers about {subject}, wake up!",
    "This miracle cure makes {subject} irrelevant, experts are furious.",
    "Millions are outraged after the shocking cover-up of {subject} in {place}.",
]
REAL_TITLES = [
    "{Subject} changes by {number} percent, officials say",
    "Report: {subject} in {place} shows steady trend",
    "{Subject} under review after {day} statement",
    "Analysts assess {subject} ahead of new figures",
]
FAKE_TITLES = [
    "SHOCKING: the truth about {subject} they don't want you to know",
    "You won't believe what happened with {subject}!!!",
    "EXPOSED: {subject} cover-up in {place}",
    "BREAKING: {subject} secret finally revealed",
]
NEUTRAL_TITLES = [
    "{Subject} in the news in {place}",
    "Update on {subject}",
    "{Subject}: what we know on {day}",
]


def _fill(rng: random.Random, template: str, subject: str) -> str:
    text = template.format(
        subject=subject,
        Subject=subject[:1].upper() + subject[1:],
        place=rng.choice(PLACES),
        day=rng.choice(DAYS),
        number=rng.choice(NUMBERS),
    )
    return text[:1].upper() + text[1:]


def _item(rng: random.Random, label: str) -> dict[str, str]:
    subject = rng.choice(TOPICS[rng.choice(sorted(TOPICS))])
    style = label
    if rng.random() < CROSS_STYLE:
        style = "REAL" if label == "FAKE" else "FAKE"
    own, titles = (REAL_STYLE, REAL_TITLES) if style == "REAL" else (FAKE_STYLE, FAKE_TITLES)
    title_pool = titles if rng.random() < 0.5 else NEUTRAL_TITLES
    sentences = [
        _fill(rng, rng.choice(own if rng.random() < STYLE_SHARE else NEUTRAL), subject)
        for _ in range(rng.randint(3, 6))
    ]
    if rng.random() < LABEL_NOISE:
        label = "REAL" if label == "FAKE" else "FAKE"
    return {
        "title": _fill(rng, rng.choice(title_pool), subject),
        "text": " ".join(sentences),
        "label": label,
    }


def generate(n_rows: int = DEFAULT_ROWS, seed: int = DEFAULT_SEED) -> list[dict[str, str]]:
    """Return ``n_rows`` items, half FAKE and half REAL (before label noise), in a seeded order."""
    rng = random.Random(seed)  # noqa: S311 (a reproducible data set, not a secret)
    rows = [_item(rng, "FAKE" if i % 2 else "REAL") for i in range(n_rows)]
    rng.shuffle(rows)
    return rows


def to_csv(rows: list[dict[str, str]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=["title", "text", "label"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--output", type=Path, default=SAMPLE_PATH)
    parser.add_argument(
        "--check", action="store_true", help="fail if the output file differs from a fresh run"
    )
    args = parser.parse_args(argv)
    content = to_csv(generate(args.rows, args.seed))
    if args.check:
        if args.output.read_text(encoding="utf-8") != content:
            print(f"{args.output} is not what the generator makes", file=sys.stderr)
            return 1
        print(f"{args.output} is up to date")
        return 0
    args.output.write_text(content, encoding="utf-8")
    print(f"wrote {args.rows} rows to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
