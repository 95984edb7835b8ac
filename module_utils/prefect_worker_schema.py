# Copyright: prefect-stack contributors
# MIT License (see LICENSE at the top of the repository)
"""Base job templates of Prefect worker types: where to get them and how to check values.

Stdlib only (``prefect_work_pools`` runs on the managed host's python, which need not have
``prefect``, ``prefect-gcp`` or ``jsonschema``).

* ``ask_worker_python``: the default base job template of worker types, asked of a Python
  environment that has the workers installed (the worker's virtualenv), exactly as
  ``prefect work-pool create`` / ``get-default-base-job-template`` compute it:
  ``BaseWorker.get_worker_class_from_type(type).get_default_base_job_template()``.
* ``VariablesSchema``: checks job variables against a template's ``variables`` JSON schema with
  a stdlib subset of JSON Schema (type, enum, const, required, properties, additionalProperties,
  patternProperties, items, prefixItems, anyOf/oneOf/allOf, ``$ref`` to ``#/definitions`` or
  ``#/$defs``, pattern, lengths, bounds), following the Prefect server's reading of these schemas
  (an optional typed variable may be null) and recognising block references
  ``{$ref: {block_document_id: <uuid>}}`` where the schema holds a block (``block_type_slug``).
  ``jsonschema_errors`` runs ``jsonschema`` on top, when it is importable, for what the subset
  does not implement.
* ``secret_paths`` and friends: which values to mask in diffs and the echoed invocation.
"""

import copy
import json
import os
import re
import shutil
import subprocess
import tempfile
import uuid

DEFAULT_WORKER_PYTHON = "/opt/prefect-agent/venv/bin/python"
WORKER_PYTHON_TIMEOUT = 180
_MARKER = "PREFECT_STACK_TEMPLATES="

# Runs in the worker's environment; prints one marker line with the answer as JSON.
_ASK_SCRIPT = r"""
import json
import sys

out = {"templates": {}, "sources": {}}
try:
    from importlib.metadata import version

    from prefect.workers.base import BaseWorker

    for worker_type in sys.argv[1:]:
        cls = BaseWorker.get_worker_class_from_type(worker_type)
        if cls is None:
            out["templates"][worker_type] = None
            continue
        dist = cls.__module__.split(".")[0].replace("_", "-")
        try:
            dist = "{} {}".format(dist, version(dist))
        except Exception:
            pass
        out["templates"][worker_type] = cls.get_default_base_job_template()
        out["sources"][worker_type] = dist
except Exception as exc:
    out["error"] = "{}: {}".format(type(exc).__name__, exc)
sys.stdout.write("\n" + MARKER + json.dumps(out) + "\n")
""".replace("MARKER", repr(_MARKER))

SECRET_KEY_RE = re.compile(
    r"(password|passwd|secret|token|private_key|api_key|apikey|access_key|auth_string|"
    r"connection_string|service_account_info)",
    re.IGNORECASE,
)
PLACEHOLDER_RE = re.compile(r"{{\s*([\w\.\-\[\]$]+)\s*}}")  # Prefect's PLACEHOLDER_CAPTURE_REGEX
REF_FORMS = "{$ref: {block_document_id: <uuid>}} or {$ref: {block_type: <slug>, name: <name>}}"


def ask_worker_python(python, worker_types, timeout=WORKER_PYTHON_TIMEOUT):
    """Default base job templates of ``worker_types`` from the interpreter ``python``.

    Returns ``(templates, sources, error)``: ``templates[type]`` is the template, or None when
    that environment has no worker class for the type; ``sources[type]`` names the package and
    release it came from (``prefect-gcp 0.6.22``); ``error`` says why the interpreter could not
    answer at all (None when it did).
    """
    home = tempfile.mkdtemp(prefix="prefect-stack-home-")
    env = dict(os.environ)
    # a throwaway PREFECT_HOME: nothing is written to the Ansible user's ~/.prefect
    env.update(PREFECT_HOME=home, PREFECT_LOGGING_LEVEL="ERROR")
    try:
        proc = subprocess.run(  # noqa: S603 - argv list, no shell
            [python, "-c", _ASK_SCRIPT] + list(worker_types),
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as err:
        return {}, {}, str(err)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    answer = None
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(_MARKER):
            try:
                answer = json.loads(line[len(_MARKER) :])
            except ValueError:
                answer = None
            break
    if answer is None:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return {}, {}, "exited with {} ({})".format(proc.returncode, " / ".join(tail))
    if answer.get("error"):
        return {}, {}, answer["error"]
    return answer.get("templates") or {}, answer.get("sources") or {}, None


# ---- JSON Schema subset ---------------------------------------------------------------------
def json_type(value):
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def is_type(value, name):
    actual = json_type(value)
    if name == "number":
        return actual in ("integer", "number")
    if name == "integer":
        return actual == "integer" or (actual == "number" and float(value).is_integer())
    return actual == name


def _json_equal(a, b):
    if json_type(a) != json_type(b) and not (is_type(a, "number") and is_type(b, "number")):
        return False
    if isinstance(a, dict) and isinstance(b, dict):
        return set(a) == set(b) and all(_json_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_json_equal(a[n], b[n]) for n in range(len(a)))
    return a == b


def format_path(path):
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _short(value):
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


def block_ref_of(value):
    """The inside of ``{$ref: {...}}`` when ``value`` looks like a block reference, else None."""
    if isinstance(value, dict) and "$ref" in value:
        return value["$ref"]
    return None


def check_block_ref(value):
    """None when ``value`` is a well-formed block reference, else what is wrong with it."""
    ref = block_ref_of(value)
    if set(value) != {"$ref"} or not isinstance(ref, dict):
        return "a block reference is " + REF_FORMS
    if set(ref) == {"block_document_id"}:
        try:
            uuid.UUID(str(ref["block_document_id"]))
        except ValueError:
            return "block_document_id {} is not a UUID".format(_short(ref["block_document_id"]))
        return None
    if set(ref) == {"block_type", "name"} and all(isinstance(ref[k], str) for k in ref):
        return None
    return "a block reference is " + REF_FORMS


class VariablesSchema:
    """A base job template's ``variables`` schema, to check job variables against."""

    def __init__(self, schema):
        self.root = schema if isinstance(schema, dict) else {}
        self.properties = self.root.get("properties") or {}
        self.required = list(self.root.get("required") or [])
        self.block_refs = []  # (path, block_type_slug, value) found by the last ``errors`` calls

    # -- references ---------------------------------------------------------------------------
    def pointer(self, ref):
        if not isinstance(ref, str) or not ref.startswith("#"):
            return None
        node = self.root
        for part in ref[1:].split("/")[1:] if ref != "#" else []:
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, dict) or part not in node:
                return None
            node = node[part]
        return node

    def block_slug(self, schema, depth=0):
        """The block type slug when ``schema`` (through $ref, allOf, anyOf, oneOf) holds a block."""
        if not isinstance(schema, dict) or depth > 20:
            return None
        if schema.get("block_type_slug"):
            return schema["block_type_slug"]
        if "$ref" in schema:
            slug = self.block_slug(self.pointer(schema["$ref"]), depth + 1)
            if slug:
                return slug
        for key in ("allOf", "anyOf", "oneOf"):
            for sub in schema.get(key) or []:
                slug = self.block_slug(sub, depth + 1)
                if slug:
                    return slug
        return None

    def secret_fields(self, schema, depth=0):
        """``secret_fields`` of the block ``schema`` holds (``service_account_info.*``)."""
        if not isinstance(schema, dict) or depth > 20:
            return []
        if schema.get("block_type_slug"):
            return list(schema.get("secret_fields") or [])
        if "$ref" in schema:
            found = self.secret_fields(self.pointer(schema["$ref"]), depth + 1)
            if found:
                return found
        for key in ("allOf", "anyOf", "oneOf"):
            for sub in schema.get(key) or []:
                found = self.secret_fields(sub, depth + 1)
                if found:
                    return found
        return []

    def _resolve(self, schema, depth=0):
        while isinstance(schema, dict) and "$ref" in schema and depth < 20:
            schema = self.pointer(schema["$ref"])
            depth += 1
        return schema if isinstance(schema, dict) else {}

    def _types(self, schema):
        types = self._resolve(schema).get("type")
        if types is None:
            return None
        return [types] if isinstance(types, str) else list(types)

    # -- validation ---------------------------------------------------------------------------
    def variable_errors(self, key, value, path):
        """Errors of one job variable's ``value`` (``path`` is a tuple naming where it is)."""
        schema = self.properties.get(key)
        if schema is None:
            return []
        if value is None and key not in self.required and "type" in schema:
            return []  # the server lets an optional typed variable be null
        return self.errors(value, schema, path)

    def errors(self, value, schema, path, depth=0):
        """List of ``(path, message)`` for ``value`` against ``schema``."""
        if depth > 40 or schema is True or schema is None:
            return []
        if schema is False:
            return [(path, "no value is allowed here")]
        if not isinstance(schema, dict):
            return []
        slug = self.block_slug(schema)
        if slug is not None and block_ref_of(value) is not None:
            self.block_refs.append((path, slug, value))
            return []
        out = []
        if "$ref" in schema:
            target = self.pointer(schema["$ref"])
            if target is None:
                out.append((path, "the schema's $ref {!r} does not resolve".format(schema["$ref"])))
            else:
                out.extend(self.errors(value, target, path, depth + 1))
        for sub in schema.get("allOf") or []:
            out.extend(self.errors(value, sub, path, depth + 1))
        for key in ("anyOf", "oneOf"):
            if schema.get(key):
                out.extend(self._any_of(value, schema[key], path, depth))
        types = schema.get("type")
        if types is not None:
            types = [types] if isinstance(types, str) else list(types)
            if not any(is_type(value, t) for t in types):
                out.append(
                    (path, "expected type {}, got {}".format(" or ".join(types), json_type(value)))
                )
                return out
        if "enum" in schema and not any(_json_equal(value, v) for v in schema["enum"]):
            out.append(
                (
                    path,
                    "{} is not one of: {}".format(
                        _short(value), ", ".join(_short(v) for v in schema["enum"])
                    ),
                )
            )
        if "const" in schema and not _json_equal(value, schema["const"]):
            out.append((path, "must be {}".format(_short(schema["const"]))))
        if isinstance(value, str):
            out.extend(self._string(value, schema, path))
        elif is_type(value, "number") and not isinstance(value, bool):
            out.extend(self._number(value, schema, path))
        elif isinstance(value, (list, tuple)):
            out.extend(self._array(value, schema, path, depth))
        elif isinstance(value, dict):
            out.extend(self._object(value, schema, path, depth))
        return out

    def _any_of(self, value, branches, path, depth):
        results = [self.errors(value, b, path, depth + 1) for b in branches]
        if any(not r for r in results):
            return []
        fitting = []
        names = []
        for branch, errs in ((branches[n], results[n]) for n in range(len(branches))):
            types = self._types(branch)
            if types is None:
                fitting.append(errs)
                continue
            names.extend(t for t in types if t not in names)
            if any(is_type(value, t) for t in types):
                fitting.append(errs)
        if len(fitting) == 1:
            return fitting[0]
        if names and not fitting:
            return [(path, "expected type {}, got {}".format(" or ".join(names), json_type(value)))]
        return [(path, "matches none of the forms the schema allows ({})".format(
            "; ".join(m for r in results for _p, m in r[:1])))]  # fmt: skip

    def _string(self, value, schema, path):
        out = []
        if "minLength" in schema and len(value) < schema["minLength"]:
            out.append((path, "shorter than {} characters".format(schema["minLength"])))
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            out.append((path, "longer than {} characters".format(schema["maxLength"])))
        if "pattern" in schema:
            try:
                if not re.search(schema["pattern"], value):
                    out.append(
                        (
                            path,
                            "{} does not match the pattern {}".format(
                                _short(value), schema["pattern"]
                            ),
                        )
                    )
            except re.error:
                pass
        if schema.get("format") == "uuid":
            try:
                uuid.UUID(value)
            except ValueError:
                out.append((path, f"{_short(value)} is not a UUID"))
        return out

    def _number(self, value, schema, path):
        out = []
        low, high = schema.get("minimum"), schema.get("maximum")
        ex_low, ex_high = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
        if ex_low is True:  # draft 4 form
            ex_low, low = low, None
        if ex_high is True:
            ex_high, high = high, None
        if is_type(low, "number") and value < low:
            out.append((path, f"{value} is less than the minimum {low}"))
        if is_type(ex_low, "number") and not isinstance(ex_low, bool) and value <= ex_low:
            out.append((path, f"{value} must be greater than {ex_low}"))
        if is_type(high, "number") and value > high:
            out.append((path, f"{value} is more than the maximum {high}"))
        if is_type(ex_high, "number") and not isinstance(ex_high, bool) and value >= ex_high:
            out.append((path, f"{value} must be less than {ex_high}"))
        step = schema.get("multipleOf")
        if is_type(step, "number") and step and (value / step) != int(value / step):
            out.append((path, f"{value} is not a multiple of {step}"))
        return out

    def _array(self, value, schema, path, depth):
        out = []
        if "minItems" in schema and len(value) < schema["minItems"]:
            out.append((path, "fewer than {} items".format(schema["minItems"])))
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            out.append((path, "more than {} items".format(schema["maxItems"])))
        prefix = schema.get("prefixItems")
        items = schema.get("items")
        if isinstance(items, list) and prefix is None:  # draft 4-7 tuple form
            prefix, items = items, schema.get("additionalItems")
        for n, item in enumerate(value):
            if prefix is not None and n < len(prefix):
                out.extend(self.errors(item, prefix[n], path + (n,), depth + 1))
            elif isinstance(items, (dict, bool)):
                out.extend(self.errors(item, items, path + (n,), depth + 1))
        if schema.get("uniqueItems"):
            for n, item in enumerate(value):
                if any(_json_equal(item, other) for other in value[:n]):
                    out.append((path + (n,), "duplicate item"))
        return out

    def _object(self, value, schema, path, depth):
        out = []
        props = schema.get("properties") or {}
        required = schema.get("required") or []
        for key in required:
            if key not in value:
                out.append((path + (key,), "required but missing"))
        patterns = schema.get("patternProperties") or {}
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            matched = False
            if key in props:
                matched = True
                sub = props[key]
                if not (
                    item is None and key not in required and isinstance(sub, dict) and "type" in sub
                ):
                    out.extend(self.errors(item, sub, path + (key,), depth + 1))
            for pattern, sub in patterns.items():
                try:
                    if re.search(pattern, key):
                        matched = True
                        out.extend(self.errors(item, sub, path + (key,), depth + 1))
                except re.error:
                    matched = True
            if matched:
                continue
            if extra is False:
                out.append(
                    (
                        path + (key,),
                        "unknown key (known: {})".format(", ".join(sorted(props)) or "none"),
                    )
                )
            elif isinstance(extra, dict):
                out.extend(self.errors(item, extra, path + (key,), depth + 1))
        if "minProperties" in schema and len(value) < schema["minProperties"]:
            out.append((path, "fewer than {} keys".format(schema["minProperties"])))
        if "maxProperties" in schema and len(value) > schema["maxProperties"]:
            out.append((path, "more than {} keys".format(schema["maxProperties"])))
        return out


# ---- jsonschema, when importable ------------------------------------------------------------
def _nullable(properties, required):
    """As Prefect's ``preprocess_schema`` does: an optional typed property may be null."""
    for key, sub in properties.items():
        if not isinstance(sub, dict):
            continue
        if key not in required and "type" in sub and sub.get("type") != "null":
            sub["anyOf"] = [{"type": sub.pop("type")}, {"type": "null"}]
        if isinstance(sub.get("properties"), dict):
            _nullable(sub["properties"], sub.get("required") or [])


def prepared_schema(schema):
    """The variables schema as the Prefect server validates with it, minus top-level ``required``
    (checked separately) and with block fields also taking a ``{$ref: ...}`` reference."""
    schema = copy.deepcopy(schema)
    schema.pop("required", None)
    _nullable(schema.get("properties") or {}, [])
    for defs_key in ("definitions", "$defs"):
        defs = schema.get(defs_key)
        if not isinstance(defs, dict):
            continue
        for name, definition in list(defs.items()):
            if not isinstance(definition, dict):
                continue
            _nullable(definition.get("properties") or {}, definition.get("required") or [])
            if definition.get("block_type_slug"):
                defs[name] = {"anyOf": [definition, {"type": "object", "required": ["$ref"]}]}
    return schema


def jsonschema_available():
    try:
        import jsonschema  # noqa: F401
    except ImportError:
        return False
    return True


# One module run checks many pools, most of them with the same template: each schema is checked,
# and its validator built, once (keyed by the schema's JSON; one run, one process).
_SCHEMA_ERRORS = {}
_VALIDATORS = {}
_UNSET = object()


def _schema_key(schema):
    """The schema's canonical JSON, or None (then nothing is kept)."""
    try:
        return json.dumps(schema, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError):
        return None


def jsonschema_schema_error(schema):
    """What is wrong with ``schema`` as a JSON schema (None when fine or jsonschema is absent)."""
    try:
        import jsonschema
        from jsonschema.validators import validator_for
    except ImportError:
        return None
    key = _schema_key(schema)
    found = _SCHEMA_ERRORS.get(key, _UNSET) if key is not None else _UNSET
    if found is _UNSET:
        found = _schema_error(jsonschema, validator_for, schema)
        if key is not None:
            _SCHEMA_ERRORS[key] = found
    return found


def _schema_error(jsonschema, validator_for, schema):
    try:
        validator_for(schema, default=jsonschema.Draft202012Validator).check_schema(schema)
    except jsonschema.SchemaError as err:
        return "{} (at {})".format(
            err.message, format_path(tuple(err.absolute_path)) or "top level"
        )
    except Exception:  # noqa: BLE001 - an odd jsonschema release: leave it to the server
        return None
    return None


def jsonschema_errors(instance, schema):
    """``(path, message)`` errors of ``instance`` by jsonschema (None: not importable)."""
    try:
        import jsonschema
        from jsonschema.validators import validator_for
    except ImportError:
        return None
    key = _schema_key(schema)
    validator = _VALIDATORS.get(key, _UNSET) if key is not None else _UNSET
    try:
        if validator is _UNSET:
            schema = prepared_schema(schema)
            validator = validator_for(schema, default=jsonschema.Draft202012Validator)(schema)
            if key is not None:
                _VALIDATORS[key] = validator
        errors = list(validator.iter_errors(instance))
    except Exception:  # noqa: BLE001 - unresolvable refs and the like: the subset has spoken
        return None
    return [(tuple(e.absolute_path), e.message) for e in errors]


# ---- templates ------------------------------------------------------------------------------
def placeholders(node):
    """Names of the ``{{ name }}`` placeholders in ``node`` (Prefect's find_placeholders)."""
    return set(PLACEHOLDER_RE.findall(json.dumps(node)))


def undeclared_placeholders(template):
    """Variables the job configuration uses that the variables schema does not declare."""
    config = template.get("job_configuration") or {}
    props = (template.get("variables") or {}).get("properties") or {}
    used = set()
    for value in config.values():
        used |= placeholders(value)
    return sorted(used - set(props))


# ---- secrets --------------------------------------------------------------------------------
def _segment(key):
    key = str(key)
    return "*" if "." in key or key == "*" else key  # a dotted key masks its siblings too


def secret_paths(data, prefix=""):
    """Dotted paths (prefect_compare notation) of the values under secret-looking keys, and of
    the variables of an ``env`` (where flows' secrets go: a mapping, or Kubernetes' and Cloud
    Run's list of ``{name, value}``)."""
    found = []

    def walk(node, path):
        if isinstance(node, dict):
            if block_ref_of(node) is not None:
                return  # a reference names a block, it holds no secret
            for key, value in node.items():
                here = path + [_segment(key)]
                if SECRET_KEY_RE.search(str(key)) and block_ref_of(value) is None:
                    found.append(".".join(here))
                elif key == "env" and isinstance(value, dict):
                    found.append(".".join(here + ["*"]))
                elif key == "env" and isinstance(value, list):
                    found.append(".".join(here + ["*", "value"]))
                    walk(value, here)
                else:
                    walk(value, here)
        elif isinstance(node, list):
            for value in node:
                walk(value, path + ["*"])

    walk(data, [prefix] if prefix else [])
    return found


def job_variable_secret_paths(job_variables, schema, prefix=""):
    """Secret paths of job variables: secret-looking keys, and the ``secret_fields`` of a block
    given inline (not as a reference), e.g. ``credentials.service_account_info.*``."""
    checker = VariablesSchema(schema)
    paths = secret_paths(job_variables, prefix)
    for key, value in (job_variables or {}).items():
        if not isinstance(value, dict) or block_ref_of(value) is not None:
            continue
        for field in checker.secret_fields(checker.properties.get(key)):
            paths.append(".".join(p for p in (prefix, _segment(key), field) if p))
    return paths


def template_secret_paths(template, prefix="base_job_template"):
    """Secret paths of a whole base job template: variable defaults and the job configuration."""
    if not isinstance(template, dict):
        return []
    variables = template.get("variables") or {}
    props = variables.get("properties") or {}
    defaults = dict(
        (k, v["default"]) for k, v in props.items() if isinstance(v, dict) and "default" in v
    )
    paths = []
    for path in job_variable_secret_paths(defaults, variables):
        key, _sep, rest = path.partition(".")
        paths.append(_join(prefix, "variables.properties", key, "default", rest))
    config = template.get("job_configuration") or {}
    paths.extend(secret_paths(config, _join(prefix, "job_configuration")))
    return paths


def _join(*parts):
    return ".".join(p for p in parts if p)
