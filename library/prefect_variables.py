#!/usr/bin/python
# Copyright: prefect-stack contributors
# MIT License (see LICENSE at the top of the repository)


DOCUMENTATION = r"""
---
module: prefect_variables
short_description: Manage Prefect 3 variables (bulk, idempotent, check and diff mode)
description:
  - Creates, updates and deletes Prefect variables from a list, comparing each declared variable
    with the server's and writing only what differs, as the C(prefect_variable) resource of
    Prefect's Terraform provider does.
  - "All items are validated before anything is written: names (lowercase letters, digits, dashes
    and underscores, at most 255 characters, as Prefect requires), values Prefect cannot store
    (NUL characters, non-finite numbers, more than 5000 characters of JSON), duplicates. Messages
    name the item and the field, e.g. 'variables[1] (batch_size): value: ...'."
  - Every variable this module writes carries the O(managed_tag) tag; O(prune) deletes only
    variables with that tag, so variables made in the UI or with C(prefect variable set) are
    never pruned.
  - "Values of items with O(variables[].secret=true) are masked in the diff, the results and the
    echoed invocation (Prefect variables are not encrypted: keep real secrets in C(secret) blocks)."
version_added: "0.2.0"
author: prefect-stack contributors
extends_documentation_fragment:
  - prefect_api
  - prefect_api.attributes
options:
  prune:
    description:
      - Delete variables that carry the O(managed_tag) tag and are not declared.
    type: bool
    default: false
  managed_tag:
    description:
      - Tag put on every variable this module writes; O(prune) only deletes variables with it.
    type: str
    default: managed-by:prefect-stack
  variables:
    description: Variables to manage.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Variable name (lowercase letters, digits, C(-) and C(_)).
        type: str
        required: true
      value:
        description:
          - Any JSON value but null (a string, a number, a boolean, a list or a mapping), at most
            5000 characters as JSON. Required unless O(variables[].state=absent).
          - A string stays a string; C("5") and C(5) are different values.
        type: raw
      tags:
        description: Tags of the variable (the O(managed_tag) tag is added).
        type: list
        elements: str
        default: []
      secret:
        description: Mask the value in every output of the module.
        type: bool
        default: false
      state:
        description: C(absent) deletes the variable.
        type: str
        choices: [present, absent]
        default: present
"""

EXAMPLES = r"""
- name: Apply variables
  prefect_variables:
    api_url: http://127.0.0.1:4200/api
    api_auth_string: "{{ prefect_api_auth_string }}"
    prune: true
    variables:
      - name: training_rows_min
        value: 200
      - name: alert_recipients
        value: [ml-team@example.com]
        tags: [alerts]
      - name: old_setting
        state: absent
"""

RETURN = r"""
results:
  description: One entry per declared variable, then one per pruned variable.
  returned: always
  type: list
  elements: dict
  sample: [{name: training_rows_min, action: created, id: 0b1c...}]
summary:
  description: How many variables were created, updated, deleted or left unchanged.
  returned: always
  type: dict
  sample: {created: 1, unchanged: 2}
diff:
  description: Per changed variable, before/after of the value and tags.
  returned: when diff mode is on (--diff); empty otherwise
  type: list
  elements: dict
"""

import json  # noqa: E402
import re  # noqa: E402

from ansible.module_utils.prefect_api import PrefectObjectsModule, q  # noqa: E402
from ansible.module_utils.prefect_compare import collect_strings, mask_value  # noqa: E402

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
        tag = self.module.params["managed_tag"]
        if not self.module.params["prune"] or not tag:
            return []
        return [
            (name, row)
            for name, row in sorted(self.existing.items())
            if name not in declared_keys and tag in (row.get("tags") or [])
        ]

    # ---- writes -------------------------------------------------------------------------
    def create(self, item, desired, extra):
        row = self.client.post("/variables/", dict(desired, name=item["name"]))
        extra["id"] = row["id"]

    def update(self, item, row, actual, desired, extra):
        self.client.patch(f"/variables/name/{q(item['name'])}", desired)

    def delete(self, key, row):
        self.client.delete(f"/variables/name/{q(key)}")


def main():
    VariablesModule().run()


if __name__ == "__main__":
    main()
