# Copyright: prefect-stack contributors
# MIT License (see LICENSE at the top of the repository)
"""What this project created, for object kinds that carry no tags.

Work queues and concurrency limits have no tags, so ``prune`` cannot tell an object this project
made from one a user made in the UI. ``ManagedRecord`` keeps the names this project manages on the
server itself, in Prefect variables named ``prefect_stack_managed_<key>`` (then ``..._<key>__1``,
``..._<key>__2`` when one variable's 5000 characters are not enough), tagged ``RECORD_TAG``: not
the modules' managed tag, so ``prefect_variables``' prune never takes them.

Reads are one filter call; ``save`` writes only the variables whose content changed, nothing when
the set is the one loaded, and nothing in check mode.
"""

import json
import re

RECORD_TAG = "prefect-stack:record"
PREFIX = "prefect_stack_managed_"
MAX_VALUE_JSON = 4900  # Prefect stores at most 5000 characters of JSON per variable
KEY_RE = re.compile(r"^[a-z0-9_]+$")


class ManagedRecord:
    def __init__(self, client, key):
        if not KEY_RE.match(key):
            raise ValueError(f"record key {key!r}: lowercase letters, digits and underscores only")
        self.client = client
        self.base = PREFIX + key
        self.names = set()
        self._loaded = set()
        self._shards = {}  # variable name -> its stored list

    def shard_name(self, index):
        return self.base if index == 0 else f"{self.base}__{index}"

    def _is_shard(self, name):
        return name == self.base or re.match(re.escape(self.base) + r"__[1-9][0-9]*$", name)

    def load(self):
        body = {"variables": {"name": {"like_": self.base}}}  # the server adds the % wildcards
        for row in self.client.filter_all("/variables/filter", body):
            if self._is_shard(row["name"]) and isinstance(row.get("value"), list):
                self._shards[row["name"]] = row["value"]
                self.names.update(v for v in row["value"] if isinstance(v, str))
        self._loaded = set(self.names)
        return set(self.names)

    def add(self, name):
        self.names.add(name)

    def discard(self, name):
        self.names.discard(name)

    @property
    def pending(self):
        """Whether ``save`` would write: the set differs from the one loaded."""
        return self.names != self._loaded

    def __contains__(self, name):
        return name in self.names

    def _packed(self):
        shards, current, size = [], [], 2
        for name in sorted(self.names):
            cost = len(json.dumps(name, ensure_ascii=False)) + 2
            if current and size + cost > MAX_VALUE_JSON:
                shards.append(current)
                current, size = [], 2
            current.append(name)
            size += cost
        if current:
            shards.append(current)
        return {self.shard_name(i): shard for i, shard in enumerate(shards)}

    def save(self, check_mode):
        """Store the set; returns the number of write calls made."""
        if check_mode or self.names == self._loaded:
            return 0
        wanted = self._packed()
        writes = 0
        for name, value in wanted.items():
            if self._shards.get(name) == value:
                continue
            if name in self._shards:
                self.client.patch(f"/variables/name/{name}", {"value": value})
            else:
                body = {"name": name, "value": value, "tags": [RECORD_TAG]}
                self.client.post("/variables/", body)
            self._shards[name] = value
            writes += 1
        for name in sorted(set(self._shards) - set(wanted)):
            self.client.delete(f"/variables/name/{name}")
            del self._shards[name]
            writes += 1
        self._loaded = set(self.names)
        return writes
