# Copyright: prefect-stack contributors
# MIT License (see LICENSE at the top of the repository)
"""The automations kind of the ``prefect_*`` object modules, run by
``library/prefect_automations.py`` and planned with the other kinds by ``prefect_plan``."""

import math
import re

from ansible.module_utils.prefect_api import PrefectObjectsModule
from ansible.module_utils.prefect_validate import (
    MAX_INT,
    clip,
    convert,
    join,
    kind_of,
    short,
)

ITEM_SPEC = dict(
    name=dict(type="str", required=True),
    description=dict(type="str", default=""),
    enabled=dict(type="bool", default=True),
    tags=dict(type="list", elements="str", default=[]),
    trigger=dict(type="dict"),
    actions=dict(type="list", elements="dict"),
    actions_on_trigger=dict(type="list", elements="dict", default=[]),
    actions_on_resolve=dict(type="list", elements="dict", default=[]),
    state=dict(type="str", choices=["present", "absent"], default="present"),
)
ACTION_LISTS = ("actions", "actions_on_trigger", "actions_on_resolve")

UUID_RE = re.compile(r"^[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}$")  # as Prefect shows
REQUIRED = object()  # a field without a default
MAX_TRIGGER_DEPTH = 16  # nesting of compound/sequence triggers

# Prefect 3.9's triggers (openapi: EventTrigger, CompoundTrigger, SequenceTrigger). Metric
# triggers are Prefect Cloud's.
TRIGGER_KEYS = {
    "event": (
        "type",
        "posture",
        "expect",
        "after",
        "for_each",
        "match",
        "match_related",
        "threshold",
        "within",
    ),
    "compound": ("type", "triggers", "require", "within"),
    "sequence": ("type", "triggers", "within"),
}
EVENT_SETS = ("expect", "after", "for_each")
POSTURES = ("Reactive", "Proactive")
PROACTIVE_MIN_WITHIN = 10.0  # seconds; Prefect turns 0 into 10 and refuses less
STATE_TYPES = (
    "SCHEDULED",
    "PENDING",
    "RUNNING",
    "COMPLETED",
    "FAILED",
    "CANCELLED",
    "CRASHED",
    "PAUSED",
    "CANCELLING",
)

# Prefect 3.9's actions (openapi: the ``actions`` union of AutomationCreate): field -> (check,
# the server's default or REQUIRED). ``source`` and an id go together (see SELECTED).
_SOURCE = ("source", "selected")
ACTIONS = {
    "do-nothing": {},
    "run-deployment": {
        "source": _SOURCE,
        "deployment_id": ("uuid_or_null", None),
        "parameters": ("dict_or_null", None),
        "job_variables": ("dict_or_null", None),
        "schedule_after": ("seconds", 0.0),
    },
    "pause-deployment": {"source": _SOURCE, "deployment_id": ("uuid_or_null", None)},
    "resume-deployment": {"source": _SOURCE, "deployment_id": ("uuid_or_null", None)},
    "cancel-flow-run": {},
    "delete-flow-run": {},
    "change-flow-run-state": {
        "name": ("str_or_null", None),
        "state": ("state", REQUIRED),
        "message": ("str_or_null", None),
        "force": ("bool", False),
    },
    "suspend-flow-run": {},
    "resume-flow-run": {},
    "pause-work-queue": {"source": _SOURCE, "work_queue_id": ("uuid_or_null", None)},
    "resume-work-queue": {"source": _SOURCE, "work_queue_id": ("uuid_or_null", None)},
    "pause-work-pool": {"source": _SOURCE, "work_pool_id": ("uuid_or_null", None)},
    "resume-work-pool": {"source": _SOURCE, "work_pool_id": ("uuid_or_null", None)},
    "pause-automation": {"source": _SOURCE, "automation_id": ("uuid_or_null", None)},
    "resume-automation": {"source": _SOURCE, "automation_id": ("uuid_or_null", None)},
    "send-notification": {
        "block_document_id": ("uuid", REQUIRED),
        "subject": ("str", "Prefect automated notification"),
        "body": ("str", REQUIRED),
    },
    "call-webhook": {"block_document_id": ("uuid", REQUIRED), "payload": ("str", "")},
}
# type -> (id field, the name reference the module resolves, or None)
SELECTED = {
    "run-deployment": ("deployment_id", "deployment"),
    "pause-deployment": ("deployment_id", "deployment"),
    "resume-deployment": ("deployment_id", "deployment"),
    "pause-work-pool": ("work_pool_id", "work_pool"),
    "resume-work-pool": ("work_pool_id", "work_pool"),
    "pause-work-queue": ("work_queue_id", None),
    "resume-work-queue": ("work_queue_id", None),
    "pause-automation": ("automation_id", None),
    "resume-automation": ("automation_id", None),
}
# resource id prefixes of Prefect's events whose names the module resolves in match labels
DEPLOYMENT_PREFIX = "prefect.deployment."
WORK_POOL_PREFIX = "prefect.work-pool."


class Ref:
    """A name reference in a declared trigger or action, resolved to ``prefix + id``."""

    def __init__(self, kind, name, field, prefix=""):
        self.kind = kind  # deployment | work_pool
        self.name = name
        self.field = field
        self.prefix = prefix
        self.value = None  # set by validate_item()


def resolved(node):
    """``node`` with every Ref replaced by its value."""
    if isinstance(node, Ref):
        return node.value
    if isinstance(node, dict):
        return {k: resolved(v) for k, v in node.items()}
    if isinstance(node, list):
        return [resolved(v) for v in node]
    return node


def refs_in(node):
    if isinstance(node, Ref):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from refs_in(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs_in(value)


def is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def seconds(value):
    """A non-negative finite number of seconds as a float, or None."""
    if is_number(value) and math.isfinite(value) and value >= 0:
        return float(value)
    return None


def lower_uuid(value):
    return value.lower() if isinstance(value, str) and UUID_RE.match(value) else value


# ---- the compared views (the declared side, validated, and the server's side) -----------------
def trigger_view(trigger):
    """A trigger as compared and written: the fields of its type, Prefect's defaults filled in,
    sets sorted, trigger ids left out (the server makes new ones on every write)."""
    if not isinstance(trigger, dict):
        return trigger
    kind = trigger.get("type") or "event"
    if kind == "event":
        posture = trigger.get("posture")
        within = seconds(trigger.get("within", 0))
        if within is None:
            within = trigger.get("within")
        elif posture == "Proactive" and within == 0:
            within = PROACTIVE_MIN_WITHIN
        view = {"type": "event", "posture": posture}
        for key in EVENT_SETS:
            view[key] = sorted(set(trigger.get(key) or []))
        view["match"] = trigger.get("match") or {}
        view["match_related"] = trigger.get("match_related") or {}
        view["threshold"] = trigger.get("threshold", 1)
        view["within"] = within
        return view
    if kind in ("compound", "sequence"):
        within = trigger.get("within")
        view = {
            "type": kind,
            "triggers": [trigger_view(t) for t in trigger.get("triggers") or []],
            "within": float(within) if is_number(within) else within,
        }
        if kind == "compound":
            view["require"] = trigger.get("require")
        return view
    return {k: v for k, v in trigger.items() if k != "id"}  # a kind this module does not know


def action_view(action):
    """An action as compared and written: its type's fields, Prefect's defaults filled in."""
    if not isinstance(action, dict) or action.get("type") not in ACTIONS:
        return action
    view = {"type": action["type"]}
    for key, (check, default) in ACTIONS[action["type"]].items():
        value = action.get(key, None if default is REQUIRED else default)
        if check == "seconds" and is_number(value):
            value = float(value)
        view[key] = lower_uuid(value) if check.startswith("uuid") else value
    return view


class AutomationsModule(PrefectObjectsModule):
    kind = "automations"
    api_path = "/automations"
    item_spec = ITEM_SPEC
    extra_spec = dict(
        prune=dict(type="bool", default=False),
        managed_tag=dict(type="str", default="managed-by:prefect-stack"),
        declared_deployments=dict(type="list", elements="str", default=[]),
    )
    supports_prune = True
    report_changed_fields = True
    parallel_writes = 4

    def __init__(self, module=None):
        super().__init__(module)
        self.parsed = {}  # index -> the declared automation, checked, with Refs
        self.current = {}  # index -> the server's automation of that name (or None)

    # ---- checks that need no server ----------------------------------------------------
    def check_item(self, index, item):
        super().check_item(index, item)
        label = self.item_label(item)
        if not item["name"]:
            self.errors.add(index, label, "name", "must not be empty")
        if item["state"] == "absent":
            return

        def error(field, message):
            self.errors.add(index, label, field, message)

        if item["trigger"] is None:
            error("trigger", "required when state is present")
            trigger = None
        else:
            trigger = self.check_trigger(item["trigger"], "trigger", error, 0)
        if item["actions"] is None:
            error("actions", "required when state is present (a list of at least one action)")
        elif not item["actions"]:
            error("actions", "must hold at least one action")
        parsed = {
            "name": item["name"],
            "description": item["description"],
            "enabled": item["enabled"],
            "tags": self.wanted_tags(item),
            "trigger": trigger,
        }
        for key in ACTION_LISTS:
            parsed[key] = [
                self.check_action(action, join(key, n), error)
                for n, action in enumerate(item[key] or [])
            ]
        self.parsed[index] = parsed

    def check_keys(self, node, path, known, error):
        for key in node:
            if key not in known:
                error(join(path, key), "unknown key (known: {})".format(", ".join(known)))

    def check_trigger(self, trigger, path, error, depth):
        """The trigger checked and typed (Refs in place of name references), or None."""
        if not isinstance(trigger, dict):
            error(path, f"expected a mapping, got {kind_of(trigger)}")
            return None
        if depth > MAX_TRIGGER_DEPTH:
            error(path, f"triggers nested deeper than {MAX_TRIGGER_DEPTH} levels")
            return None
        kind = trigger.get("type", "event")
        if not isinstance(kind, str) or kind not in TRIGGER_KEYS:
            hint = " (metric triggers are Prefect Cloud's)" if kind == "metric" else ""
            error(
                join(path, "type"),
                "must be one of {}, got {}{}".format(", ".join(TRIGGER_KEYS), short(kind), hint),
            )
            return None
        self.check_keys(trigger, path, TRIGGER_KEYS[kind], error)
        out = {"type": kind}
        if kind == "event":
            posture = trigger.get("posture")
            if posture not in POSTURES:
                problem = "required" if posture is None else f"got {short(posture)}"
                error(join(path, "posture"), f"must be Reactive or Proactive: {problem}")
            out["posture"] = posture
            for key in EVENT_SETS:
                out[key] = self.check_strings(trigger.get(key), join(path, key), error)
            out["match"] = self.check_labels(trigger.get("match"), join(path, "match"), error)
            related = trigger.get("match_related")
            field = join(path, "match_related")
            if isinstance(related, list):
                out["match_related"] = [
                    self.check_labels(spec, join(field, n), error) for n, spec in enumerate(related)
                ]
            else:
                out["match_related"] = self.check_labels(related, field, error)
            threshold = trigger.get("threshold", 1)
            if not is_number(threshold) or not float(threshold).is_integer():
                error(join(path, "threshold"), f"expected an integer, got {short(threshold)}")
            elif not 1 <= threshold <= MAX_INT:
                error(join(path, "threshold"), f"must be from 1 to {MAX_INT}, got {threshold}")
            else:
                threshold = int(threshold)
            out["threshold"] = threshold
            given = trigger.get("within", 0)
            within = seconds(given)
            if within is None and not (is_number(given) and not math.isfinite(given)):
                # (storable() reported infinities and NaN)
                error(
                    join(path, "within"),
                    f"must be a number of seconds, 0 or more, got {short(given)}",
                )
            elif (
                within is not None and posture == "Proactive" and 0 < within < PROACTIVE_MIN_WITHIN
            ):
                error(
                    join(path, "within"),
                    "must be at least 10 (seconds) for a Proactive trigger (0 means 10), "
                    f"got {short(given)}",
                )
            out["within"] = within
            return out
        triggers = trigger.get("triggers")
        if not isinstance(triggers, list) or not triggers:
            error(
                join(path, "triggers"),
                f"must be a list of at least one trigger, got {kind_of(triggers)}"
                if not isinstance(triggers, list)
                else "must hold at least one trigger",
            )
            triggers = []
        out["triggers"] = [
            self.check_trigger(t, join(join(path, "triggers"), n), error, depth + 1)
            for n, t in enumerate(triggers)
        ]
        within = trigger.get("within")
        if within is not None and seconds(within) is None:
            error(
                join(path, "within"),
                f"must be a number of seconds, 0 or more, or null, got {short(within)}",
            )
        out["within"] = within
        if kind == "compound":
            require = trigger.get("require")
            if require in ("any", "all"):
                pass
            elif isinstance(require, int) and not isinstance(require, bool):
                if not 1 <= require <= max(1, len(triggers)):
                    error(
                        join(path, "require"),
                        f"must be from 1 to the number of triggers ({len(triggers)}), "
                        f"got {require}",
                    )
            else:
                problem = "required" if require is None else f"got {short(require)}"
                error(join(path, "require"), f"must be any, all or a number: {problem}")
            out["require"] = require
        return out

    @staticmethod
    def check_strings(value, path, error):
        if value is None:
            return []
        if not isinstance(value, list):
            error(path, f"expected a list of strings, got {kind_of(value)}")
            return []
        for n, element in enumerate(value):
            if not isinstance(element, str):
                error(join(path, n), f"expected a string, got {kind_of(element)}")
        return [v for v in value if isinstance(v, str)]

    def check_labels(self, value, path, error):
        """A resource specification (label -> value or list of values) of ``match`` or
        ``match_related``, with name references turned into Refs."""
        if value is None:
            return {}
        if not isinstance(value, dict):
            error(path, f"expected a mapping of resource labels, got {kind_of(value)}")
            return {}
        out = {}
        for key, given in value.items():
            if not isinstance(key, str):
                continue  # storable() reported it
            field = join(path, key)
            if isinstance(given, str):
                out[key] = self.label_value(given, field)
            elif isinstance(given, list):
                out[key] = []
                for n, element in enumerate(given):
                    if isinstance(element, str):
                        out[key].append(self.label_value(element, join(field, n)))
                    else:
                        error(join(field, n), f"expected a string, got {kind_of(element)}")
            else:
                error(field, f"expected a string or a list of strings, got {kind_of(given)}")
        return out

    @staticmethod
    def label_value(value, field):
        """A label value, or a Ref for ``prefect.deployment.<flow>/<name>`` and
        ``prefect.work-pool.<name>`` (ids, patterns and other values are kept)."""
        if value.endswith("*"):
            return value
        if value.startswith(DEPLOYMENT_PREFIX) and "/" in value:
            return Ref("deployment", value[len(DEPLOYMENT_PREFIX) :], field, DEPLOYMENT_PREFIX)
        if value.startswith(WORK_POOL_PREFIX):
            name = value[len(WORK_POOL_PREFIX) :]
            if name and not UUID_RE.match(name):
                return Ref("work_pool", name, field, WORK_POOL_PREFIX)
        return value

    def check_action(self, action, path, error):
        """The action checked and typed (a Ref for a name reference), or None."""
        if not isinstance(action, dict):
            return None  # check_options reported it
        kind = action.get("type")
        if not isinstance(kind, str) or kind not in ACTIONS:
            problem = "required" if kind is None else f"unknown action type {short(kind)}"
            error(join(path, "type"), "{} (known: {})".format(problem, ", ".join(ACTIONS)))
            return None
        fields = ACTIONS[kind]
        id_field, ref_key = SELECTED.get(kind, (None, None))
        self.check_keys(
            action, path, ("type",) + tuple(fields) + ((ref_key,) if ref_key else ()), error
        )
        out = {"type": kind}
        for key, (check, default) in fields.items():
            if key not in action or (action[key] is None and default is not REQUIRED):
                if default is REQUIRED:
                    error(join(path, key), "required")
                continue
            value, problem = self.check_value(check, action[key])
            if problem:
                error(join(path, key), problem)
            out[key] = value
        if id_field:
            source = out.get("source", "selected")
            ref = action.get(ref_key) if ref_key else None
            if ref is not None:
                field = join(path, ref_key)
                if not isinstance(ref, str) or not ref:
                    error(field, f"expected a name, got {kind_of(ref)}")
                elif id_field in action and action[id_field] is not None:
                    error(field, f"give {ref_key} or {id_field}, not both")
                elif source != "selected":
                    error(
                        field,
                        f"goes with source: selected (source: {short(source)} takes the "
                        f"{ref_key.replace('_', ' ')} from the event)",
                    )
                elif ref_key == "deployment" and not self.deployment_name(ref):
                    error(field, f"must be <flow>/<deployment>, got {short(ref)}")
                else:
                    out["source"] = "selected"
                    out[id_field] = Ref(ref_key, ref, field)
            elif source == "selected" and not out.get(id_field):
                named = f"{ref_key} (a name) or {id_field}" if ref_key else id_field
                error(path, f"needs {named}, or source: inferred")
            elif source == "inferred" and out.get(id_field):
                error(join(path, id_field), "not allowed with source: inferred")
        return out

    @staticmethod
    def check_value(check, value):
        """``(value as written, problem or None)`` for one action field."""
        if check == "source":
            if value in ("selected", "inferred"):
                return value, None
            return value, f"must be selected or inferred, got {short(value)}"
        if check in ("uuid", "uuid_or_null"):
            if isinstance(value, str) and UUID_RE.match(value):
                return value.lower(), None
            return value, f"expected an id (a UUID), got {short(value)}"
        if check == "dict_or_null":
            if isinstance(value, dict):
                return value, None
            return value, f"expected a mapping, got {kind_of(value)}"
        if check == "seconds":
            if seconds(value) is not None:
                return float(value), None
            return value, f"must be a number of seconds, 0 or more, got {short(value)}"
        if check == "state":
            if value in STATE_TYPES:
                return value, None
            return value, "must be one of {}, got {}".format(", ".join(STATE_TYPES), short(value))
        if check == "bool":
            return convert(value, "bool")
        # str, str_or_null
        if isinstance(value, str):
            return value, None
        return value, f"expected a string, got {kind_of(value)}"

    @staticmethod
    def deployment_name(ref):
        """``(flow, name)`` of ``flow/name``, or None."""
        flow, sep, name = ref.partition("/")
        if sep and flow and name and "/" not in name:
            return flow, name
        return None

    # ---- read-only lookups --------------------------------------------------------------
    def load(self):
        p = self.module.params
        names = [item["name"] for item in self.items]
        self.existing = {}  # name -> rows
        for row in self.client.filter_named("automations", names, every=p["prune"]):
            self.existing.setdefault(row["name"], []).append(row)
        refs = [ref for parsed in self.parsed.values() for ref in refs_in(parsed)]
        wanted = sorted(set(r.name for r in refs if r.kind == "deployment"))
        pairs = [self.deployment_name(name) for name in wanted]
        pairs = [pair for pair in pairs if pair]
        self.deployments = {}
        if pairs:
            flows_filter = {"flows": {"name": {"any_": sorted(set(f for f, _ in pairs))}}}
            flows = self.client.filter_all("/flows/filter", flows_filter)
            flow_names = {f["id"]: f["name"] for f in flows}
            if flows:
                body = dict(flows_filter, deployments={"name": {"any_": [n for _, n in pairs]}})
                for dep in self.client.filter_all("/deployments/filter", body):
                    key = "{}/{}".format(flow_names.get(dep["flow_id"], "?"), dep["name"])
                    self.deployments[key] = dep["id"]
        pools = sorted(set(r.name for r in refs if r.kind == "work_pool"))
        self.work_pools = {}
        if pools:
            body = {"work_pools": {"name": {"any_": pools}}}
            for pool in self.client.filter_all("/work_pools/filter", body):
                self.work_pools[pool["name"]] = pool["id"]

    # ---- validation with the server's state -------------------------------------------
    def validate_item(self, index, item):
        label = self.item_label(item)
        self.current[index] = self.pick(index, item, label)
        parsed = self.parsed.get(index)
        if item["state"] == "absent" or parsed is None:
            return
        declared = set(self.module.params["declared_deployments"])
        for ref in refs_in(parsed):
            if ref.kind == "work_pool":
                found = self.work_pools.get(ref.name)
                if found is None:
                    self.errors.add(
                        index, label, ref.field, f"no work pool {short(ref.name)} on the server"
                    )
                    continue
            else:
                found = self.deployments.get(ref.name)
                if found is None and ref.name in declared and self.module.check_mode:
                    self.module.warn(
                        f"automations[{index}] ({clip(label, 80)}): {ref.field}: deployment "
                        f"{clip(ref.name, 200)} is not on the server yet; it is declared, so the "
                        "automation is planned as it will be once the deployment exists"
                    )
                    ref.value = f"{ref.prefix}<{ref.name}: not created yet>"
                    continue
                if found is None:
                    self.errors.add(
                        index,
                        label,
                        ref.field,
                        "no deployment {} on the server (declared: {})".format(
                            clip(ref.name, 200),
                            clip(", ".join(sorted(declared)) or "none", 300),
                        ),
                    )
                    continue
            ref.value = ref.prefix + found

    def pick(self, index, item, label):
        """The server's automation of this name, or None (several: the managed one)."""
        rows = self.existing.get(item["name"]) or []
        if len(rows) <= 1:
            return rows[0] if rows else None
        tag = self.module.params["managed_tag"]
        managed = [row for row in rows if tag and tag in (row.get("tags") or [])]
        if len(managed) == 1:
            return managed[0]
        self.errors.add(
            index,
            label,
            "name",
            "{} automations of this name on the server, {} of them tagged {} (ids: {}): "
            "delete or rename the extra ones".format(
                len(rows),
                len(managed),
                short(tag),
                clip(", ".join(row["id"] for row in (managed or rows)), 300),
            ),
        )
        return None

    # ---- planning -----------------------------------------------------------------------
    def wanted_tags(self, item):
        tag = self.module.params["managed_tag"]
        return sorted(set(item["tags"] or []) | ({tag} if tag else set()))

    @staticmethod
    def view(automation):
        """The managed fields of an automation, declared (resolved) or the server's."""
        view = {
            "name": automation.get("name"),
            "description": automation.get("description") or "",
            "enabled": automation.get("enabled", True),
            "tags": sorted(set(automation.get("tags") or [])),
            "trigger": trigger_view(automation.get("trigger")),
        }
        for key in ACTION_LISTS:
            view[key] = [action_view(a) for a in automation.get(key) or []]
        return view

    def find(self, item):
        return self.current.get(self.index_of(item))  # picked in validate_item

    def desired_view(self, item):
        return self.view(resolved(self.parsed[self.index_of(item)]))

    def actual_view(self, row, item=None, desired=None):
        return self.view(row)

    def prunable(self, declared_keys):
        rows = [(name, row) for name, rows in sorted(self.existing.items()) for row in rows]
        return self.tagged_prunable(declared_keys, rows)

    # ---- writes -------------------------------------------------------------------------
    def create(self, item, desired, extra):
        extra["id"] = self.client.post("/automations/", desired)["id"]

    def update(self, item, row, actual, desired, extra):
        self.client.request("PUT", "/automations/{}".format(row["id"]), body=desired)
