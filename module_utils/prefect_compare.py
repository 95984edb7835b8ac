# Copyright: prefect-stack contributors
# MIT License (see LICENSE at the top of the repository)
"""Desired-vs-actual comparison and secret masking shared by the ``prefect_*`` modules.

Secret paths use Prefect's own ``secret_fields`` notation from block schemas: dotted keys where
``*`` matches every key (``service_account_info.*``, ``gcp_credentials.service_account_info.*``,
``value``). ``*`` alone masks everything. A masked value is shown as ``********``; in a diff the
``after`` side reads ``******** (changed)`` when the secret differs, so ``--diff`` tells THAT a
secret changes without showing either value.
"""

import copy
import json

MASK = "********"
CHANGED_MASK = MASK + " (changed)"


def _masked(node):
    if isinstance(node, dict):
        return dict((k, _masked(v)) for k, v in node.items())
    if isinstance(node, list):
        return [_masked(v) for v in node]
    if node is None:
        return None
    return MASK


def _split(path):
    if path in ("", "*"):
        return []
    return path.split(".")


def _mask_node(node, parts):
    if not parts:
        return _masked(node)
    head, rest = parts[0], parts[1:]
    if isinstance(node, dict):
        out = dict(node)
        for key in list(node):
            if head == "*" or key == head:
                out[key] = _mask_node(node[key], rest)
        return out
    if isinstance(node, list) and head == "*":
        return [_mask_node(v, rest) for v in node]
    # a scalar where the schema expects a container: mask it all (err on the safe side)
    return _masked(node)


def mask_value(data, secret_paths):
    """``data`` with every value under ``secret_paths`` replaced by MASK, ``data`` unchanged.

    The containers on the way to a masked value are new; what no path reaches is shared with
    ``data`` (not copied: an output of the module, not to be changed in place)."""
    out = data
    for path in secret_paths or ():
        out = _mask_node(out, _split(path))
    return out


def _mask_leaf_pair(before, after):
    if isinstance(before, dict) and isinstance(after, dict):
        mb, ma = {}, {}
        for key in set(before) | set(after):
            b, a = _mask_leaf_pair(before.get(key), after.get(key))
            if key in before:
                mb[key] = b
            if key in after:
                ma[key] = a
        return mb, ma
    mb = _masked(before)
    ma = _masked(after)
    if after is not None and before != after:
        ma = CHANGED_MASK if not isinstance(ma, (dict, list)) else ma
    return mb, ma


def _mask_pair_node(before, after, parts):
    if not parts:
        return _mask_leaf_pair(before, after)
    head, rest = parts[0], parts[1:]
    if isinstance(before, dict) or isinstance(after, dict):
        b = before if isinstance(before, dict) else {}
        a = after if isinstance(after, dict) else {}
        mb, ma = dict(b), dict(a)
        for key in set(b) | set(a):
            if head == "*" or key == head:
                x, y = _mask_pair_node(b.get(key), a.get(key), rest)
                if key in b:
                    mb[key] = x
                if key in a:
                    ma[key] = y
        return (
            mb if isinstance(before, dict) else before,
            ma if isinstance(after, dict) else after,
        )
    # scalars where the schema expects containers: mask them whole (err on the safe side)
    return _mask_leaf_pair(before, after)


def mask_pair(before, after, secret_paths):
    """Mask a before/after pair for a diff; a changed secret reads ``******** (changed)``."""
    before = copy.deepcopy(before)
    after = copy.deepcopy(after)
    for path in secret_paths or ():
        before, after = _mask_pair_node(before, after, _split(path))
    return before, after


def differs(desired, actual):
    """True when ``desired`` and ``actual`` differ (deep, 1 == 1.0, dict key order ignored)."""
    return desired != actual


def changed_fields(desired, actual):
    """Names of the top-level keys of ``desired`` whose value differs in ``actual``."""
    return sorted(k for k in desired if differs(desired[k], actual.get(k)))


def collect_strings(data, secret_paths):
    """Every string value under ``secret_paths`` (to add to Ansible's no_log values)."""
    found = []

    def walk(node, parts):
        if not parts:
            if isinstance(node, dict):
                for v in node.values():
                    walk(v, [])
            elif isinstance(node, list):
                for v in node:
                    walk(v, [])
            elif node is not None and not isinstance(node, bool):
                found.append(str(node))
            return
        head, rest = parts[0], parts[1:]
        if isinstance(node, dict):
            for key in node:
                if head == "*" or key == head:
                    walk(node[key], rest)
        elif isinstance(node, list) and head == "*":
            for v in node:
                walk(v, rest)

    for path in secret_paths or ():
        walk(data, _split(path))
    return found


def strip_request_data(detail):
    """An error body without what it echoes of the request (values that may be secrets).

    Prefect's 422 answers carry the whole ``request_body`` and, per error, the ``input`` it
    rejected; only the locations and messages are kept. A body that is not JSON is kept as is.
    """
    try:
        doc = json.loads(detail)
    except ValueError:
        return detail

    def strip(node):
        if isinstance(node, dict):
            return {
                k: strip(v) for k, v in node.items() if k not in ("request_body", "input", "ctx")
            }
        if isinstance(node, list):
            return [strip(v) for v in node]
        return node

    return json.dumps(strip(doc), sort_keys=True)
