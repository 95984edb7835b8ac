#!/usr/bin/python
# Copyright: prefect-stack contributors
# MIT License (see LICENSE at the top of the repository)


DOCUMENTATION = r"""
---
module: prefect_concurrency_limits
short_description: Manage Prefect 3 global and task-run (tag) concurrency limits (bulk, idempotent)
description:
  - Creates, updates and deletes Prefect's concurrency limits from two lists, comparing each
    declared limit with the server's and writing only what differs, as the
    C(prefect_global_concurrency_limit) and C(prefect_task_run_concurrency_limit) resources of
    Prefect's Terraform provider do. O(global_limits) are the limits flows take by name with
    C(concurrency) or C(rate_limit); O(task_run_limits) cap the task runs carrying a tag.
  - "Prefect 3.9 keeps a tag's limit as the global limit named C(tag:<tag>): the module reads both
    lists with one call, names a tag's limit C(tag:<tag>) in its results, and refuses global limit
    names starting with C(tag:) (declare those in O(task_run_limits))."
  - "All items are validated before anything is written: names and tags (at most 255 characters
    with the C(tag:) prefix, none of C(/ % & > <), no control characters), limits (integers from
    0 to 2147483647), O(global_limits[].slot_decay_per_second) (a finite number of at least 0),
    unknown fields, duplicates. Messages name the list, the item and the field, e.g.
    'global_limits[1] (gpu): limit: must be at least 0, got -1'."
  - "Active slots are kept when a limit changes: a global limit is updated with a C(PATCH) of the
    changed fields only (C(limit), C(active), C(slot_decay_per_second)), which the server applies
    without touching its active or denied slots; a tag's limit is re-posted by tag, Prefect's
    upsert, which sets the limit only and keeps the leases of the task runs holding its slots.
    Lowering a limit below the slots in use takes none away: new acquisitions wait until enough
    are released. Only deleting a limit drops its slots (and, for a tag, revokes its leases)."
  - Concurrency limits carry no tags, so the module records the names of the limits it manages
    (those it created, and declared ones it found) in the Prefect variable
    C(prefect_stack_managed_concurrency_limits), tagged C(prefect-stack:record). O(prune) deletes
    only recorded limits that are no longer declared, never limits made in the UI, with
    C(prefect gcl create) or C(prefect concurrency-limit create). A recorded limit deleted
    elsewhere is dropped from the record on the next run.
version_added: "0.3.0"
author: prefect-stack contributors
extends_documentation_fragment:
  - prefect_api
  - prefect_api.attributes
options:
  prune:
    description:
      - Delete the limits this module recorded (created, or declared and found) that are declared
        in neither list.
    type: bool
    default: false
  global_limits:
    description:
      - Global concurrency limits (Prefect's C(/v2/concurrency_limits)). Leaving the option out
        declares none.
    type: list
    elements: dict
    suboptions:
      name:
        description:
          - Name of the limit (the key; unique in the list). Not starting with C(tag:).
        type: str
        required: true
      limit:
        description:
          - Most slots held at once (0 blocks every acquisition). Required unless
            O(global_limits[].state=absent).
        type: int
      active:
        description: Whether the limit is enforced (an inactive one lets every acquisition through).
        type: bool
        default: true
      slot_decay_per_second:
        description:
          - Slots released per second without being given back; more than 0 makes the limit a
            rate limit (taken with C(rate_limit)).
        type: float
        default: 0
      state:
        description: C(absent) deletes the limit.
        type: str
        choices: [present, absent]
        default: present
  task_run_limits:
    description:
      - Task-run concurrency limits by tag (Prefect's C(/concurrency_limits)), a list of mappings.
        Leaving the option out declares none.
    type: list
    elements: dict
    suboptions:
      tag:
        description: The tag (the key; unique in the list); its limit is named C(tag:<tag>).
        type: str
        required: true
      limit:
        description:
          - Most task runs with the tag running at once (0 blocks them all). Required unless
            O(task_run_limits[].state=absent).
        type: int
      state:
        description: C(absent) deletes the limit.
        type: str
        choices: [present, absent]
        default: present
notes:
  - The record is written only when its set of names changes, never in check mode; its writes are
    not changes of the limits (C(changed) stays false when only the record changes, for instance
    when a declared limit made in the UI is adopted).
"""

EXAMPLES = r"""
- name: Apply concurrency limits
  prefect_concurrency_limits:
    api_url: http://127.0.0.1:4200/api
    api_auth_string: "{{ prefect_api_auth_string }}"
    prune: true
    global_limits:
      - name: gpu
        limit: 2
      - name: warehouse-api
        limit: 10
        slot_decay_per_second: 0.5
      - name: old-limit
        state: absent
    task_run_limits:
      - tag: database
        limit: 5
"""

RETURN = r"""
results:
  description:
    - One entry per declared limit (global limits first), then one per pruned limit. A tag's
      limit is named C(tag:<tag>).
  returned: always
  type: list
  elements: dict
  sample:
    - {name: gpu, list: global_limits, action: created, id: 0b1c...}
    - {name: "tag:database", list: task_run_limits, tag: database, action: updated, id: 5e2f...}
record_pending:
  description:
    - Whether the record of the objects this project manages (Prefect variables
      C(prefect_stack_managed_*)) differs from the server's, because the plan adopted a declared
      object that already existed or forgot one; it is then saved (in check mode, it would be).
    - Counts as a change. C(prefect_deployments)' preflight reads it to skip a no-op apply.
  returned: always
  type: bool
  sample: false
summary:
  description: How many limits were created, updated, deleted or left unchanged.
  returned: always
  type: dict
  sample: {created: 1, unchanged: 2}
diff:
  description: Per changed limit, before/after of the managed fields.
  returned: when diff mode is on (--diff); empty otherwise
  type: list
  elements: dict
"""

from ansible.module_utils.prefect_kind_concurrency_limits import ConcurrencyLimitsModule  # noqa: E402


def main():
    ConcurrencyLimitsModule().run()


if __name__ == "__main__":
    main()
