# Copyright: prefect-stack contributors
# MIT License (see LICENSE at the top of the repository)
"""The work pools kind of the ``prefect_*`` object modules, run by
``library/prefect_work_pools.py`` and planned with the other kinds by ``prefect_plan``."""

import copy
import os

from ansible.module_utils import prefect_worker_schema
from ansible.module_utils.prefect_api import (
    SECRET_FIELDS_SPEC,
    PrefectAPIError,
    PrefectObjectsModule,
    mask_value,
    q,
)
from ansible.module_utils.prefect_compare import collect_strings
from ansible.module_utils.prefect_validate import (
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

    def __init__(self, module=None):
        super().__init__(module)
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
