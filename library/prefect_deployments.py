#!/usr/bin/python
# Copyright: prefect-stack contributors
# MIT License (see LICENSE at the top of the repository)


DOCUMENTATION = r"""
---
module: prefect_deployments
short_description: Manage Prefect 3 deployments of local flow code (bulk, idempotent, check/diff)
description:
  - Creates, updates and deletes Prefect deployments from a list whose items use the schema of a
    deployment in C(prefect.yaml) (C(name), C(entrypoint), C(parameters), C(schedules),
    C(work_pool), C(tags), C(description), C(concurrency_limit)).
  - Deployments run flow code that lives on the worker host under O(project_dir), as
    C(prefect deploy) does for local code - the pull step is
    C(prefect.deployments.steps.set_working_directory) with that directory.
  - Each deployment is compared with the server's copy (only the fields this module manages; the
    server's own additions such as schedule ids are ignored) and written only when it differs.
  - All items are validated before anything is written - cron and timezone of every schedule,
    the entrypoint's file and function (parsed with C(ast), never imported), parameters the flow
    function does not take, a work pool that is neither declared nor on the server, duplicate
    names - and every message names the item and the field.
  - The options of each item are checked by the module itself, before any API call, and never
    coerced - a string is not a list, C(maybe) is not a boolean, C(rows=5) is not a mapping (a
    number is still read as the text of a string option). No value may hold a NUL character
    (Prefect's database refuses them); names (of the deployment, its flow, work pool and work
    queue) have at most 255 characters and no control characters. Messages echo at most 80
    characters of a value.
version_added: "0.1.0"
author: prefect-stack contributors
extends_documentation_fragment:
  - prefect_api
  - prefect_api.attributes
options:
  project_dir:
    description:
      - Directory on the managed host holding the flow code; entrypoints are relative to it and
        flow runs start in it.
    type: path
    required: true
  code_dir:
    description:
      - Directory on the managed host where the entrypoints are parsed for validation, when it
        is not O(project_dir) - for example the checkout the code is synced from, so that a
        C(--check) run before the sync validates the code that is about to be shipped.
    type: path
  declared_work_pools:
    description:
      - Names of the work pools declared alongside (for example by M(prefect_work_pools) in the
        same play). A deployment may name one of these or a pool that exists on the server;
        anything else fails validation.
    type: list
    elements: str
    default: []
  prune:
    description:
      - Delete deployments that carry the O(managed_label) label and are not declared.
        Deployments created by other means (the UI, C(prefect deploy)) are never pruned.
    type: bool
    default: false
  parallel_writes:
    description:
      - How many deployment writes run at the same time (deployments are independent).
    type: int
    default: 4
  managed_label:
    description:
      - Label (C(key=value)) put on every deployment this module writes; O(prune) only
        considers deployments that carry it.
    type: str
    default: managed-by=prefect-stack
  deployments:
    description: Deployments to manage.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description:
          - Deployment name. C(flow-name/deployment-name) sets the flow name as well.
          - Without C(/ % & > <) or control characters, at most 255 characters.
        type: str
        required: true
      flow_name:
        description:
          - Name of the flow. Defaults to the C(name=) of the C(@flow) decorator of the
            entrypoint function, else the function name with C(_) replaced by C(-) (Prefect's
            rule). When given it must match the decorator's name.
        type: str
      entrypoint:
        description: C(path/to/file.py:function), relative to O(project_dir).
        type: str
      parameters:
        description: Default parameters; each must be a parameter of the flow function.
        type: dict
        default: {}
      schedules:
        description:
          - List of C({cron, timezone, active, day_or}); C(timezone) defaults to C(UTC),
            C(active) and C(day_or) (booleans) to true. Only cron schedules are supported.
        type: list
        elements: dict
        default: []
      work_pool:
        description: C({name, work_queue_name, job_variables}).
        type: dict
      tags:
        description: Tags.
        type: list
        elements: str
        default: []
      description:
        description: Description.
        type: str
      version:
        description: Version string shown in the UI.
        type: str
      concurrency_limit:
        description:
          - Maximum concurrent runs of this deployment, 1 to 2147483647; omitted means no limit.
        type: int
      paused:
        description: Whether the deployment (and its schedules) is paused.
        type: bool
        default: false
      enforce_parameter_schema:
        description:
          - Have the server validate run parameters against the schema this module derives from
            the flow function signature (simple types only).
        type: bool
        default: false
      secret_fields:
        description:
          - "Dotted paths of values that are secrets, under C(parameters) or
            C(work_pool.job_variables); C(*) matches any key (C(parameters.db_password),
            C(work_pool.job_variables.credentials.*)). They are masked like the values of
            C(work_pool.job_variables.env): in the diff, the echoed invocation and every message,
            an API error included."
          - A path under another field fails validation, naming it.
        type: list
        elements: str
        default: []
      state:
        description: C(absent) deletes the deployment when it exists.
        type: str
        choices: [present, absent]
        default: present
attributes:
  diff_mode:
    description:
      - Per deployment before/after of the managed fields. The values of
        C(work_pool.job_variables.env) (where flows' secrets go) and of the item's
        O(deployments[].secret_fields) are masked there, in the echoed invocation and in every
        message; a changed one reads '******** (changed)'.
notes:
  - Bulk module; one call handles the whole list (a few read calls plus one write per changed
    deployment).
  - Ansible templates every string; write Prefect's own C({{ }}) placeholders (for example in
    job_variables) with C(!unsafe) in group_vars.
"""

EXAMPLES = r"""
- name: Apply deployments
  prefect_deployments:
    api_url: http://127.0.0.1:4200/api
    api_auth_string: "{{ prefect_api_auth_string }}"
    project_dir: /opt/prefect-agent/project
    declared_work_pools: [default-process-pool]
    deployments:
      - name: load-data/main
        entrypoint: flows/load_data.py:load_data
        schedules:
          - {cron: "0 0 1 * *", timezone: UTC}
        work_pool: {name: default-process-pool}
        tags: [ml]
"""

RETURN = r"""
results:
  description: One entry per declared deployment, then one per pruned deployment.
  returned: always
  type: list
  elements: dict
  contains:
    name: {description: C(flow/deployment), type: str, sample: load-data/main}
    action: {description: created, updated, deleted or unchanged, type: str}
    id: {description: Deployment id (none for one still to create), type: str}
    changed_fields: {description: Fields that differ (updates only), type: list}
summary:
  description: Count of items per action.
  returned: always
  type: dict
diff:
  description: Per changed deployment, before/after of the managed fields.
  returned: when diff mode is on (--diff); empty otherwise
  type: list
  elements: dict
"""

from ansible.module_utils.prefect_kind_deployments import DeploymentsModule  # noqa: E402


def main():
    DeploymentsModule().run()


if __name__ == "__main__":
    main()
