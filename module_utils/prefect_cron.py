# Copyright: prefect-stack contributors
# MIT License (see LICENSE at the top of the repository)
"""A small, dependency-free validator for the cron strings Prefect accepts.

Five fields (minute hour day-of-month month day-of-week) with ``*``, ranges ``a-b``, lists
``a,b``, steps ``*/n`` and ``a-b/n``, month names ``JAN``..``DEC`` and day names ``SUN``..``SAT``
(day-of-week 0-7, 7 being Sunday), ``?`` in the day fields, ``L`` (last day of month) and the
macros ``@yearly @annually @monthly @weekly @daily @midnight @hourly``. Random/hashed expressions
(``R``/``H``) are refused, as Prefect refuses them. Used for validation only, so a bad cron fails
the run before anything is written to the server.
"""

MACROS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
# (field name, lowest, highest, names mapped to numbers)
FIELDS = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, dict((n, i + 1) for i, n in enumerate(MONTHS))),
    ("day of week", 0, 7, dict((n, i) for i, n in enumerate(DAYS))),
)


class CronError(ValueError):
    pass


def _shown(token):
    """``repr(token)`` cut to 40 characters (messages echo tokens; this file imports nothing)."""
    return repr(token) if len(token) <= 38 else repr(token[:35]) + "..."


def _value(token, field):
    name, low, high, names = field
    upper = token.upper()
    if upper in ("R", "H"):
        raise CronError(f"{name}: random and hashed expressions (R, H) are not supported")
    if upper in names:
        return names[upper]
    # str.isdigit() accepts digits int() does not read ('²') and other scripts' digits.
    if not (token.isascii() and token.isdigit()):
        raise CronError(
            "{}: {} is not a number{}".format(
                name,
                _shown(token),
                " or a name ({})".format(",".join(sorted(names))) if names else "",
            )
        )
    number = int(token)
    if not low <= number <= high:
        raise CronError(f"{name}: {number} is out of range {low}-{high}")
    return number


def _check_field(text, field):
    name, low, high, names = field
    if text == "":
        raise CronError(f"{name}: empty")
    for part in text.split(","):
        if part == "":
            raise CronError(f"{name}: empty list item in {_shown(text)}")
        base, sep, step = part.partition("/")
        if sep:
            if not (step.isascii() and step.isdigit()) or int(step) == 0:
                raise CronError(f"{name}: step {_shown(step)} must be a positive number")
            if int(step) > high:
                raise CronError(f"{name}: step {step} is larger than {high}")
        if base in ("*", "?"):
            if base == "?" and name not in ("day of month", "day of week"):
                raise CronError(f"{name}: '?' is only allowed in the day fields")
            continue
        if base.upper() == "L" and name == "day of month" and not sep:
            continue
        start, dash, end = base.partition("-")
        first = _value(start, field)
        if dash:
            last = _value(end, field)
            if last < first:
                raise CronError(f"{name}: range {_shown(base)} goes backwards")
        elif sep:
            # "a/n" means "from a to the end, every n"
            pass


def validate_cron(expression):
    """Raise CronError (a ValueError) with a precise message when ``expression`` is not valid."""
    if not isinstance(expression, str) or not expression.strip():
        raise CronError("cron must be a non-empty string")
    text = expression.strip()
    if text.startswith("@"):
        if text.lower() not in MACROS:
            raise CronError("unknown macro {} (known: {})".format(_shown(text), " ".join(MACROS)))
        return text
    parts = text.split()
    if len(parts) != 5:
        raise CronError(
            f"expected 5 fields (minute hour day-of-month month day-of-week), got {len(parts)}"
        )
    for part, field in zip(parts, FIELDS):  # noqa: B905
        _check_field(part, field)
    return text


def is_valid_cron(expression):
    try:
        validate_cron(expression)
    except CronError:
        return False
    return True
