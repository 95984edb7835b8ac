# Copyright: prefect-stack contributors
# MIT License (see LICENSE at the top of the repository)
"""The concurrency limits kind of the ``prefect_*`` object modules, run by
``library/prefect_concurrency_limits.py`` and planned with the other kinds by ``prefect_plan``."""

import math
import re

from ansible.module_utils.prefect_api import PrefectObjectsModule, ValidationErrors
from ansible.module_utils.prefect_record import ManagedRecord
from ansible.module_utils.prefect_validate import (
    BANNED_NAME_CHARACTERS,
    MAX_INT,
    MAX_NAME_LENGTH,
    check_options,
    kind_of,
    name_problem,
    short,
)

TAG_PREFIX = "tag:"  # Prefect 3.9 keeps the limit of tag T as the global limit "tag:T"
RECORD_KEY = "concurrency_limits"
NUMBER_RE = re.compile(r"^\s*[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]{1,3})?\s*$")
STATE = dict(type="str", choices=["present", "absent"], default="present")

GLOBAL_SPEC = dict(
    name=dict(type="str", required=True),
    limit=dict(type="int"),
    active=dict(type="bool", default=True),
    slot_decay_per_second=dict(type="float", default=0.0),
    state=STATE,
)
TASK_RUN_SPEC = dict(
    tag=dict(type="str", required=True),
    limit=dict(type="int"),
    state=STATE,
)
# option -> (spec of its items, the item's key field)
LISTS = {"global_limits": (GLOBAL_SPEC, "name"), "task_run_limits": (TASK_RUN_SPEC, "tag")}
VIEW_FIELDS = ("limit", "active", "slot_decay_per_second")  # of a global limit; a tag's: limit


class Item(dict):
    """One declared limit (its options, defaults filled in) that knows which list it is from."""

    def __init__(self, options, list_name):
        super().__init__(options)
        self.list_name = list_name


class ListErrors(ValidationErrors):
    """Errors of the items of both lists; each names its own list and its index there."""

    def __init__(self, origin):
        super().__init__("concurrency_limits")
        self.origin = origin  # index in self.items -> (list name, index in that list)

    def add(self, index, name, field, message):
        list_name, local = self.origin[index]
        one = ValidationErrors(list_name)
        one.add(local, name, field, message)
        self.errors.extend(one.errors)

    def add_list(self, list_name, message):
        one = ValidationErrors(list_name)
        one.add(None, None, None, message)
        self.errors.extend(one.errors)


def rate(value):
    """``value`` as a finite float, or None (a boolean is not a number)."""
    if isinstance(value, bool) or not (
        isinstance(value, (int, float)) or (isinstance(value, str) and NUMBER_RE.match(value))
    ):
        return None
    try:
        number = float(value)
    except (OverflowError, ValueError):
        return None
    return number if math.isfinite(number) else None


class ConcurrencyLimitsModule(PrefectObjectsModule):
    # The base reads one list (``kind``); this module reads both itself into one list of Items
    # (global limits first), whose messages and echo name their own list (see __init__).
    kind = "global_limits"
    item_spec = GLOBAL_SPEC
    extra_spec = dict(
        prune=dict(type="bool", default=False),
        # both lists are checked item by item by check_options, not by Ansible
        global_limits=dict(type="raw"),
        task_run_limits=dict(type="raw"),
    )
    supports_prune = True
    parallel_writes = 8

    @classmethod
    def item_lists(cls):
        return {list_name: spec for list_name, (spec, _) in LISTS.items()}

    def __init__(self, module=None):
        # reads global_limits alone: read again below, with task_run_limits
        super().__init__(module)
        self.kind = "concurrency_limits"  # the diffs' headers: a result's name tells its list
        self.origin = []
        self.errors = ListErrors(self.origin)
        self.items = []
        self.bad_items = set()
        for list_name, (spec, _) in LISTS.items():
            given = self.module.params[list_name]
            if given is None:
                continue
            if not isinstance(given, list):
                self.errors.add_list(
                    list_name, f"expected a list of mappings, got {kind_of(given)}"
                )
                continue
            for local, raw in enumerate(given):
                item, problems = check_options(raw, spec, "")
                if isinstance(item, dict):
                    item = Item(item, list_name)
                index = len(self.items)
                self.items.append(item)
                self.origin.append((list_name, local))
                if problems:
                    self.bad_items.add(index)
                label = self.item_label(item) if isinstance(item, dict) else None
                for field, message in problems:
                    self.errors.add(index, label, field, message)
        self.positions = {id(item): index for index, item in enumerate(self.items)}

    # ---- keys and labels ----------------------------------------------------------------
    @staticmethod
    def is_tag(item):
        return getattr(item, "list_name", None) == "task_run_limits"

    def item_key(self, item):
        """The limit's name on the server: ``name``, or ``tag:<tag>`` for a tag's limit."""
        if self.is_tag(item):
            return TAG_PREFIX + str(item["tag"])
        return item["name"]

    def item_label(self, item):
        value = item.get("tag" if self.is_tag(item) else "name")
        return None if value is None else str(value)

    def invocation(self):
        out = super().invocation()
        args = out["module_args"]
        args.pop(self.kind, None)  # the base echoes the items under ``kind``: split them again
        lists = {list_name: [] for list_name in LISTS}
        for index, item in enumerate(self.sanitized_items()):
            lists[self.origin[index][0]].append(item)
        for list_name, items in lists.items():
            if isinstance(self.module.params[list_name], list):
                args[list_name] = items
        return out

    def sanitize_item(self, item):
        return dict(item)  # nothing secret: a plain mapping, without the list it came from

    # ---- checks without the server ------------------------------------------------------
    def check_item(self, index, item):
        label = self.item_label(item)
        key_field = "tag" if self.is_tag(item) else "name"
        problem = self.name_problem(item[key_field], self.is_tag(item))
        if problem:
            self.errors.add(index, label, key_field, problem)
        if item["state"] == "present":
            if item["limit"] is None:
                self.errors.add(index, label, "limit", "required unless state=absent")
            elif item["limit"] < 0:
                self.errors.add(index, label, "limit", f"must be at least 0, got {item['limit']}")
            elif item["limit"] > MAX_INT:
                self.errors.add(
                    index,
                    label,
                    "limit",
                    f"must be at most {MAX_INT} (Prefect stores 32-bit integers), "
                    f"got {short(item['limit'])}",
                )
        if self.is_tag(item):
            return
        given = item["slot_decay_per_second"]
        number = rate(given)
        if number is None:
            self.errors.add(
                index,
                label,
                "slot_decay_per_second",
                f"expected a finite number of slots per second, got {short(given)}",
            )
        elif number < 0:
            self.errors.add(
                index, label, "slot_decay_per_second", f"must be at least 0, got {short(given)}"
            )
        else:
            item["slot_decay_per_second"] = number

    @staticmethod
    def name_problem(value, is_tag):
        """What keeps ``value`` from being a limit's name (a tag's, with ``tag:`` added)."""
        if value == "":
            return "must not be empty"
        longest = MAX_NAME_LENGTH - (len(TAG_PREFIX) if is_tag else 0)
        if len(value) > longest:
            kept = f" (Prefect names its limit {TAG_PREFIX}<tag>)" if is_tag else ""
            return f"longer than {longest} characters ({len(value)}){kept}"
        problem = name_problem(value)
        if problem:
            return problem
        banned = sorted(set(value) & set(BANNED_NAME_CHARACTERS))
        if banned:
            return "contains {}: Prefect refuses {} in names".format(
                " ".join(banned), " ".join(BANNED_NAME_CHARACTERS)
            )
        if not is_tag and value.startswith(TAG_PREFIX):
            return (
                f"names starting with {TAG_PREFIX} are Prefect's task-run (tag) limits: declare "
                f"tag {short(value[len(TAG_PREFIX) :])} in task_run_limits"
            )
        return None

    def check_duplicates(self):
        seen = {}
        for index, item in enumerate(self.items):
            key = self.item_key(item)
            if key in seen:
                list_name, local = self.origin[seen[key]]
                field = "tag" if self.is_tag(item) else "name"
                message = f"duplicate of {list_name}[{local}]"
                self.errors.add(index, self.item_label(item), field, message)
            else:
                seen[key] = index

    # ---- read-only lookups --------------------------------------------------------------
    def load(self):
        """Two filter calls: the record, and every limit (tags' limits included)."""
        self.record = ManagedRecord(self.client, RECORD_KEY)
        recorded = self.record.load()
        self.existing = {
            row["name"]: row for row in self.client.filter_all("/v2/concurrency_limits/filter")
        }
        for name in recorded - set(self.existing):
            self.record.discard(name)  # deleted elsewhere: a new limit of that name is not ours

    # ---- views (the base plans created/updated/deleted/unchanged) -----------------------
    @staticmethod
    def is_tag_row(row):
        return row["name"].startswith(TAG_PREFIX)

    def item_extra(self, item, row):
        """Which list the limit belongs to (and its tag), and its id."""
        name = self.item_key(item) if item is not None else row["name"]
        is_tag = name.startswith(TAG_PREFIX)
        extra = {"list": "task_run_limits" if is_tag else "global_limits"}
        if is_tag:
            extra["tag"] = name[len(TAG_PREFIX) :]
        extra["id"] = row["id"] if row else None
        return extra

    def desired_view(self, item):
        fields = ("limit",) if self.is_tag(item) else VIEW_FIELDS
        return {field: item[field] for field in fields}

    def actual_view(self, row, item=None, desired=None):
        # 0 == 0.0 when compared: the server returns the decay as a float
        fields = ("limit",) if self.is_tag_row(row) else VIEW_FIELDS
        return {field: row[field] for field in fields}

    def prunable(self, declared_keys):
        """Recorded limits that are not declared (``load`` forgot those the server lacks)."""
        if not self.module.params["prune"]:
            return []
        return [(name, self.existing[name]) for name in sorted(self.record.names - declared_keys)]

    # ---- writes -------------------------------------------------------------------------
    def create(self, item, desired, extra):
        self.write(item, desired, extra)

    def update(self, item, row, actual, desired, extra):
        self.write(item, desired, extra, row, actual)

    def write(self, item, desired, extra, row=None, actual=None):
        name = self.item_key(item)
        if self.is_tag(item):
            # Prefect's upsert by tag: sets the limit only, the slots' leases stay
            body = {"tag": item["tag"], "concurrency_limit": desired["limit"]}
            extra["id"] = self.client.post("/concurrency_limits/", body)["id"]
        elif row is None:
            body = dict(desired, name=name)
            extra["id"] = self.client.post("/v2/concurrency_limits/", body)["id"]
        else:
            # the changed fields only: active_slots and denied_slots are not sent, so kept
            changed = {k: v for k, v in desired.items() if actual[k] != v}
            self.client.patch(f"/v2/concurrency_limits/{row['id']}", changed)
        self.record.add(name)

    def delete(self, key, row):
        # by id: a name that reads as a UUID would be taken for an id in a URL; the V1 route
        # also revokes the leases of the task runs holding the tag's slots
        route = "/concurrency_limits" if self.is_tag_row(row) else "/v2/concurrency_limits"
        self.client.delete(f"{route}/{row['id']}")
        self.record.discard(key)
