# Copyright: prefect-stack contributors
# MIT License (see LICENSE at the top of the repository)
"""The deployments kind of the ``prefect_*`` object modules, run by
``library/prefect_deployments.py`` and planned with the other kinds by ``prefect_plan``."""

import ast
import contextlib
import os
import re
from functools import partial

from ansible.module_utils.prefect_api import (
    SECRET_FIELDS_SPEC,
    PrefectObjectsModule,
)
from ansible.module_utils.prefect_compare import (
    collect_strings,
    mask_value,
)
from ansible.module_utils.prefect_cron import CronError, validate_cron
from ansible.module_utils.prefect_validate import (
    BANNED_NAME_CHARACTERS,
    MAX_INT,
    check_options,
    clip,
    convert,
    join,
    short,
)

try:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError
except ImportError:  # python < 3.9
    ZoneInfo = None

PULL_STEP = "prefect.deployments.steps.set_working_directory"
SCHEDULE_KEYS = ("cron", "timezone", "active", "day_or")
# Flows' secrets go into the environment of their runs: masked in the diff, the echoed
# invocation and every message.
ENV_VALUES_PATH = "job_variables.env.*"
ENV_VALUES_PATHS = ("job_variables.env.*",)
WORK_POOL_KEYS = ("name", "work_queue_name", "job_variables")
# the keys of work_pool, typed before the lookups use them (unknown keys: validate_item)
WORK_POOL_SPEC = dict(
    name=dict(type="str"), work_queue_name=dict(type="str"), job_variables=dict(type="dict")
)
NAME_BAD = re.compile("[" + re.escape(BANNED_NAME_CHARACTERS) + "]")
JSON_TYPES = {
    "str": "string",
    "int": "integer",
    "float": "number",
    "bool": "boolean",
    "list": "array",
    "dict": "object",
}

ITEM_SPEC = dict(
    name=dict(type="str", required=True),
    flow_name=dict(type="str"),
    entrypoint=dict(type="str"),
    parameters=dict(type="dict", default={}),
    schedules=dict(type="list", elements="dict", default=[]),
    work_pool=dict(type="dict"),
    tags=dict(type="list", elements="str", default=[]),
    description=dict(type="str"),
    version=dict(type="str"),
    concurrency_limit=dict(type="int"),
    paused=dict(type="bool", default=False),
    enforce_parameter_schema=dict(type="bool", default=False),
    secret_fields=SECRET_FIELDS_SPEC,
    state=dict(type="str", choices=["present", "absent"], default="present"),
)


def top_level_functions(path):
    """Parse ``path``; return (its top-level function nodes, error or None)."""
    try:
        with open(path, "rb") as handle:
            tree = ast.parse(handle.read(), filename=path)
    except SyntaxError as err:
        return [], f"syntax error in {path} line {err.lineno}: {err.msg}"
    except (OSError, ValueError) as err:  # unreadable, or NUL bytes in the source
        return [], f"cannot parse {path}: {err}"
    return [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))], None


def flow_function(path, func_name, parsed=None):
    """Return (function node or None, list of function names, error or None) of ``path``;
    ``parsed`` (path -> what ``top_level_functions`` gave) keeps each file parsed once."""
    if parsed is None:
        parsed = {}
    if path not in parsed:
        parsed[path] = top_level_functions(path)
    funcs, error = parsed[path]
    if error:
        return None, [], error
    for node in funcs:
        if node.name == func_name:
            return node, [f.name for f in funcs], None
    return None, [f.name for f in funcs], None


def decorator_flow_name(node):
    """``name=`` of an ``@flow(...)``/``@prefect.flow(...)`` decorator, if a literal."""
    for deco in node.decorator_list:
        if isinstance(deco, ast.Call):
            target = deco.func
            label = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
            if label != "flow":
                continue
            for kw in deco.keywords:
                if kw.arg == "name" and isinstance(kw.value, ast.Constant):
                    return kw.value.value
    return None


def parameter_schema(node):
    """A simple OpenAPI schema for the flow function's parameters (what the UI shows)."""
    args = node.args
    positional = args.posonlyargs + args.args
    defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    pairs = list(zip(positional, defaults)) + list(zip(args.kwonlyargs, args.kw_defaults))  # noqa: B905
    props, required = {}, []
    for position, (arg, default) in enumerate(pairs):
        prop = {"title": arg.arg, "position": position}
        ann = arg.annotation
        if isinstance(ann, ast.Name) and ann.id in JSON_TYPES:
            prop["type"] = JSON_TYPES[ann.id]
        if default is None:
            required.append(arg.arg)
        else:
            with contextlib.suppress(ValueError):
                prop["default"] = ast.literal_eval(default)
        props[arg.arg] = prop
    schema = {"type": "object", "title": "Parameters", "properties": props}
    if required:
        schema["required"] = required
    return schema, args.kwarg is not None


class DeploymentsModule(PrefectObjectsModule):
    kind = "deployments"
    api_path = "/deployments"
    item_spec = ITEM_SPEC
    supports_prune = True
    report_changed_fields = True
    name_fields = ("name", "flow_name", "work_pool.name", "work_pool.work_queue_name")
    secret_field_roots = {"parameters": "parameters", "work_pool.job_variables": "job_variables"}
    extra_spec = dict(
        project_dir=dict(type="path", required=True),
        code_dir=dict(type="path"),
        declared_work_pools=dict(type="list", elements="str", default=[]),
        prune=dict(type="bool", default=False),
        managed_label=dict(type="str", default="managed-by=prefect-stack"),
        parallel_writes=dict(type="int", default=4),
    )

    def __init__(self, module=None):
        super().__init__(module)
        p = self.module.params
        self.project_dir = p["project_dir"]
        self.code_dir = p["code_dir"] or p["project_dir"]
        self.parallel_writes = max(1, p["parallel_writes"])
        key, _, value = p["managed_label"].partition("=")
        self.label = (key, value or "true")
        self.code = {}  # index -> (flow name, schema)
        self.parsed = {}  # path -> its top-level functions (each file parsed once)
        for item in self.items:
            if isinstance(item, dict) and isinstance(item["name"], str) and "/" in item["name"]:
                flow, _, name = item["name"].partition("/")
                item["flow_name"] = item["flow_name"] or flow
                item["name"] = name

    def item_key(self, item):
        return (item["flow_name"] or "", item["name"])

    def item_label(self, item):
        return "{}/{}".format(*self.item_key(item)) if item["flow_name"] else item["name"]

    # ---- read-only lookups --------------------------------------------------------------
    def load(self):
        # flow names come from the code; resolve them first (validation reports problems)
        for index, item in enumerate(self.items):
            if item["state"] == "present" and item["entrypoint"]:
                self.inspect_code(index, item)
        # read only the declared flows and deployments (all of them when pruning), and the
        # work pools named: three filter calls (and their pages) at the same time
        names = sorted(set(i["flow_name"] for i in self.items if i["flow_name"]))
        dep_names = sorted(set(i["name"] for i in self.items if i["name"]))
        pool_names = sorted(
            set((item["work_pool"] or {}).get("name") for item in self.items) - {None, ""}
        )
        prune = self.module.params["prune"]
        flow_filter, dep_filter = {}, {}
        if not prune:
            flow_filter = {"flows": {"name": {"any_": names}}}
            dep_filter = dict(flow_filter, deployments={"name": {"any_": dep_names}})
        pool_filter = {"work_pools": {"name": {"any_": pool_names}}}
        read = names or prune
        flows, deps, pools = self.client.parallel(
            [
                partial(self.read_all, "flows", flow_filter, len(names)) if read else list,
                partial(self.read_all, "deployments", dep_filter, len(self.items))
                if read
                else list,
                partial(self.read_all, "work_pools", pool_filter, len(pool_names))
                if pool_names
                else list,
            ]
        )
        self.flows = {f["name"]: f["id"] for f in flows}
        self.flow_names = {v: k for k, v in self.flows.items()}
        self.existing = {}
        for dep in deps:
            key = (self.flow_names.get(dep["flow_id"], "?"), dep["name"])
            self.existing[key] = dep
        self.pools = {row["name"]: row for row in pools}
        self.declared_pools = set(p for p in self.module.params["declared_work_pools"])

    def read_all(self, kind, body, declared):
        """Every row of ``/{kind}/filter`` that ``body`` selects (about ``declared`` rows).
        Pruning reads every flow and deployment: counted first, so that their pages are read at
        the same time."""
        if self.module.params["prune"] and kind != "work_pools":
            return self.client.filter_counted(f"/{kind}/filter", body)
        return self.client.filter_all(f"/{kind}/filter", body, expect=declared)

    def inspect_code(self, index, item):
        entry = item["entrypoint"]
        path_part, sep, func = entry.rpartition(":")
        if not sep or not path_part.endswith(".py") or not func:
            self.code[index] = ("error", "must look like path/to/file.py:function")
            return
        path = os.path.join(self.code_dir, path_part)
        if not os.path.isfile(path):
            self.code[index] = (
                "error",
                f"file {clip(path_part, 80)} does not exist (in {self.code_dir})",
            )
            return
        node, names, error = flow_function(path, func, self.parsed)
        if error:
            self.code[index] = ("error", error)
            return
        if node is None:
            self.code[index] = (
                "error",
                "{} has no top-level function {} (functions: {})".format(
                    clip(path_part, 120), short(func), clip(", ".join(names) or "none", 300)
                ),
            )
            return
        deco_name = decorator_flow_name(node)
        derived = deco_name or func.replace("_", "-")
        if item["flow_name"] and deco_name and item["flow_name"] != deco_name:
            self.code[index] = (
                "error",
                "flow_name {} differs from the @flow(name={}) of {}".format(
                    short(item["flow_name"]), short(deco_name), entry
                ),
            )
            return
        if not item["flow_name"]:
            item["flow_name"] = derived
        schema, has_kwargs = parameter_schema(node)
        self.code[index] = ("ok", schema, has_kwargs)

    # ---- validation ---------------------------------------------------------------------
    def check_item(self, index, item):
        if isinstance(item["work_pool"], dict):  # load() looks the pool up by its name
            pool, problems = check_options(item["work_pool"], WORK_POOL_SPEC, "work_pool", False)
            item["work_pool"] = pool
            for field, message in problems:
                self.errors.add(index, self.item_label(item), field, message)
        super().check_item(index, item)

    def validate_item(self, index, item):
        self.register_secrets(item)
        label = self.item_label(item)
        if not item["name"] or NAME_BAD.search(item["name"]):
            self.errors.add(index, label, "name", "must be non-empty without / % & > <")
        if item["flow_name"] is not None and (
            not item["flow_name"] or NAME_BAD.search(item["flow_name"])
        ):
            self.errors.add(index, label, "flow_name", "must be non-empty without / % & > <")
        if item["state"] == "absent":
            if not item["flow_name"]:
                self.errors.add(
                    index,
                    label,
                    "flow_name",
                    "needed to remove a deployment (or name it flow/deployment)",
                )
            return
        if not item["entrypoint"]:
            self.errors.add(index, label, "entrypoint", "required when state is present")
        else:
            code = self.code.get(index)
            if code and code[0] == "error":
                self.errors.add(index, label, "entrypoint", code[1])
            elif code:
                props = code[1]["properties"]
                for key in item["parameters"] or {}:
                    if key not in props and not code[2]:
                        self.errors.add(
                            index,
                            label,
                            join("parameters", key),
                            "the flow function takes no parameter {} (it takes: {})".format(
                                short(key), ", ".join(props) or "none"
                            ),
                        )
        for n, sched in enumerate(item["schedules"] or []):
            self.validate_schedule(index, label, n, sched)
        pool = item["work_pool"] or {}
        for key in pool:
            if key not in WORK_POOL_KEYS:
                self.errors.add(
                    index,
                    label,
                    join("work_pool", key),
                    "unknown key (known: {})".format(", ".join(WORK_POOL_KEYS)),
                )
        if not pool.get("name"):
            self.errors.add(index, label, "work_pool.name", "a work pool name is required")
        elif pool["name"] not in self.declared_pools and not self.pools.get(pool["name"]):
            self.errors.add(
                index,
                label,
                "work_pool.name",
                "work pool {} is neither declared (declared: {}) nor on the server".format(
                    short(pool["name"]), clip(", ".join(sorted(self.declared_pools)) or "none", 300)
                ),
            )
        elif pool.get("job_variables") is not None:
            if not isinstance(pool["job_variables"], dict):
                self.errors.add(index, label, "work_pool.job_variables", "must be a mapping")
            elif self.pools.get(pool["name"]):
                template = self.pools[pool["name"]].get("base_job_template") or {}
                props = (template.get("variables") or {}).get("properties") or {}
                for key in pool["job_variables"]:
                    if props and key not in props:
                        self.errors.add(
                            index,
                            label,
                            join("work_pool.job_variables", key),
                            "not a variable of work pool {} (variables: {})".format(
                                short(pool["name"]), ", ".join(sorted(props))
                            ),
                        )
        limit = item["concurrency_limit"]
        if limit is not None and not 1 <= limit <= MAX_INT:
            self.errors.add(
                index, label, "concurrency_limit", f"must be from 1 to {MAX_INT}, got {limit}"
            )

    def validate_schedule(self, index, label, n, sched):
        field = f"schedules[{n}]"
        if not isinstance(sched, dict):
            self.errors.add(index, label, field, "must be a mapping with a cron")
            return
        for key in sched:
            if key not in SCHEDULE_KEYS:
                self.errors.add(
                    index,
                    label,
                    join(field, key),
                    "unsupported (only cron schedules: {})".format(", ".join(SCHEDULE_KEYS)),
                )
        try:
            validate_cron(sched.get("cron"))
        except CronError as err:
            self.errors.add(index, label, field + ".cron", f"{short(sched.get('cron'))}: {err}")
        for key in ("active", "day_or"):
            if sched.get(key) is not None:
                sched[key], problem = convert(sched[key], "bool")
                if problem:
                    self.errors.add(index, label, f"{field}.{key}", problem)
        tz = sched.get("timezone")
        if tz is not None and not isinstance(tz, str):
            self.errors.add(index, label, field + ".timezone", "expected a string (a tz name)")
        elif tz is not None and ZoneInfo is not None:
            try:
                ZoneInfo(tz)
            # A directory of the tz database ("America") or an over-long name is an OSError.
            except (ZoneInfoNotFoundError, ValueError, OSError):
                self.errors.add(index, label, field + ".timezone", f"unknown timezone {short(tz)}")

    # ---- planning -----------------------------------------------------------------------
    # ---- secrets ------------------------------------------------------------------------
    def register_secrets(self, item):
        """The values of job_variables.env (where flows' secrets go) never show in any output."""
        pool = item.get("work_pool")
        if isinstance(pool, dict):
            self.register_values(collect_strings(pool, [ENV_VALUES_PATH]))

    def sanitize_item(self, item):
        return mask_value(item, ["work_pool." + ENV_VALUES_PATH])

    def desired_view(self, item):
        pool = item["work_pool"] or {}
        code = self.code.get(self.index_of(item))
        return {
            "name": item["name"],
            "flow_name": item["flow_name"],
            "entrypoint": item["entrypoint"],
            "pull_steps": [{PULL_STEP: {"directory": self.project_dir}}],
            "parameters": item["parameters"] or {},
            "parameter_openapi_schema": code[1] if code and code[0] == "ok" else None,
            "enforce_parameter_schema": item["enforce_parameter_schema"],
            "schedules": sorted(
                (
                    {
                        "cron": s["cron"],
                        "timezone": s.get("timezone") or "UTC",
                        # booleans by now (validate_schedule); not given means true
                        "active": s.get("active") is not False,
                        "day_or": s.get("day_or") is not False,
                    }
                    for s in item["schedules"] or []
                ),
                key=lambda s: (s["cron"], s["timezone"], s["active"], s["day_or"]),
            ),
            "work_pool_name": pool.get("name"),
            "work_queue_name": pool.get("work_queue_name") or "default",
            "job_variables": pool.get("job_variables") or {},
            "tags": list(item["tags"] or []),
            "description": item["description"],
            "version": item["version"],
            "concurrency_limit": item["concurrency_limit"],
            "paused": item["paused"],
            "managed_label": "=".join(self.label),
        }

    def managed(self, row):
        """True when the deployment carries this project's label."""
        return str((row.get("labels") or {}).get(self.label[0])) == self.label[1]

    def actual_view(self, row, item=None, desired=None):
        gcl = row.get("global_concurrency_limit") or {}
        return {
            "name": row["name"],
            "flow_name": self.flow_names.get(row["flow_id"], "?"),
            "entrypoint": row.get("entrypoint"),
            "pull_steps": row.get("pull_steps"),
            "parameters": row.get("parameters") or {},
            "parameter_openapi_schema": row.get("parameter_openapi_schema"),
            "enforce_parameter_schema": row.get("enforce_parameter_schema"),
            "schedules": sorted(
                (
                    {
                        "cron": (s.get("schedule") or {}).get("cron"),
                        "timezone": (s.get("schedule") or {}).get("timezone") or "UTC",
                        "active": s.get("active"),
                        "day_or": (s.get("schedule") or {}).get("day_or"),
                    }
                    for s in row.get("schedules") or []
                ),
                key=lambda s: (
                    str(s["cron"]),
                    str(s["timezone"]),
                    bool(s["active"]),
                    bool(s["day_or"]),
                ),
            ),
            "work_pool_name": row.get("work_pool_name"),
            "work_queue_name": row.get("work_queue_name"),
            "job_variables": row.get("job_variables") or {},
            "tags": row.get("tags") or [],
            "description": row.get("description"),
            "version": row.get("version"),
            "concurrency_limit": gcl.get("limit", row.get("concurrency_limit")),
            "paused": row.get("paused"),
            "managed_label": "=".join(self.label) if self.managed(row) else None,
        }

    def diff_secret_paths(self, item, before, after):
        if item is None:
            return ENV_VALUES_PATHS
        return ENV_VALUES_PATHS + tuple(self.secret_view_paths(item))

    def prunable(self, declared_keys):
        if not self.module.params["prune"]:
            return []
        return [
            (key, row)
            for key, row in sorted(self.existing.items())
            if key not in declared_keys and self.managed(row)
        ]

    # ---- writes -------------------------------------------------------------------------
    def prepare_writes(self, changes):
        # flows first, one by one: the parallel deployment writes only read self.flows
        for item in self.items:
            if item["state"] == "present" and item["flow_name"]:
                self.flow_id(item["flow_name"])

    def flow_id(self, name):
        if name not in self.flows:
            self.flows[name] = self.client.post("/flows/", {"name": name})["id"]
        return self.flows[name]

    def create(self, item, desired, extra):
        self.upsert(desired, extra)

    def update(self, item, row, actual, desired, extra):
        self.upsert(desired, extra, actual)

    def upsert(self, desired, extra, actual=None):
        """POST /deployments/ creates or replaces (same flow + name) - like prefect deploy."""
        body = {
            "name": desired["name"],
            "flow_id": self.flow_id(desired["flow_name"]),
            "entrypoint": desired["entrypoint"],
            "path": None,
            "pull_steps": desired["pull_steps"],
            "parameters": desired["parameters"],
            "parameter_openapi_schema": desired["parameter_openapi_schema"]
            or {"type": "object", "properties": {}},
            "enforce_parameter_schema": desired["enforce_parameter_schema"],
            "schedules": [
                {
                    "schedule": {
                        "cron": s["cron"],
                        "timezone": s["timezone"],
                        "day_or": s["day_or"],
                    },
                    "active": s["active"],
                }
                for s in desired["schedules"]
            ],
            "work_pool_name": desired["work_pool_name"],
            "work_queue_name": desired["work_queue_name"],
            "job_variables": desired["job_variables"],
            "tags": desired["tags"],
            "description": desired["description"],
            "version": desired["version"],
            "concurrency_limit": desired["concurrency_limit"],
            "paused": desired["paused"],
            "labels": {self.label[0]: self.label[1]},
        }
        if body["concurrency_limit"] is None and (actual or {}).get("concurrency_limit") is None:
            # nothing to clear: sparing the server its concurrency-limit bookkeeping halves
            # the cost of a deployment write
            del body["concurrency_limit"]
        extra["id"] = self.client.post("/deployments/", body)["id"]
