#!/usr/bin/python
# Copyright: prefect-stack contributors
# MIT License (see LICENSE at the top of the repository)


DOCUMENTATION = r"""
---
module: prefect_work_pools
short_description: Manage Prefect 3 work pools (bulk, idempotent, check and diff mode)
description:
  - Creates, updates and deletes Prefect work pools from a list, comparing each declared pool
    with the server's and writing only what differs.
  - A new pool gets the default base job template of its type, as C(prefect work-pool create)
    does - from the worker class itself when O(worker_python) names (or the default path finds) a
    Python environment with the worker's package installed (C(prefect-gcp) for C(cloud-run-v2)),
    else from the server's worker metadata. C(job_variables) then set the defaults of that
    template's variables. An existing pool keeps its own template as the base.
  - "All items are validated before anything is written (unknown type, type change of an existing
    pool, negative concurrency limit, duplicates). Job variables are checked against the
    template's C(variables) JSON schema - unknown variables, wrong types, values outside an enum
    or a pattern, out-of-range numbers, missing required keys, required variables left without
    a value, block references to blocks that do not exist or are of another type - with a
    standard-library checker (plus C(jsonschema) when the module's Python has it). A declared
    C(base_job_template) is checked too (placeholders without a variable, invalid schema,
    defaults). Messages name the pool and the field, e.g.
    'work_pools[0] (cloud-run): job_variables.cpu: expected type string, got object'."
  - The options of each pool are checked by the module itself, before any API call, and never
    coerced - a list is not a string, C(maybe) is not a boolean (a number is still read as the
    text of a string option). No value may hold a NUL character (Prefect's database refuses
    them); the name and the type have at most 255 characters and no control characters.
    Messages echo at most 80 characters of a value.
  - Values under secret-looking keys (password, token, secret, api_key, service_account_info,
    ...), the variables of every C(env) (where flows' secrets go) and the pool's
    O(work_pools[].secret_fields) are masked in the diff, in the echoed invocation and in every
    message.
version_added: "0.1.0"
author: prefect-stack contributors
extends_documentation_fragment:
  - prefect_api
  - prefect_api.attributes
options:
  worker_python:
    description:
      - Python interpreter of an environment where the workers are installed (the worker's
        virtualenv), asked for the default base job template of the types of pools to create,
        C(get_default_base_job_template) of the worker class of its type, the
        schema the worker itself validates against. Run only when a pool is to be created
        without O(work_pools[].base_job_template); it imports C(prefect), which takes seconds.
      - When not given, C(/opt/prefect-agent/venv/bin/python) is used if it exists (the
        C(prefect_agent) role's virtualenv), else the server's worker metadata is read (the
        collection registry, or the copy bundled with the server when offline, which can lag the
        worker's release). An empty string skips the interpreter.
      - A type the environment has no worker for falls back to the server's metadata, with a
        warning.
    type: str
  work_pools:
    description: Work pools to manage.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Work pool name, without C(/ % & > <) or control characters, at most 255
          characters.
        type: str
        required: true
      type:
        description: Worker type (C(process), C(docker), C(kubernetes), C(cloud-run-v2), ...).
          Cannot change on an existing pool.
        type: str
        default: process
      description:
        description: Description; left as it is on the server when not given.
        type: str
      concurrency_limit:
        description:
          - Maximum concurrent flow runs of the pool, 0 to 2147483647; C(-1) removes the limit.
          - Left as it is on the server when not given (so that a role that only ensures the pool
            exists does not undo a limit set elsewhere).
        type: int
      paused:
        description: Whether the pool is paused; left as it is on the server when not given.
        type: bool
      job_variables:
        description:
          - "Defaults for the base job template's variables, for example C({env: {TZ: UTC},
            working_dir: /opt/prefect-agent/project}). Every key must be a variable of the
            template and every value must match its schema. Variables you stop declaring keep
            their last default."
          - "A variable that holds a block (C(credentials) of C(cloud-run-v2)) takes a block
            reference: Prefect's C({$ref: {block_document_id: <uuid>}}), or
            C({$ref: {block_type: gcp-credentials, name: my-creds}}) as in M(prefect_blocks),
            which is stored as the former. The block must exist (in check mode a missing named
            block is a warning)."
        type: dict
      base_job_template:
        description:
          - A complete base job template (C(job_configuration) and C(variables)) managed as a
            whole; C(job_variables) are applied on top of it. Write Prefect's C({{ }})
            placeholders with C(!unsafe) in group_vars.
        type: dict
      secret_fields:
        description:
          - "Dotted paths of values that are secrets, under C(job_variables) or
            C(base_job_template); C(*) matches any key (C(job_variables.db_url),
            C(base_job_template.job_configuration.labels.*)). They are masked in the diff, the
            echoed invocation and every message, an API error included."
          - A path under another field fails validation, naming it.
        type: list
        elements: str
        default: []
      state:
        description: C(absent) deletes the pool (its deployments are deleted by the server).
        type: str
        choices: [present, absent]
        default: present
"""

EXAMPLES = r"""
- name: Apply work pools
  prefect_work_pools:
    api_url: http://127.0.0.1:4200/api
    api_auth_string: "{{ prefect_api_auth_string }}"
    work_pools:
      - name: default-process-pool
        type: process
        concurrency_limit: 4
        job_variables:
          working_dir: /opt/prefect-agent/project
      - name: cloud-run
        type: cloud-run-v2
        job_variables:
          image: europe-west1-docker.pkg.dev/my-project/flows/ml:1.4.0
          region: europe-west1
          cpu: "2000m"
          memory: 4Gi
          credentials: {$ref: {block_type: gcp-credentials, name: gcp-credentials}}
"""

RETURN = r"""
results:
  description: One entry per declared pool.
  returned: always
  type: list
  elements: dict
  contains:
    name: {description: Pool name, type: str}
    action: {description: created, updated, deleted or unchanged, type: str}
    id: {description: Pool id (none for a pool still to create), type: str}
    template_source:
      description: Where the base job template came from (C(prefect-gcp 0.6.22 in
        /opt/prefect-agent/venv/bin/python), C(the server's worker metadata),
        C(base_job_template), C(the existing pool)); absent for deleted pools.
      type: str
summary:
  description: Count of items per action.
  returned: always
  type: dict
diff:
  description: Per changed pool, before/after of the managed fields.
  returned: when diff mode is on (--diff); empty otherwise
  type: list
  elements: dict
"""

from ansible.module_utils.prefect_kind_work_pools import WorkPoolsModule  # noqa: E402


def main():
    WorkPoolsModule().run()


if __name__ == "__main__":
    main()
