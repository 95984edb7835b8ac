#!/usr/bin/python
# Copyright: prefect-stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


DOCUMENTATION = r"""
---
module: prefect_work_pools
short_description: Manage Prefect 3 work pools (bulk, idempotent, check and diff mode)
description:
  - Creates, updates and deletes Prefect work pools from a list, comparing each declared pool
    with the server's and writing only what differs.
  - A new pool gets the default base job template of its type (as C(prefect work-pool create)
    does), read from the server's worker metadata; C(job_variables) then set the defaults of
    that template's variables.
  - All items are validated before anything is written (unknown type, unknown job variable,
    negative concurrency limit, type change of an existing pool, duplicates).
version_added: "0.1.0"
author: prefect-stack contributors
options:
  api_url:
    description: Prefect API URL, for example C(http://127.0.0.1:4200/api).
    type: str
    required: true
  api_auth_string:
    description: C(user:password) for the server's basic auth.
    type: str
  validate_certs:
    description: Verify TLS certificates of an C(https) API URL.
    type: bool
    default: true
  timeout:
    description: Seconds to wait for each API call.
    type: float
    default: 30
  work_pools:
    description: Work pools to manage.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Work pool name.
        type: str
        required: true
      type:
        description: Worker type (C(process), C(docker), C(kubernetes), C(cloud-run), ...).
          Cannot change on an existing pool.
        type: str
        default: process
      description:
        description: Description; left as it is on the server when not given.
        type: str
      concurrency_limit:
        description:
          - Maximum concurrent flow runs of the pool; C(-1) removes the limit.
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
            template. Variables you stop declaring keep their last default."
        type: dict
      base_job_template:
        description:
          - A complete base job template (C(job_configuration) and C(variables)) managed as a
            whole; C(job_variables) are applied on top of it. Write Prefect's C({{ }})
            placeholders with C(!unsafe) in group_vars.
        type: dict
      state:
        description: C(absent) deletes the pool (its deployments are deleted by the server).
        type: str
        choices: [present, absent]
        default: present
attributes:
  check_mode:
    support: full
    description: Reports what would be created, updated or deleted; makes no write call.
  diff_mode:
    support: full
    description: Per pool before/after of the managed fields.
  idempotent:
    support: full
    description: A second run with the same input reports C(changed=false) and makes no write call.
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

import copy  # noqa: E402

from ansible.module_utils.prefect_api import Change, PrefectAPIError, PrefectObjectsModule, q  # noqa: E402

# (option, API field) managed only when the option is given
OPTIONAL_FIELDS = (
    ("description", "description"),
    ("concurrency_limit", "concurrency_limit"),
    ("paused", "is_paused"),
)

ITEM_SPEC = dict(
    name=dict(type="str", required=True),
    type=dict(type="str", default="process"),
    description=dict(type="str"),
    concurrency_limit=dict(type="int"),
    paused=dict(type="bool"),
    job_variables=dict(type="dict"),
    base_job_template=dict(type="dict"),
    state=dict(type="str", choices=["present", "absent"], default="present"),
)


class WorkPoolsModule(PrefectObjectsModule):
    kind = "work_pools"
    item_spec = ITEM_SPEC

    def load(self):
        self.existing = {}
        for item in self.items:
            if item["name"]:
                self.existing[item["name"]] = self.client.get(
                    "/work_pools/{}".format(q(item["name"])), allow_404=True
                )
        self.defaults = {}
        need = [
            i
            for i in self.items
            if i["state"] == "present"
            and not i["base_job_template"]
            and not self.existing.get(i["name"])
        ]
        if need:
            try:
                view = self.client.get("/collections/views/aggregate-worker-metadata") or {}
            except PrefectAPIError:
                view = {}
            for workers in view.values():
                for worker_type, meta in (workers or {}).items():
                    self.defaults[worker_type] = meta.get("default_base_job_configuration") or {}

    def template_base(self, item):
        if item["base_job_template"] is not None:
            return copy.deepcopy(item["base_job_template"])
        pool = self.existing.get(item["name"])
        if pool:
            return copy.deepcopy(pool.get("base_job_template") or {})
        return copy.deepcopy(self.defaults.get(item["type"], {}))

    def validate_item(self, index, item):
        name = item["name"]
        if not name or not name.strip() or "/" in name or "%" in name:
            self.errors.add(index, name, "name", "must be non-empty, without '/' or '%'")
            return
        if item["state"] == "absent":
            return
        pool = self.existing.get(name)
        if pool and pool["type"] != item["type"]:
            self.errors.add(
                index,
                name,
                "type",
                "the pool exists with type {!r}; the type of a "
                "work pool cannot change (remove it with state: absent first)".format(pool["type"]),
            )
        if (
            not pool
            and self.defaults
            and item["type"] not in self.defaults
            and item["base_job_template"] is None
        ):
            self.errors.add(
                index,
                name,
                "type",
                "unknown work pool type {!r}; known types: {}".format(
                    item["type"], ", ".join(sorted(self.defaults))
                ),
            )
        if item["concurrency_limit"] is not None and item["concurrency_limit"] < -1:
            self.errors.add(
                index, name, "concurrency_limit", "must be 0 or more (or -1 for no limit)"
            )
        template = item["base_job_template"]
        if template is not None and not isinstance(template.get("variables"), dict):
            self.errors.add(
                index,
                name,
                "base_job_template",
                "needs 'job_configuration' and a 'variables' JSON schema",
            )
            return
        if item["job_variables"]:
            props = (self.template_base(item).get("variables") or {}).get("properties") or {}
            for key in item["job_variables"]:
                if props and key not in props:
                    self.errors.add(
                        index,
                        name,
                        f"job_variables.{key}",
                        "not a variable of the {} base job template (variables: {})".format(
                            item["type"], ", ".join(sorted(props))
                        ),
                    )

    def desired_template(self, item):
        template = self.template_base(item)
        if item["job_variables"]:
            props = template.setdefault("variables", {}).setdefault("properties", {})
            for key, value in item["job_variables"].items():
                props.setdefault(key, {})["default"] = value
        return template

    def view(self, pool, item):
        out = {
            "name": pool["name"],
            "type": pool["type"],
            "base_job_template": pool.get("base_job_template") or {},
        }
        # optional fields are compared only when declared
        for key, api_key in OPTIONAL_FIELDS:
            if item[key] is not None:
                out[key] = pool.get(api_key)
        return out

    def plan_item(self, item):
        name = item["name"]
        pool = self.existing.get(name)
        extra = {"id": pool["id"] if pool else None}
        if item["state"] == "absent":
            if not pool:
                return Change(name, "unchanged", extra=extra)
            return Change(
                name,
                "deleted",
                before=self.view(pool, item),
                after=None,
                apply=lambda: self.client.delete(f"/work_pools/{q(name)}"),
                extra=extra,
            )
        desired = {
            "name": name,
            "type": item["type"],
            "base_job_template": self.desired_template(item),
        }
        for key, _api_key in OPTIONAL_FIELDS:
            if item[key] is not None:
                desired[key] = item[key]
        if desired.get("concurrency_limit") == -1:
            desired["concurrency_limit"] = None  # -1: no limit
        if not pool:
            return Change(
                name,
                "created",
                before=None,
                after=desired,
                apply=lambda: self.create(desired, extra),
                extra=extra,
            )
        actual = self.view(pool, item)
        if actual == desired:
            return Change(name, "unchanged", extra=extra)
        return Change(
            name,
            "updated",
            before=actual,
            after=desired,
            apply=lambda: self.update(desired, actual),
            extra=extra,
        )

    def create(self, desired, extra):
        body = {
            "name": desired["name"],
            "type": desired["type"],
            "base_job_template": desired["base_job_template"],
        }
        for key, api_key in OPTIONAL_FIELDS:
            if key in desired:
                body[api_key] = desired[key]
        extra["id"] = self.client.post("/work_pools/", body)["id"]

    def update(self, desired, actual):
        body = {}
        for key, api_key in (*OPTIONAL_FIELDS, ("base_job_template", "base_job_template")):
            if key in desired and desired[key] != actual.get(key):
                body[api_key] = desired[key]
        self.client.patch("/work_pools/{}".format(q(desired["name"])), body)


def main():
    WorkPoolsModule().run()


if __name__ == "__main__":
    main()
