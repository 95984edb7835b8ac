# Copyright: prefect-stack contributors
# MIT License (see LICENSE at the top of the repository)
"""The blocks kind of the ``prefect_*`` object modules, run by
``library/prefect_blocks.py`` and planned with the other kinds by ``prefect_plan``."""

import re

from ansible.module_utils.prefect_api import PrefectObjectsModule, q
from ansible.module_utils.prefect_compare import collect_strings, mask_value
from ansible.module_utils.prefect_validate import join, name_problem, short

NAME_RE = re.compile(r"^[a-z0-9-]+$")
REF_FORMS = "{$ref: {block_type: <slug>, name: <name>}} or {$ref: {block_document_id: <uuid>}}"
UUID_RE = re.compile(r"^[0-9a-fA-F-]{36}$")
ALWAYS_SECRET = ["service_account_info"]
SECRET_KEY_RE = re.compile(
    r"(password|passwd|secret|token|private_key|api_key|apikey|access_key|auth_string|"
    r"connection_string)",
    re.IGNORECASE,
)

ITEM_SPEC = dict(
    block_type=dict(type="str", required=True),
    name=dict(type="str", required=True),
    data=dict(type="dict", default={}),
    state=dict(type="str", choices=["present", "absent"], default="present"),
)


def ref_of(value):
    """The reference dict when ``value`` is a block reference, else None."""
    if isinstance(value, dict) and set(value) == {"$ref"} and isinstance(value["$ref"], dict):
        return value["$ref"]
    return None


class BlocksModule(PrefectObjectsModule):
    kind = "blocks"
    api_path = "/block_documents"
    item_spec = ITEM_SPEC
    name_fields = ("block_type", "name")

    def item_key(self, item):
        return (item["block_type"], item["name"])

    def item_label(self, item):
        return "{}/{}".format(item["block_type"], item["name"])

    # ---- secrets ------------------------------------------------------------------------
    def secret_paths(self, item):
        slug = item["block_type"]
        if slug == "secret":
            return ["*"]
        paths = list(ALWAYS_SECRET)
        schema = self.schemas.get(slug)
        if schema:
            paths.extend((schema.get("fields") or {}).get("secret_fields") or [])
        for key in item.get("data") or {}:
            if SECRET_KEY_RE.search(key) and not ref_of(item["data"][key]):
                paths.append(key)
        return paths

    def sanitize_item(self, item):
        item = dict(item)
        data = item.get("data") or {}
        if isinstance(data, dict):
            item["data"] = dict(
                (k, v if ref_of(v) else mask_value(v, ["*"])) for k, v in data.items()
            )
        else:
            item["data"] = mask_value(data, ["*"])
        return item

    # ---- read-only lookups --------------------------------------------------------------
    def load(self):
        for item in self.items:
            values = collect_strings(
                item.get("data") or {},
                ["*"]
                if item["block_type"] == "secret"
                else ALWAYS_SECRET
                + [k for k in (item.get("data") or {}) if SECRET_KEY_RE.search(k)],
            )
            self.module.no_log_values.update(v for v in values if len(v) >= 4)
        self.types = dict((t["slug"], t) for t in self.client.filter_all("/block_types/filter"))
        self.schemas = {}
        for slug in sorted(set(i["block_type"] for i in self.items)):
            if slug not in self.types:
                continue
            rows = self.client.post(
                "/block_schemas/filter",
                {
                    "block_schemas": {"block_type_id": {"any_": [self.types[slug]["id"]]}},
                    "limit": 1,
                },
            )
            if rows:
                self.schemas[slug] = rows[0]
        for item in self.items:  # schema secret fields known now: mask those values too
            values = collect_strings(item.get("data") or {}, self.secret_paths(item))
            self.module.no_log_values.update(v for v in values if len(v) >= 4)
        self.existing = {}
        for item in self.items:
            if item["block_type"] in self.types and NAME_RE.match(item["name"] or ""):
                self.existing[self.item_key(item)] = self.read_block(
                    item["block_type"], item["name"]
                )
        self.ids = dict((k, v["id"]) for k, v in self.existing.items() if v)

    def read_block(self, slug, name):
        return self.client.get(
            f"/block_types/slug/{q(slug)}/block_documents/name/{q(name)}",
            params={"include_secrets": "true"},
            allow_404=True,
        )

    # ---- validation ---------------------------------------------------------------------
    def validate_item(self, index, item):
        label = self.item_label(item)
        slug = item["block_type"]
        if slug not in self.types:
            self.errors.add(
                index,
                label,
                "block_type",
                "unknown block type {}; the server has: {}".format(
                    short(slug), ", ".join(sorted(self.types))
                ),
            )
            return
        if not NAME_RE.match(item["name"] or ""):
            self.errors.add(
                index,
                label,
                "name",
                "block names may only contain lowercase letters, digits and dashes",
            )
        if item["state"] == "absent":
            return
        fields = (self.schemas.get(slug) or {}).get("fields") or {}
        props = fields.get("properties") or {}
        refs = fields.get("block_schema_references") or {}
        data = item.get("data") or {}
        for key, value in data.items():
            if props and key not in props:
                self.errors.add(
                    index,
                    label,
                    join("data", key),
                    "{} has no field {} (fields: {})".format(
                        slug, short(key), ", ".join(sorted(props))
                    ),
                )
            ref = ref_of(value)
            if ref is not None:
                self.validate_ref(index, label, key, ref, refs)
            elif isinstance(value, dict) and "$ref" in value:
                # Prefect reads any {$ref: ...} as a reference: one it cannot resolve is a 500
                self.errors.add(index, label, join("data", key), "a reference is " + REF_FORMS)
        for key in fields.get("required") or []:
            if key not in data:
                self.errors.add(index, label, f"data.{key}", f"required field of {slug} is missing")

    def validate_ref(self, index, label, key, ref, refs):
        field = join("data", key)
        if key not in refs:
            self.errors.add(index, label, field, "this field does not hold a block reference")
        if "block_document_id" in ref:
            if not UUID_RE.match(str(ref["block_document_id"])):
                self.errors.add(index, label, field, "block_document_id must be a UUID")
            return
        if set(ref) != {"block_type", "name"} or not all(isinstance(v, str) for v in ref.values()):
            self.errors.add(index, label, field, "a reference is " + REF_FORMS)
            return
        for part in ("block_type", "name"):  # read_block puts them in a URL path
            problem = name_problem(ref[part])
            if problem:
                self.errors.add(index, label, f"{field}.$ref.{part}", problem)
                return
        target = (ref["block_type"], ref["name"])
        wanted = (refs.get(key) or {}).get("block_type_slug")
        if wanted and ref["block_type"] != wanted:
            self.errors.add(
                index,
                label,
                field,
                "must reference a {} block, not {}".format(wanted, short(ref["block_type"])),
            )
        declared = [self.item_key(i) for i in self.items[:index] if i["state"] == "present"]
        if target in declared:
            return
        if ref["block_type"] in self.types and self.read_block(*target):
            return
        self.errors.add(
            index,
            label,
            field,
            "referenced block {}/{} neither exists on the "
            "server nor is declared before this item".format(*target),
        )

    # ---- planning -----------------------------------------------------------------------
    def desired_view(self, item):
        data = {}
        for key, value in (item.get("data") or {}).items():
            ref = ref_of(value)
            if ref is not None and "block_document_id" in ref:
                data[key] = {"$ref": {"block_document_id": str(ref["block_document_id"])}}
            elif ref is not None:
                data[key] = {"$ref": {"block_type": ref["block_type"], "name": ref["name"]}}
            else:
                data[key] = value
        return {"block_type": item["block_type"], "name": item["name"], "data": data}

    def actual_view(self, row, item=None, desired=None):
        desired_data = desired["data"] if desired else {}
        data = dict(row.get("data") or {})
        for key, ref in (row.get("block_document_references") or {}).items():
            target = ref.get("block_document") or {}
            wanted = desired_data.get(key)
            if ref_of(wanted) and "block_document_id" in ref_of(wanted):
                data[key] = {"$ref": {"block_document_id": target.get("id")}}
            else:
                data[key] = {
                    "$ref": {
                        "block_type": (target.get("block_type") or {}).get("slug"),
                        "name": target.get("name"),
                    }
                }
        # fields the server keeps as null and we do not declare are not a difference
        data = dict((k, v) for k, v in data.items() if v is not None or k in desired_data)
        slug = (row.get("block_type") or {}).get("slug")
        return {"block_type": slug, "name": row.get("name"), "data": data}

    def change_name(self, key):
        return key[1]  # results rows carry the block_type beside it

    def item_extra(self, item, row):
        return {"block_type": item["block_type"], "id": row["id"] if row else None}

    def diff_secret_paths(self, item, before, after):
        return ["data." + p if p != "*" else "data" for p in self.secret_paths(item)]

    # ---- writes -------------------------------------------------------------------------
    def api_data(self, item):
        data = {}
        for key, value in (item.get("data") or {}).items():
            ref = ref_of(value)
            if ref is None:
                data[key] = value
            elif "block_document_id" in ref:
                data[key] = {"$ref": {"block_document_id": str(ref["block_document_id"])}}
            else:
                target = (ref["block_type"], ref["name"])
                ref_id = self.ids.get(target)
                if ref_id is None:
                    found = self.read_block(*target)
                    ref_id = found["id"]
                    self.ids[target] = ref_id
                data[key] = {"$ref": {"block_document_id": ref_id}}
        return data

    def create(self, item, desired, extra):
        slug = item["block_type"]
        doc = self.client.post(
            "/block_documents/",
            {
                "name": item["name"],
                "data": self.api_data(item),
                "block_schema_id": self.schemas[slug]["id"],
                "block_type_id": self.types[slug]["id"],
                "is_anonymous": False,
            },
        )
        self.ids[self.item_key(item)] = doc["id"]
        extra["id"] = doc["id"]

    def update(self, item, row, actual, desired, extra):
        self.client.patch(
            "/block_documents/{}".format(row["id"]),
            {
                "data": self.api_data(item),
                "merge_existing_data": False,
            },
        )
