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

from ansible.module_utils.prefect_kind_variables import VariablesModule  # noqa: E402


def main():
    VariablesModule().run()


if __name__ == "__main__":
    main()
