#!/usr/bin/python
# Copyright: prefect-stack contributors
# MIT License (see LICENSE at the top of the repository)


DOCUMENTATION = r"""
---
module: prefect_work_queues
short_description: Manage Prefect 3 work queues (bulk, idempotent, check and diff mode)
description:
  - Creates, updates and deletes the queues of Prefect work pools from a list, comparing each
    declared queue with the server's and writing only what differs, as the C(prefect_work_queue)
    resource of Prefect's Terraform provider does.
  - "All items are validated before anything is written: the pool exists (one read for all
    pools), names (no C(/ % & > <) or control characters, at most 255 characters), priority of 1
    or more, unique among the declared queues of a pool, concurrency limit of 0 or more,
    unknown options, duplicates of O(work_queues[].work_pool) and O(work_queues[].name).
    Messages name the item and the field, e.g. 'work_queues[1] (cluster-pool/ml): priority: ...'."
  - Every pool has a C(default) queue that Prefect creates with the pool and that cannot be
    deleted. It can be declared to set its priority, limit, description or pause;
    O(work_queues[].state=absent) on it fails validation, and O(prune) never takes it.
  - "Priorities are unique within a pool: when a queue takes a priority another queue holds,
    Prefect moves that queue and the ones behind it down by one. The module writes the declared
    priorities of a pool one by one in ascending order and, when such a move would shift a declared
    queue off its priority, writes that queue's priority again, so that one run reaches the
    declared state (undeclared queues, the C(default) queue among them when not declared, may
    move)."
  - Work queues carry no tags. The queues this module creates or finds declared are recorded on
    the server, in the Prefect variable C(prefect_stack_managed_work_queues) (tagged
    C(prefect-stack:record)); O(prune) deletes only recorded queues, so queues made in the UI or
    by a worker started with C(--work-queue) are never pruned.
version_added: "0.3.0"
author: prefect-stack contributors
extends_documentation_fragment:
  - prefect_api
  - prefect_api.attributes
options:
  prune:
    description:
      - For each pool named in O(work_queues), delete the queues this module recorded that are not
        declared (any more). Queues of other pools are left alone.
    type: bool
    default: false
  declared_work_pools:
    description:
      - Work pools declared alongside, for example by M(prefect_work_pools) in the same play. In
        check mode a queue of one of these that is not on the server yet is a warning and the
        queue is planned as created; a queue of any other pool that does not exist fails
        validation.
    type: list
    elements: str
    default: []
  work_queues:
    description: Work queues to manage.
    type: list
    elements: dict
    required: true
    suboptions:
      work_pool:
        description: Name of the work pool the queue belongs to; the pool must exist.
        type: str
        required: true
      name:
        description: Queue name, without C(/ % & > <) or control characters, at most 255
          characters. C(default) is the pool's default queue.
        type: str
        required: true
      description:
        description: Description; left as it is on the server when not given.
        type: str
      priority:
        description:
          - 1 is the highest priority; unique among the declared queues of a pool. Left as it is
            on the server when not given (a new queue then takes the first free priority).
        type: int
      concurrency_limit:
        description:
          - Maximum concurrent flow runs of the queue, 0 to 2147483647; C(-1) removes the limit,
            as in M(prefect_work_pools). Left as it is on the server when not given (or null).
        type: int
      is_paused:
        description: Whether the queue is paused; left as it is on the server when not given.
        type: bool
      state:
        description: C(absent) deletes the queue (not allowed for a pool's default queue).
        type: str
        choices: [present, absent]
        default: present
attributes:
  diff_mode:
    description:
      - Per queue before/after of the declared fields only (a field left out is neither compared
        nor shown).
notes:
  - The record of managed queues is written once when its content changes (a queue created,
    adopted, deleted, or found deleted out of band); a run that changes nothing writes nothing.
"""

EXAMPLES = r"""
- name: Apply work queues
  prefect_work_queues:
    api_url: http://127.0.0.1:4200/api
    api_auth_string: "{{ prefect_api_auth_string }}"
    declared_work_pools: [cluster-pool]
    prune: true
    work_queues:
      - work_pool: cluster-pool
        name: default
        priority: 10
      - work_pool: cluster-pool
        name: ml
        description: Training runs, two at a time
        priority: 1
        concurrency_limit: 2
      - work_pool: cluster-pool
        name: backfill
        priority: 2
        is_paused: true
      - work_pool: cluster-pool
        name: old-queue
        state: absent
"""

RETURN = r"""
results:
  description: One entry per declared queue, then one per pruned queue.
  returned: always
  type: list
  elements: dict
  contains:
    name: {description: C(<work_pool>/<name>), type: str}
    action: {description: created, updated, deleted or unchanged, type: str}
    work_pool: {description: Pool name, type: str}
    id: {description: Queue id (none for a queue still to create), type: str}
    pruned: {description: True for a queue deleted by O(prune), type: bool}
    note: {description: Why a queue whose declared fields match is written again, type: str}
  sample: [{name: cluster-pool/ml, action: created, work_pool: cluster-pool, id: 0b1c...}]
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
  description: How many queues were created, updated, deleted or left unchanged.
  returned: always
  type: dict
  sample: {created: 1, unchanged: 2}
diff:
  description: Per changed queue, before/after of the declared fields.
  returned: when diff mode is on (--diff); empty otherwise
  type: list
  elements: dict
"""

from ansible.module_utils.prefect_kind_work_queues import WorkQueuesModule  # noqa: E402


def main():
    WorkQueuesModule().run()


if __name__ == "__main__":
    main()
