import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "module_utils"))

from prefect_cron import CronError, is_valid_cron, validate_cron  # noqa: E402


@pytest.mark.parametrize(
    "expr",
    ["0 0 1 * *", "*/15 * * * MON-FRI", "0 9 * JAN,jul 1-5/2", "5 4 * * 7", "@daily",
     "1-59/2 * * * *", "0 0 L * ?", "0 12 * MAR THU", "@hourly"],
)  # fmt: skip
def test_valid(expr):
    assert validate_cron(expr) == expr


@pytest.mark.parametrize(
    ("expr", "fragment"),
    [
        ("0 0 1 *", "expected 5 fields"),
        ("0 0 1 * * *", "expected 5 fields"),
        ("61 * * * *", "minute: 61 is out of range 0-59"),
        ("0 24 * * *", "hour: 24 is out of range"),
        ("0 0 32 * *", "day of month: 32"),
        ("0 0 0 * *", "day of month: 0"),
        ("0 0 * 13 *", "month: 13"),
        ("0 0 * * 8", "day of week: 8"),
        ("* * * FOO *", "month: 'FOO'"),
        ("@often", "unknown macro"),
        ("*/0 * * * *", "step"),
        ("0 H * * *", "random and hashed"),
        ("5-1 * * * *", "goes backwards"),
        ("0 ? * * *", "only allowed in the day fields"),
        ("0,,5 * * * *", "empty list item"),
        ("", "non-empty"),
        # digits str.isdigit() accepts and int() does not read: a message, not a traceback
        ("\u00b2 * * * *", "minute: '\u00b2' is not a number"),
        ("0 0 \u0663 * *", "day of month: '\u0663' is not a number"),
        ("*/\u00b2 * * * *", "step '\u00b2' must be a positive number"),
        ("1-\u00b2 * * * *", "is not a number"),
    ],
)
def test_invalid(expr, fragment):
    with pytest.raises(CronError) as err:
        validate_cron(expr)
    assert fragment in str(err.value)
    assert not is_valid_cron(expr)


def test_agrees_with_prefect_on_samples():
    """Our validator accepts/refuses like Prefect's own schedule model on these samples."""
    from prefect.server.schemas.schedules import CronSchedule

    samples = ["0 0 1 * *", "*/5 * * * *", "0 0 * * MON", "61 * * * *", "0 0 32 * *",
               "* * *", "@daily", "0 0 * * 8"]  # fmt: skip
    for expr in samples:
        try:
            CronSchedule(cron=expr)
            prefect_ok = True
        except ValueError:
            prefect_ok = False
        assert is_valid_cron(expr) == prefect_ok, expr
