# Copyright: prefect-stack contributors
# MIT License (see LICENSE at the top of the repository)
"""The work queues kind of the ``prefect_*`` object modules, run by
``library/prefect_work_queues.py`` and planned with the other kinds by ``prefect_plan``."""

from concurrent.futures import ThreadPoolExecutor
from functools import partial

from ansible.module_utils.prefect_api import PrefectObjectsModule, q
from ansible.module_utils.prefect_record import ManagedRecord
from ansible.module_utils.prefect_validate import (
    BANNED_NAME_CHARACTERS,
    MAX_INT,
    clip,
    short,
)

ITEM_SPEC = dict(
    work_pool=dict(type="str", required=True),
    name=dict(type="str", required=True),
    description=dict(type="str"),
    priority=dict(type="int"),
    concurrency_limit=dict(type="int"),
    is_paused=dict(type="bool"),
    state=dict(type="str", choices=["present", "absent"], default="present"),
)

EXTRA_SPEC = dict(
    prune=dict(type="bool", default=False),
    declared_work_pools=dict(type="list", elements="str", default=[]),
)

FIELDS = ("description", "priority", "concurrency_limit", "is_paused")
DEFAULT_QUEUE = "default"
# What Prefect gives a new pool's default queue (for check mode before the pool exists)
DEFAULT_QUEUE_VIEW = {
    "description": "The work pool's default queue.",
    "priority": 1,
    "concurrency_limit": None,
    "is_paused": False,
}


def view(row):
    return {field: row.get(field) for field in FIELDS}


def shifted(queues, writes):
    """Prefect's priorities after ``writes`` ((name, priority) in order) on ``queues``.

    ``queues`` maps each queue of a pool to its priority. Mirrors
    ``bulk_update_work_queue_priorities``: the written queue goes in front of the first queue
    whose priority is at least its own, then every queue that is not behind the one before it
    moves to that one's priority + 1.
    """
    order = sorted(queues.items(), key=lambda kv: kv[1])
    for name, priority in writes:
        order = [kv for kv in order if kv[0] != name]
        at = next((i for i, kv in enumerate(order) if kv[1] >= priority), len(order))
        order.insert(at, (name, priority))
        last, out = 0, []
        for other, value in order:
            if value <= last:
                value = last + 1
            out.append((other, value))
            last = value
        order = out
    return dict(order)


class WorkQueuesModule(PrefectObjectsModule):
    kind = "work_queues"
    item_spec = ITEM_SPEC
    extra_spec = EXTRA_SPEC
    supports_prune = True
    parallel_writes = 8
    name_fields = ("work_pool", "name")

    def __init__(self, module=None):
        super().__init__(module)
        self.priorities = {}  # (pool, declared priority) -> index of the first item with it

    # ---- keys ---------------------------------------------------------------------------
    def item_key(self, item):
        return (item["work_pool"], item["name"])

    def item_label(self, item):
        return "{}/{}".format(*(clip(part, 120) for part in self.item_key(item)))

    # the record keeps ``pool/name`` (the base's record_name): neither name may hold a "/"

    # ---- checks that need no server -----------------------------------------------------
    def check_item(self, index, item):
        super().check_item(index, item)
        label = self.item_label(item)
        pool, name = item["work_pool"], item["name"]
        # Prefect's rules: NonEmptyishName for pools, Name for queues
        if not pool.strip("' \"") or any(c in pool for c in BANNED_NAME_CHARACTERS):
            self.errors.add(
                index,
                label,
                "work_pool",
                "must be non-empty, without any of " + BANNED_NAME_CHARACTERS,
            )
        if not name or any(c in name for c in BANNED_NAME_CHARACTERS):
            self.errors.add(
                index, label, "name", "must be non-empty, without any of " + BANNED_NAME_CHARACTERS
            )
        if item["state"] == "absent":
            return
        priority = item["priority"]
        if priority is not None and not 1 <= priority <= MAX_INT:
            self.errors.add(
                index,
                label,
                "priority",
                f"must be 1 (the highest) or more and at most {MAX_INT}, got {short(priority)}",
            )
        limit = item["concurrency_limit"]
        if limit is not None and not -1 <= limit <= MAX_INT:
            self.errors.add(
                index,
                label,
                "concurrency_limit",
                f"must be 0 or more (or -1 for no limit) and at most {MAX_INT}, got {short(limit)}",
            )
        if priority is not None:
            first = self.priorities.setdefault((pool, priority), index)
            if first != index:
                self.errors.add(
                    index,
                    label,
                    "priority",
                    f"{priority} is also declared for {self.kind}[{first}] "
                    f"({self.item_label(self.items[first])}): priorities are unique within a pool",
                )

    # ---- read-only lookups --------------------------------------------------------------
    def load(self):
        pools = sorted(set(item["work_pool"] for item in self.items))
        self.pools = {}
        if pools:
            body = {"work_pools": {"name": {"any_": pools}}}
            for row in self.client.filter_all("/work_pools/filter", body, expect=len(pools)):
                self.pools[row["name"]] = row
        self.queues = {}  # pool -> {queue name: row}, every queue of each declared pool
        existing = [pool for pool in pools if pool in self.pools]
        workers = max(1, min(self.parallel_writes, len(existing)))
        with ThreadPoolExecutor(max_workers=workers) as executor:
            reads = dict((pool, executor.submit(self.read_queues, pool)) for pool in existing)
        for pool, read in reads.items():
            self.queues[pool] = {row["name"]: row for row in read.result()}
        self.record = ManagedRecord(self.client, "work_queues")
        self.recorded = self.record.load()
        self.forget_gone()
        self.warned = set()

    def read_queues(self, pool):
        """Every queue of ``pool`` (one filter call, paged: the declared ones' pages at once)."""
        declared = sum(1 for item in self.items if item["work_pool"] == pool)
        return self.client.filter_all(f"/work_pools/{q(pool)}/queues/filter", {}, expect=declared)

    def is_default(self, pool, name):
        """Is ``pool/name`` the pool's default queue (by id; by name for a pool to come)?"""
        if pool not in self.pools:
            return name == DEFAULT_QUEUE
        row = self.queues.get(pool, {}).get(name)
        return bool(row) and row["id"] == self.pools[pool].get("default_queue_id")

    # ---- validation with the server's state ---------------------------------------------
    def validate_item(self, index, item):
        label = self.item_label(item)
        pool, name = item["work_pool"], item["name"]
        if pool not in self.pools:
            declared = self.module.params["declared_work_pools"]
            if self.module.check_mode and pool in declared:
                if pool not in self.warned:
                    self.warned.add(pool)
                    self.module.warn(
                        f"work pool {clip(pool, 200)} is not on the server yet; it is declared, "
                        "so its queues are planned as they will be once it exists"
                    )
            else:
                self.errors.add(
                    index,
                    label,
                    "work_pool",
                    "no work pool {} on the server (declared: {})".format(
                        short(pool), clip(", ".join(sorted(declared)) or "none", 300)
                    ),
                )
                return
        if item["state"] == "absent" and self.is_default(pool, name):
            self.errors.add(
                index,
                label,
                "state",
                f"{short(name)} is the default queue of work pool {short(pool)}, which Prefect "
                "cannot delete (it goes with its pool); declare it present or not at all",
            )

    # ---- views (the base plans created/updated/deleted/unchanged) -----------------------
    def find(self, item):
        """The queue's row, or None; a pool still to come (check mode) has its default queue."""
        pool, name = self.item_key(item)
        if pool not in self.pools:
            return dict(DEFAULT_QUEUE_VIEW, id=None) if name == DEFAULT_QUEUE else None
        return self.queues[pool].get(name)

    def item_extra(self, item, row):
        pool = item["work_pool"] if item is not None else row["work_pool_name"]
        return {"work_pool": pool, "id": row["id"] if row else None}

    def desired_view(self, item):
        """The declared fields only: what is not declared stays as the server has it."""
        out = {}
        for field in FIELDS:
            if item[field] is not None:
                no_limit = field == "concurrency_limit" and item[field] == -1
                out[field] = None if no_limit else item[field]
        return out

    def actual_view(self, row, item=None, desired=None):
        return view(row) if desired is None else {f: row.get(f) for f in desired}

    def prunable(self, declared_keys):
        """Recorded queues of the declared pools that are not declared (never a default queue:
        it is never recorded, and Prefect cannot delete it)."""
        if not self.module.params["prune"]:
            return []
        return [
            ((pool, name), row)
            for pool in sorted(set(pool for pool, _ in declared_keys))
            for name, row in sorted(self.queues.get(pool, {}).items())
            if (pool, name) not in declared_keys
            and self.record_name((pool, name)) in self.recorded
            and not self.is_default(pool, name)
        ]

    # ---- priorities Prefect shifts --------------------------------------------------------
    def plan_item(self, item):
        """The base's plan, but a declared priority that the pool's other writes would shift
        is written again (see ``find_moved``)."""
        change = super().plan_item(item)
        if not hasattr(self, "moved"):
            self.moved = self.find_moved()
        key = self.item_key(item)
        if change.action != "unchanged" or key not in self.moved:
            return change
        row = self.find(item)
        desired = self.desired_view(item)
        actual = self.actual_view(row, item, desired)
        note = "priority {} written again: the other writes of the pool would move it to {}"
        extra = dict(change.extra, note=note.format(desired["priority"], self.moved[key]))
        apply = partial(self.update, item, row, actual, desired, extra)
        return self.planned_change(item, key, "updated", actual, desired, apply, extra)

    def recordable(self, item):
        """A queue of a pool on the server, not its default queue (the base's ``adopt``)."""
        pool, name = self.item_key(item)
        return pool in self.pools and not self.is_default(pool, name)

    def find_moved(self):
        """``{key: priority it would end at}`` of the declared queues whose priority is already
        the declared one but that the pool's other priority writes would move (Prefect moves
        the queues at and behind a priority it gives). Writing every declared priority of a
        pool in ascending order reaches the declared state, so the ones that would move are
        written too, until none would."""
        moved = {}
        for pool in sorted(set(pool for pool, _ in (self.item_key(i) for i in self.items))):
            if pool not in self.pools:
                continue  # check mode, the pool still to come: nothing to move
            items = [i for i in self.items if i["work_pool"] == pool]
            gone = set(i["name"] for i in items if i["state"] == "absent")
            queues = dict((n, r["priority"]) for n, r in self.queues[pool].items() if n not in gone)
            pinned, written = [], set()
            for item in items:
                priority = item["priority"] if item["state"] == "present" else None
                if priority is None:
                    continue
                pinned.append((item["name"], priority))
                row = self.find(item)
                desired = self.desired_view(item)
                if not row or not self.same(self.actual_view(row, item, desired), desired):
                    written.add(item["name"])
            pinned.sort(key=lambda kv: kv[1])
            while True:
                final = shifted(queues, [kv for kv in pinned if kv[0] in written])
                more = [(n, p) for n, p in pinned if n not in written and final[n] != p]
                if not more:
                    break
                for name, _ in more:
                    written.add(name)
                    moved[(pool, name)] = final[name]
        return moved

    # ---- writes -------------------------------------------------------------------------
    def create(self, item, desired, extra):
        pool, name = self.item_key(item)
        body = dict((k, v) for k, v in desired.items() if v is not None)
        row = self.client.post(f"/work_pools/{q(pool)}/queues", dict(body, name=name))
        extra["id"] = row["id"]
        self.record.add(self.record_name((pool, name)))

    def update(self, item, row, actual, desired, extra):
        pool, name = self.item_key(item)
        self.client.patch(f"/work_pools/{q(pool)}/queues/{q(name)}", desired)

    def delete(self, key, row):
        pool, name = key
        self.client.delete(f"/work_pools/{q(pool)}/queues/{q(name)}")
        self.record.discard(self.record_name(key))

    def apply(self, changes):
        """Writes that move no priority in parallel; then, per pool and pools in parallel, the
        writes that set a priority (ascending, as ``find_moved`` planned them), then the creates
        without one (each takes the first free priority: one at a time)."""
        free, chains = [], {}
        for change in changes:
            pool = change.extra["work_pool"]
            priority = (change.after or {}).get("priority")
            if change.action == "deleted" or (change.action == "updated" and priority is None):
                free.append(change)
            else:  # created, or updated with a priority
                chains.setdefault(pool, []).append(change)
        for chain in chains.values():
            # a priority first, ascending; then the creates that take the first free priority
            chain.sort(
                key=lambda c: (c.after.get("priority") is None, c.after.get("priority") or 0)
            )
        self.run_parallel([c.apply for c in free])
        self.run_parallel(
            [lambda chain=chain: [c.apply() for c in chain] for chain in chains.values()]
        )

    def forget_gone(self):
        """Forget recorded queues of the declared pools that are gone (deleted in the UI): a
        queue made later under the same name is not ours."""
        for entry in sorted(self.recorded):
            pool, _, name = entry.partition("/")
            if pool in self.queues and name not in self.queues[pool]:
                self.record.discard(entry)
