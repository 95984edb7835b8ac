#!/usr/bin/python
# Copyright: prefect-stack contributors
# MIT License (see LICENSE at the top of the repository)


DOCUMENTATION = r"""
---
module: prefect_automations
short_description: Manage Prefect 3 automations (bulk, idempotent, check and diff mode)
description:
  - Creates, updates and deletes Prefect automations from a list, comparing each declared
    automation with the server's and writing only what differs. Triggers and actions are written
    as Prefect's API takes them (C(AutomationCreate) of Prefect 3.9), plus name references the
    module resolves to ids.
  - "Name references: in an action, C(deployment: <flow>/<name>) instead of C(deployment_id) (for
    C(run-deployment), C(pause-deployment) and C(resume-deployment); C(source: selected) is
    implied) and C(work_pool: <name>) instead of C(work_pool_id) (for C(pause-work-pool) and
    C(resume-work-pool)). In the C(match) and C(match_related) labels of a trigger (nested
    triggers of C(compound) and C(sequence) triggers included), a value - or each value of a
    list - C(prefect.deployment.<flow>/<name>) becomes C(prefect.deployment.<id>) and
    C(prefect.work-pool.<name>) becomes C(prefect.work-pool.<id>), the resource ids of Prefect's
    events. Values ending in C(*) are patterns and are kept as they are."
  - "All items are validated before anything is written: the trigger (C(type) one of C(event),
    C(compound), C(sequence); for C(event): C(posture) C(Reactive) or C(Proactive), C(expect),
    C(after) and C(for_each) lists of strings, C(threshold) an integer of at least 1, C(within)
    seconds, at least 10 for a C(Proactive) trigger), each action (a known C(type), its known
    keys, the required ones, C(source) and its id), references to deployments and work pools
    that do not exist, duplicate names. Messages name the item and the field, e.g.
    'automations[0] (train-after-load): actions[0].deployment: no deployment train-model/main
    on the server (declared: none)'. What the module does not check (Prefect's guard against
    automations that run deployments in a loop, for instance) the server checks when the
    automation is written."
  - An automation is compared with the server's copy field by field, the server's defaults
    filled in on the declared side (C(threshold), C(within), C(for_each), the action fields left
    out...) and the server's own additions (trigger ids) ignored; an automation changed in the
    UI (disabled, say) is set back. Updates replace the whole automation (C(PUT)).
  - Automations are found by name. Prefect does not keep names unique - when the server holds
    several automations of a declared name, the one carrying O(managed_tag) is managed; the
    module refuses to guess between several carrying it, or several without it.
  - Every automation this module writes carries the O(managed_tag) tag; O(prune) deletes only
    automations with that tag, so automations made in the UI are never pruned.
version_added: "0.3.0"
author: prefect-stack contributors
extends_documentation_fragment:
  - prefect_api
  - prefect_api.attributes
options:
  prune:
    description:
      - Delete automations that carry the O(managed_tag) tag and are not declared.
    type: bool
    default: false
  managed_tag:
    description:
      - Tag put on every automation this module writes; O(prune) only deletes automations with
        it.
    type: str
    default: managed-by:prefect-stack
  declared_deployments:
    description:
      - Deployments (C(<flow>/<name>)) declared alongside, for example by M(prefect_deployments)
        in the same play. In check mode a reference to one of these that is not on the server
        yet is a warning and the automation is planned as created or updated; any other
        reference to a deployment that does not exist fails validation.
    type: list
    elements: str
    default: []
  automations:
    description: Automations to manage.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Name of the automation (the key; unique in the list).
        type: str
        required: true
      description:
        description: Description.
        type: str
        default: ""
      enabled:
        description: Whether the automation is evaluated.
        type: bool
        default: true
      tags:
        description: Tags of the automation (the O(managed_tag) tag is added).
        type: list
        elements: str
        default: []
      trigger:
        description:
          - The trigger, as Prefect's API takes it. C(type) (C(event) when left out) is
            C(event) (C(posture), C(expect), C(after), C(for_each), C(match), C(match_related),
            C(threshold), C(within)), C(compound) (C(triggers), C(require), C(within)) or
            C(sequence) (C(triggers), C(within)). C(within) is in seconds.
          - Required unless O(automations[].state=absent).
        type: dict
      actions:
        description:
          - Actions run when the trigger fires, each a mapping with a C(type) (C(run-deployment),
            C(pause-deployment), C(resume-deployment), C(cancel-flow-run), C(delete-flow-run),
            C(change-flow-run-state), C(suspend-flow-run), C(resume-flow-run),
            C(pause-work-queue), C(resume-work-queue), C(pause-work-pool), C(resume-work-pool),
            C(pause-automation), C(resume-automation), C(send-notification), C(call-webhook),
            C(do-nothing)) and that type's fields as Prefect's API takes them, C(deployment) and
            C(work_pool) references included. C(schedule_after) is in seconds.
          - Required, and not empty, unless O(automations[].state=absent).
        type: list
        elements: dict
      actions_on_trigger:
        description: Actions run when the trigger enters the triggered state.
        type: list
        elements: dict
        default: []
      actions_on_resolve:
        description: Actions run when the trigger resolves.
        type: list
        elements: dict
        default: []
      state:
        description: C(absent) deletes the automation.
        type: str
        choices: [present, absent]
        default: present
attributes:
  diff_mode:
    description:
      - Per automation before/after of the managed fields (name, description, enabled, tags,
        trigger and actions with the server's defaults filled in, references resolved to ids).
notes:
  - Ansible templates every string; write Prefect's own C({{ }}) placeholders (in the C(body) of
    a C(send-notification) action, for example) with C(!unsafe) in group_vars.
  - Metric triggers are a Prefect Cloud feature; a self-hosted server does not take them.
"""

EXAMPLES = r"""
- name: Run train-model/main when a run of load-data/main completes
  prefect_automations:
    api_url: http://127.0.0.1:4200/api
    api_auth_string: "{{ prefect_api_auth_string }}"
    declared_deployments: [load-data/main, train-model/main]
    prune: true
    automations:
      - name: train-after-load
        description: Train the model on the data load-data just wrote
        trigger:
          type: event
          posture: Reactive
          expect: [prefect.flow-run.Completed]
          match: {prefect.resource.id: prefect.flow-run.*}
          match_related: {prefect.resource.id: prefect.deployment.load-data/main}
          threshold: 1
          within: 0
        actions:
          - {type: run-deployment, deployment: train-model/main}
      - name: pause-pool-on-crashes
        trigger:
          type: event
          posture: Reactive
          expect: [prefect.flow-run.Crashed]
          match_related: {prefect.resource.id: prefect.work-pool.default-process-pool}
          threshold: 3
          within: 600
        actions:
          - {type: pause-work-pool, work_pool: default-process-pool}
      - name: old-alert
        state: absent
"""

RETURN = r"""
results:
  description: One entry per declared automation, then one per pruned automation.
  returned: always
  type: list
  elements: dict
  contains:
    name: {description: Automation name, type: str, sample: train-after-load}
    action: {description: created, updated, deleted or unchanged, type: str}
    id: {description: Automation id (none for one still to create), type: str}
    changed_fields: {description: Fields that differ (updates only), type: list}
  sample: [{name: train-after-load, action: created, id: 0b1c...}]
summary:
  description: How many automations were created, updated, deleted or left unchanged.
  returned: always
  type: dict
  sample: {created: 1, unchanged: 2}
diff:
  description: Per changed automation, before/after of the managed fields.
  returned: when diff mode is on (--diff); empty otherwise
  type: list
  elements: dict
"""

from ansible.module_utils.prefect_kind_automations import AutomationsModule  # noqa: E402


def main():
    AutomationsModule().run()


if __name__ == "__main__":
    main()
