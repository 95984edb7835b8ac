# Copyright: prefect-stack contributors
# MIT License (see LICENSE at the top of the repository)
"""The variables kind of the ``prefect_*`` object modules, run by
``library/prefect_variables.py`` and planned with the other kinds by ``prefect_plan``."""

import json
import re

from ansible.module_utils.prefect_api import PrefectObjectsModule, q
from ansible.module_utils.prefect_compare import collect_strings, mask_value

NAME_RE = re.compile(r"^[a-z0-9_-]+$")
MAX_VALUE_JSON = 5000  # Prefect's MAX_VARIABLE_VALUE_LENGTH

ITEM_SPEC = dict(
    name=dict(type="str", required=True),
    value=dict(type="raw"),
    tags=dict(type="list", elements="str", default=[]),
    secret=dict(type="bool", default=False),
    state=dict(type="str", choices=["present", "absent"], default="present"),
)


class VariablesModule(PrefectObjectsModule):
    kind = "variables"
    item_spec = ITEM_SPEC
    extra_spec = dict(
        prune=dict(type="bool", default=False),
        managed_tag=dict(type="str", default="managed-by:prefect-stack"),
    )
    supports_prune = True
    parallel_writes = 8

    def sanitize_item(self, item):
        if item.get("secret") is True and "value" in item:
            item = dict(item, value=mask_value(item["value"], ["*"]))
        return item

    def check_item(self, index, item):
        super().check_item(index, item)
        label = self.item_label(item)
        if not NAME_RE.match(item["name"]):
            self.errors.add(
                index,
                label,
                "name",
                "variable names may only contain lowercase letters, digits, dashes and underscores",
            )
        if item["state"] == "absent":
            return
        if item["value"] is None:
            self.errors.add(index, label, "value", "required (any JSON value but null)")
            return
        try:
            size = len(json.dumps(item["value"], ensure_ascii=False, allow_nan=False))
        except (TypeError, ValueError):
            self.errors.add(index, label, "value", "must be a JSON value")
            return
        if size > MAX_VALUE_JSON:
            self.errors.add(
                index,
                label,
                "value",
                f"is {size} characters as JSON; Prefect stores at most {MAX_VALUE_JSON}",
            )

    # ---- read-only lookups --------------------------------------------------------------
    def load(self):
        for item in self.items:
            if item["secret"]:
                values = collect_strings(item.get("value"), ["*"])
                self.module.no_log_values.update(v for v in values if len(v) >= 4)
        names = [item["name"] for item in self.items]
        self.existing = {}
        for row in self.client.filter_named("variables", names, every=self.module.params["prune"]):
            self.existing[row["name"]] = row

    # ---- planning -----------------------------------------------------------------------
    def wanted_tags(self, item):
        tag = self.module.params["managed_tag"]
        return sorted(set(item["tags"]) | ({tag} if tag else set()))

    def desired_view(self, item):
        return {"value": item["value"], "tags": self.wanted_tags(item)}

    def actual_view(self, row, item=None, desired=None):
        return {"value": row["value"], "tags": sorted(row.get("tags") or [])}

    def same(self, actual, desired):
        # JSON equality: 1 and 1.0 are one number, but True is not 1 and "1" is not 1
        return json.dumps(actual, sort_keys=True) == json.dumps(desired, sort_keys=True)

    def diff_secret_paths(self, item, before, after):
        # a pruned variable's secrecy is not declared any more: mask it
        return ["value"] if item is None or item["secret"] else []

    def prunable(self, declared_keys):
        return self.tagged_prunable(declared_keys, sorted(self.existing.items()))

    # ---- writes -------------------------------------------------------------------------
    def create(self, item, desired, extra):
        row = self.client.post("/variables/", dict(desired, name=item["name"]))
        extra["id"] = row["id"]

    def update(self, item, row, actual, desired, extra):
        self.client.patch(f"/variables/name/{q(item['name'])}", desired)

    def delete(self, key, row):
        self.client.delete(f"/variables/name/{q(key)}")
