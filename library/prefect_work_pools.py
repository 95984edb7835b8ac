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

import copy  # noqa: E402
import os  # noqa: E402

from ansible.module_utils import prefect_worker_schema  # noqa: E402
from ansible.module_utils.prefect_api import (  # noqa: E402
    SECRET_FIELDS_SPEC,
    PrefectAPIError,
    PrefectObjectsModule,
    mask_value,
    q,
)
from ansible.module_utils.prefect_compare import collect_strings  # noqa: E402
from ansible.module_utils.prefect_validate import (  # noqa: E402
    BANNED_NAME_CHARACTERS,
    MAX_INT,
    join,
    name_problem,
    short,
)

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
    secret_fields=SECRET_FIELDS_SPEC,
    state=dict(type="str", choices=["present", "absent"], default="present"),
)

EXTRA_SPEC = dict(worker_python=dict(type="str"))

SERVER_SOURCE = "the server's worker metadata"


def set_in(node, path, value):
    """Replace the value at ``path`` (keys and list indexes) inside ``node``."""
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value


class WorkPoolsModule(PrefectObjectsModule):
    kind = "work_pools"
    item_spec = ITEM_SPEC
    extra_spec = EXTRA_SPEC
    parallel_writes = 4  # pools are independent of each other
    name_fields = ("name", "type")
    secret_field_roots = {
        "job_variables": "base_job_template.variables.properties",
        "base_job_template": "base_job_template",
    }

    def __init__(self):
        super().__init__()
        self.schema = prefect_worker_schema
        self.blocks = {}  # block lookups: ("id", id) or ("name", slug, name) -> document or None
        self.resolved = {}  # pool name -> {path: Prefect's {$ref: {block_document_id}}}

    # ---- read-only lookups --------------------------------------------------------------
    def load(self):
        # one filter call (paged) for every declared pool, not a read per pool
        names = sorted(set(item["name"] for item in self.items if item["name"]))
        self.existing = dict.fromkeys(names)  # name -> the server's pool, or None
        if names:
            body = {"work_pools": {"name": {"any_": names}}}
            for row in self.client.filter_all("/work_pools/filter", body, expect=len(names)):
                if row["name"] in self.existing:
                    self.existing[row["name"]] = row
        self.defaults = {}  # worker type -> default base job template
        self.sources = {}  # worker type -> where that template came from
        self.known_types = set()
        need = sorted(
            set(
                i["type"]
                for i in self.items
                if i["state"] == "present"
                and i["base_job_template"] is None
                and i["name"]
                and not self.existing.get(i["name"])
            )
        )
        python = self.worker_python()
        missing_in_worker = []
        if need and python:
            missing_in_worker = self.ask_worker(python, need)
        rest = [t for t in need if t not in self.defaults]
        if rest:
            self.ask_server(rest)
        for worker_type in missing_in_worker:
            if worker_type in self.defaults:
                self.module.warn(
                    f"{python} has no {worker_type!r} worker (is its collection, e.g. "
                    "prefect-gcp, installed there?): the default base job template of new "
                    f"{worker_type} pools comes from {SERVER_SOURCE}, which may differ from the "
                    "worker's release"
                )

    def worker_python(self):
        """The interpreter to ask for default templates ('' when there is none to ask)."""
        python = self.module.params["worker_python"]
        if python is None:
            default = self.schema.DEFAULT_WORKER_PYTHON
            return default if os.access(default, os.X_OK) else ""
        if python and not os.access(python, os.X_OK):
            self.errors.add(None, None, "worker_python", f"{python} is not an executable file")
            return ""
        return python

    def ask_worker(self, python, need):
        templates, sources, error = self.schema.ask_worker_python(python, need)
        if error:
            message = f"{python} cannot give the default base job templates: {error}"
            if self.module.params["worker_python"]:
                self.errors.add(None, None, "worker_python", message)
            else:
                self.module.warn(f"{message}; using {SERVER_SOURCE}")
            return []
        missing = []
        for worker_type in need:
            if templates.get(worker_type):
                self.defaults[worker_type] = templates[worker_type]
                self.sources[worker_type] = "{} in {}".format(
                    sources.get(worker_type, "worker"), python
                )
                self.known_types.add(worker_type)
            else:
                missing.append(worker_type)
        return missing

    def ask_server(self, need):
        try:
            view = self.client.get("/collections/views/aggregate-worker-metadata") or {}
        except PrefectAPIError:
            view = {}
        for workers in view.values():
            for worker_type, meta in (workers or {}).items():
                self.known_types.add(worker_type)
                template = meta.get("default_base_job_configuration") or {}
                if worker_type in need and worker_type not in self.defaults:
                    self.defaults[worker_type] = template
                    self.sources[worker_type] = SERVER_SOURCE

    def read_block(self, ref):
        if "block_document_id" in ref:
            key = ("id", str(ref["block_document_id"]))
            path = f"/block_documents/{q(key[1])}"
        else:
            key = ("name", ref["block_type"], ref["name"])
            path = "/block_types/slug/{}/block_documents/name/{}".format(
                q(ref["block_type"]), q(ref["name"])
            )
        if key not in self.blocks:
            self.blocks[key] = self.client.get(path, allow_404=True)
        return self.blocks[key]

    # ---- templates ----------------------------------------------------------------------
    def template_base(self, item):
        if item["base_job_template"] is not None:
            return copy.deepcopy(item["base_job_template"])
        pool = self.existing.get(item["name"])
        if pool:
            return copy.deepcopy(pool.get("base_job_template") or {})
        return copy.deepcopy(self.defaults.get(item["type"], {}))

    def template_source(self, item):
        if item["base_job_template"] is not None:
            return "base_job_template"
        if self.existing.get(item["name"]):
            return "the existing pool"
        return self.sources.get(item["type"])

    def desired_template(self, item):
        template = self.template_base(item)
        job_variables = copy.deepcopy(item["job_variables"] or {})
        for path, ref in self.resolved.get(item["name"], {}).items():
            set_in(job_variables if path[0] == "job_variables" else template, path[1:], ref)
        if job_variables:
            props = template.setdefault("variables", {}).setdefault("properties", {})
            for key, value in job_variables.items():
                props.setdefault(key, {})["default"] = value
        return template

    # ---- validation ---------------------------------------------------------------------
    def validate_item(self, index, item):
        name = item["name"]
        # Prefect's rule for work pool names (NonEmptyishName)
        if not name.strip("' \"") or any(c in name for c in BANNED_NAME_CHARACTERS):
            self.errors.add(
                index, name, "name", "must be non-empty, without any of " + BANNED_NAME_CHARACTERS
            )
            return
        if item["state"] == "absent":
            return
        self.register_secrets(item)
        pool = self.existing.get(name)
        if pool and pool["type"] != item["type"]:
            self.errors.add(
                index,
                name,
                "type",
                "the pool exists with type {!r}; the type of a "
                "work pool cannot change (remove it with state: absent first)".format(pool["type"]),
            )
        limit = item["concurrency_limit"]
        if limit is not None and not -1 <= limit <= MAX_INT:
            self.errors.add(
                index,
                name,
                "concurrency_limit",
                f"must be 0 or more (or -1 for no limit) and at most {MAX_INT}, got {limit}",
            )
        template = item["base_job_template"]
        if template is not None:
            if not self.validate_template(index, name, template):
                return
        elif not pool and item["type"] not in self.defaults:
            if self.known_types:
                self.errors.add(
                    index,
                    name,
                    "type",
                    "unknown work pool type {}; known types: {} (or give base_job_template)".format(
                        short(item["type"]), ", ".join(sorted(self.known_types))
                    ),
                )
                return
            if item["job_variables"]:
                self.errors.add(
                    index,
                    name,
                    "type",
                    "no default base job template is known for type {} ({} is unavailable "
                    "and no worker_python answered): give base_job_template".format(
                        short(item["type"]), SERVER_SOURCE
                    ),
                )
                return
        self.validate_variables(index, item)

    def validate_template(self, index, name, template):
        """Checks of a declared base_job_template; False when it cannot be used at all."""
        if template == {}:
            return True  # the server's "no template"
        if not template.get("job_configuration") or not isinstance(template.get("variables"), dict):
            self.errors.add(
                index,
                name,
                "base_job_template",
                "needs 'job_configuration' and a 'variables' JSON schema",
            )
            return False
        undeclared = self.schema.undeclared_placeholders(template)
        if undeclared:
            self.errors.add(
                index,
                name,
                "base_job_template.job_configuration",
                "uses variables that base_job_template.variables.properties does not declare: "
                + ", ".join("{{ " + v + " }}" for v in undeclared),
            )
        problem = self.schema.jsonschema_schema_error(template["variables"])
        if problem:
            self.errors.add(
                index, name, "base_job_template.variables", "not a valid JSON schema: " + problem
            )
            return False
        return True

    def validate_variables(self, index, item):
        """job_variables (and a declared template's defaults) against the variables schema."""
        name = item["name"]
        fmt = self.schema.format_path
        variables = self.template_base(item).get("variables") or {}
        checker = self.schema.VariablesSchema(variables)
        props = checker.properties
        job_variables = item["job_variables"] or {}
        before = len(self.errors.errors)
        checked = {}  # variable -> (path of its value, value)
        for key, value in job_variables.items():
            if props and key not in props:
                self.errors.add(
                    index,
                    name,
                    join("job_variables", key),
                    "not a variable of the {} base job template (variables: {})".format(
                        item["type"], ", ".join(sorted(props))
                    ),
                )
            elif props:
                checked[key] = (("job_variables", key), value)
        if item["base_job_template"] is not None:
            for key, sub in props.items():
                if isinstance(sub, dict) and "default" in sub and key not in job_variables:
                    where = ("base_job_template", "variables", "properties", key, "default")
                    checked[key] = (where, sub["default"])
        for key, (path, value) in checked.items():
            for where, message in checker.variable_errors(key, value, path):
                self.errors.add(index, name, fmt(where), message)
        for key in checker.required:
            value = job_variables.get(key, (props.get(key) or {}).get("default"))
            if value is None:
                self.errors.add(
                    index,
                    name,
                    f"job_variables.{key}",
                    "required by the {} base job template, which has no default for it: "
                    "set it in job_variables".format(item["type"]),
                )
        self.check_block_refs(index, name, checker.block_refs)
        if len(self.errors.errors) > before or not checked:
            return
        # jsonschema, when the module's python has it, for what the stdlib subset leaves out
        instance = dict((key, value) for key, (_path, value) in checked.items())
        for where, message in self.schema.jsonschema_errors(instance, variables) or []:
            if where and where[0] in checked:
                where = checked[where[0]][0] + tuple(where[1:])
            else:
                where = ("job_variables",) + tuple(where)
            self.errors.add(index, name, fmt(where), message)

    def check_block_refs(self, index, name, refs):
        """Block references must be well formed and name an existing block of the right type."""
        fmt = self.schema.format_path
        for path, slug, value in refs:
            field = fmt(path)
            problem = self.schema.check_block_ref(value)
            ref = value["$ref"] if problem is None else {}
            for key in ("block_type", "name"):  # read_block puts them in a URL path
                if problem is None and key in ref and name_problem(ref[key]):
                    problem = f"$ref.{key}: {name_problem(ref[key])}"
            if problem:
                self.errors.add(index, name, field, problem)
                continue
            doc = self.read_block(ref)
            if "block_document_id" in ref:
                label = "block document {}".format(ref["block_document_id"])
            else:
                label = "block {}/{}".format(ref["block_type"], ref["name"])
            if doc is None:
                if "block_document_id" not in ref and self.module.check_mode:
                    self.module.warn(
                        f"work_pools[{index}] ({name}): {field}: {label} does not exist yet; "
                        "the run fails unless it is created first"
                    )
                    continue
                self.errors.add(
                    index,
                    name,
                    field,
                    f"{label} does not exist on the server (create it first, e.g. with "
                    "prefect_blocks)",
                )
                continue
            actual = (doc.get("block_type") or {}).get("slug")
            if actual and actual != slug:
                self.errors.add(
                    index,
                    name,
                    field,
                    f"{label} is a {actual!r} block; this variable takes a {slug!r} block",
                )
                continue
            self.resolved.setdefault(name, {})[path] = {
                "$ref": {"block_document_id": str(doc["id"])}
            }

    # ---- secrets ------------------------------------------------------------------------
    def register_secrets(self, item):
        """Secret-looking values never show in any output (Ansible's no_log filter)."""
        values = collect_strings(
            item["job_variables"] or {}, self.schema.secret_paths(item["job_variables"] or {})
        )
        template = item["base_job_template"]
        if isinstance(template, dict):
            values += collect_strings(template, self.schema.template_secret_paths(template, ""))
        self.register_values(values)

    def secret_view_path(self, root, rest):
        if root == "job_variables":
            # a job variable is the default of the template's variable of that name
            rest = rest[:1] + ["default"] + rest[1:] if rest else ["*", "default"]
        return super().secret_view_path(root, rest)

    def sanitize_item(self, item):
        item = dict(item)
        if item.get("job_variables"):
            item["job_variables"] = mask_value(
                item["job_variables"], self.schema.secret_paths(item["job_variables"])
            )
        if isinstance(item.get("base_job_template"), dict):
            item["base_job_template"] = mask_value(
                item["base_job_template"],
                self.schema.template_secret_paths(item["base_job_template"], ""),
            )
        return item

    def secret_paths_of(self, *views):
        paths = []
        for view in views:
            if view:
                for path in self.schema.template_secret_paths(view.get("base_job_template")):
                    if path not in paths:
                        paths.append(path)
        return paths

    # ---- planning -----------------------------------------------------------------------
    def item_extra(self, item, row):
        extra = super().item_extra(item, row)
        if item["state"] == "present":
            extra["template_source"] = self.template_source(item)
        return extra

    def desired_view(self, item):
        desired = {
            "name": item["name"],
            "type": item["type"],
            "base_job_template": self.desired_template(item),
        }
        for key, _api_key in OPTIONAL_FIELDS:
            if item[key] is not None:
                desired[key] = item[key]
        if desired.get("concurrency_limit") == -1:
            desired["concurrency_limit"] = None  # -1: no limit
        return desired

    def actual_view(self, row, item=None, desired=None):
        out = {
            "name": row["name"],
            "type": row["type"],
            "base_job_template": row.get("base_job_template") or {},
        }
        # optional fields are compared only when declared
        for key, api_key in OPTIONAL_FIELDS:
            if item[key] is not None:
                out[key] = row.get(api_key)
        return out

    def diff_secret_paths(self, item, before, after):
        return self.secret_paths_of(before, after) + self.secret_view_paths(item)

    # ---- writes -------------------------------------------------------------------------
    def create(self, item, desired, extra):
        body = {
            "name": desired["name"],
            "type": desired["type"],
            "base_job_template": desired["base_job_template"],
        }
        for key, api_key in OPTIONAL_FIELDS:
            if key in desired:
                body[api_key] = desired[key]
        extra["id"] = self.client.post("/work_pools/", body)["id"]

    def update(self, item, row, actual, desired, extra):
        body = {}
        for key, api_key in (*OPTIONAL_FIELDS, ("base_job_template", "base_job_template")):
            if key in desired and desired[key] != actual.get(key):
                body[api_key] = desired[key]
        self.client.patch("/work_pools/{}".format(q(desired["name"])), body)

    def delete(self, key, row):
        self.client.delete(f"/work_pools/{q(key)}")


def main():
    WorkPoolsModule().run()


if __name__ == "__main__":
    main()
