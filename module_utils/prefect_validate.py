# Copyright: prefect-stack contributors
# MIT License (see LICENSE at the top of the repository)
"""The ``prefect_*`` modules' own checking of their items, run before any API call.

The options of each item (``deployments[0].tags``) are checked here and not by Ansible's argument
spec, so that every message names the item and the field, and so that no value is coerced behind
the user's back: a list is not a string, ``maybe`` is not a boolean, ``rows=5`` is not a mapping,
``1e30`` is not a concurrency limit. Values Prefect cannot store fail here too, naming where
they are: NUL characters (Postgres text refuses them), keys that are not strings, non-finite
numbers, names that no URL path segment or database index holds.

Stdlib + ansible.module_utils only. Messages echo at most ``SHORT`` characters of a value.
"""

import copy
import math
import re
import unicodedata

from ansible.module_utils.parsing.convert_bool import boolean

SHORT = 80
# Prefect keeps names in indexed columns (about 2,700 bytes at most in Postgres) and reads them
# back through URL paths; 255 characters, Prefect's own limit for variable names, fit both.
MAX_NAME_LENGTH = 255
MAX_INT = 2**31 - 1  # Prefect's integer columns (concurrency limits) are 32-bit
BANNED_NAME_CHARACTERS = "/%&><"  # Prefect's BANNED_CHARACTERS for object names
MAX_DEPTH = 64

TYPE_NAMES = {
    "str": "a string",
    "int": "an integer",
    "bool": "a boolean (true or false)",
    "dict": "a mapping",
    "list": "a list",
}


def short(value, limit=SHORT):
    """``repr(value)``, cut to ``limit`` characters."""
    text = repr(value[: limit + 1] if isinstance(value, str) else value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def clip(text, limit):
    """``text`` (not repr'd) cut to ``limit`` characters."""
    text = str(text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def kind_of(value):
    """What a value is, in words, for messages (never the value: it may be a secret)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def join(path, key):
    """``path`` extended by a key (``a.b``) or a list index (``a[0]``); long keys are cut."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    key = clip(key, 40)
    return f"{path}.{key}" if path else key


def convert(value, wanted):
    """``(value converted to the option type wanted, None)`` or ``(None, what is wrong)``."""
    if wanted == "str":
        if isinstance(value, str):
            return value, None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value), None  # YAML reads ``version: 2`` as a number
    elif wanted == "int":
        # ASCII digits only: int() also reads '\u0663' and other scripts' digits
        digits = isinstance(value, str) and re.match(r"^\s*[-+]?[0-9]{1,30}\s*$", value)
        whole = isinstance(value, float) and math.isfinite(value) and value.is_integer()
        if digits or whole or (isinstance(value, int) and not isinstance(value, bool)):
            return int(value), None
        if isinstance(value, (str, int, float)):
            return None, f"expected an integer, got {short(value)}"
    elif wanted == "bool":
        if isinstance(value, (bool, str, int, float)):
            try:
                return boolean(value, strict=True), None
            except TypeError:
                return None, f"expected a boolean (true or false), got {short(value)}"
    elif wanted == "dict":
        if isinstance(value, dict):
            return value, None
    elif wanted == "list":
        if isinstance(value, list):
            return value, None
    else:  # pragma: no cover - a spec this file does not know
        return value, None
    return None, f"expected {TYPE_NAMES[wanted]}, got {kind_of(value)}"


def check_options(value, spec, path, unknown=True):
    """Check a mapping of options against an Ansible-style ``spec``.

    Returns ``(normalized, errors)``: ``normalized`` has every option of the spec (defaults
    filled in, values converted) and ``errors`` lists ``(field, message)``. Keys the spec does not
    know are errors unless ``unknown`` is False (then they are kept as they are). A value that
    fails is kept as given, so that the echoed invocation shows what was sent.
    """
    if not isinstance(value, dict):
        return value, [(path, f"expected a mapping, got {kind_of(value)}")]
    errors = []
    out = {}
    for key, given in value.items():
        if key not in spec:
            if unknown:
                errors.append(
                    (join(path, key), "unknown option (known: {})".format(", ".join(sorted(spec))))
                )
            out[key] = given
    for key, option in spec.items():
        given = value.get(key)
        if given is None:
            if option.get("required"):
                errors.append((join(path, key), "required"))
            default = option.get("default")
            # a fresh copy of a mutable default (an empty list or mapping)
            out[key] = copy.deepcopy(default) if isinstance(default, (list, dict)) else default
            continue
        converted, problem = convert(given, option.get("type", "str"))
        if problem:
            errors.append((join(path, key), problem))
            out[key] = given
            continue
        elements = option.get("elements")
        if elements and isinstance(converted, list):
            items = []
            for n, element in enumerate(converted):
                item, problem = convert(element, elements)
                if problem:
                    errors.append((join(join(path, key), n), problem))
                    item = element
                items.append(item)
            converted = items
        if option.get("choices") and converted not in option["choices"]:
            errors.append(
                (
                    join(path, key),
                    "must be one of {}, got {}".format(", ".join(option["choices"]), short(given)),
                )
            )
        out[key] = converted
    return out, errors


def storable(value, path, depth=0):
    """``(field, message)`` for each part of a JSON-like value that Prefect cannot store."""
    if depth > MAX_DEPTH:
        return [(path, f"nested deeper than {MAX_DEPTH} levels")]
    out = []
    if isinstance(value, str):
        if "\x00" in value:
            out.append((path, "contains a NUL character, which Prefect cannot store"))
    elif isinstance(value, float):
        if not math.isfinite(value):
            out.append((path, f"must be a finite number, got {value}"))
    elif isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                out.append((path, f"keys must be strings, got {kind_of(key)}"))
                continue
            if "\x00" in key:
                out.append((path, "a key contains a NUL character, which Prefect cannot store"))
                continue
            out.extend(storable(item, join(path, key), depth + 1))
    elif isinstance(value, (list, tuple)):
        for n, item in enumerate(value):
            out.extend(storable(item, join(path, n), depth + 1))
    return out


def name_problem(name):
    """What keeps the string ``name`` from being a Prefect object name anywhere (or None).

    Only what every kind of name shares: each module adds its own rules (banned characters,
    Prefect's slug rule for blocks).
    """
    if len(name) > MAX_NAME_LENGTH:
        return f"longer than {MAX_NAME_LENGTH} characters ({len(name)})"
    if any(unicodedata.category(c) == "Cc" for c in name):
        # a newline or a NUL: Prefect's name routes do not match it, or Postgres refuses it
        return "contains a control character"
    return None


def lookup(item, dotted):
    """The value at a dotted path of nested mappings (None where a part is missing)."""
    node = item
    for part in dotted.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node
