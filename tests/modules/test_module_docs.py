"""Every module in library/ documents itself as Ansible reads it, and the documentation is the
module's contract.

``ansible-test sanity`` (validate-modules) runs only inside a collection
(``ansible_collections/<namespace>/<name>``), which a playbook repository is not. So Ansible
itself reads the documentation: one ``ansible-doc --json`` over every module of library/, with
the fragments of doc_fragments/ merged in, and the test checks what validate-modules would:
the documented options are the argument spec the module runs with, the attributes, EXAMPLES
(tasks using documented options only), RETURN, the markup. What ``ansible-doc`` hides is checked
on the module's own DOCUMENTATION: a shared option or attribute written again in a module (the
fragment would silently lose to it).
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import json
import re
import subprocess
import sys
from unittest import mock

import pytest
import yaml
from conftest import REPO, VENV_BIN, ansible_env
from inprocess import import_module_utils

MODULES = sorted(path.stem for path in (REPO / "library").glob("*.py"))
FRAGMENTS = ["prefect_api", "prefect_api.attributes"]
ATTRIBUTES = ("check_mode", "diff_mode", "idempotent")
# what the base's run() returns besides changed and invocation
RETURNED = {"results", "summary", "diff"}
# validate-modules' rule: an option whose name looks secret sets no_log, True or False
SECRET_NAME = re.compile(r"pass(?!ive)|secret|token|key|auth", re.I)
# markup with one parameter: it ends at the first ")" (O, V, RV, E, P take "\)" as a ")")
MARKUP = re.compile(r"\b(RV|[CIBMUOVEP])\(((?:\\.|[^)\\])*)\)")


def test_modules_are_found():
    assert len(MODULES) >= 7, MODULES


# ---- what ansible-doc reads ------------------------------------------------------------------
@pytest.fixture(scope="module")
def docs():
    proc = subprocess.run(  # noqa: S603
        [str(VENV_BIN / "ansible-doc"), "--json", "-M", "library", "--playbook-dir", ".",
         *MODULES],
        capture_output=True, text=True, timeout=300, cwd=REPO,
        env=ansible_env({"ANSIBLE_DOC_FRAGMENT_PLUGINS": str(REPO / "doc_fragments")}),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "ERROR" not in proc.stderr and "WARNING" not in proc.stderr, proc.stderr
    return json.loads(proc.stdout)


def test_every_module_documents(docs):
    assert sorted(docs) == MODULES
    for name in MODULES:
        assert docs[name]["doc"]["module"] == name
        assert docs[name]["examples"] and docs[name]["return"], name


# ---- the argument spec the module runs with -------------------------------------------------
class Captured(Exception):
    def __init__(self, argument_spec, **kwargs):
        super().__init__("AnsibleModule built")
        self.argument_spec = argument_spec
        self.kwargs = kwargs


def capture(argument_spec, **kwargs):
    raise Captured(argument_spec, **kwargs)


def load(name: str, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def runtime():
    """``{module: (argument spec, AnsibleModule kwargs, its kind's class or None)}``: main() run
    up to the AnsibleModule it builds. A kind's module runs the one kind it imports from
    module_utils; ``prefect_plan`` builds its own AnsibleModule and plans every kind."""
    from ansible.module_utils import basic

    api = import_module_utils("prefect_api")
    out = {}
    with mock.patch.object(api, "AnsibleModule", capture), \
            mock.patch.object(basic, "AnsibleModule", capture):  # fmt: skip
        for name in MODULES:
            mod = load(f"_doc_test_{name}", REPO / "library" / f"{name}.py")
            classes = {
                c
                for c in vars(mod).values()
                if isinstance(c, type) and issubclass(c, api.PrefectObjectsModule)
            }
            assert len(classes) == 1 or name == "prefect_plan", (name, classes)
            with pytest.raises(Captured) as built:
                mod.main()
            kind = classes.pop() if len(classes) == 1 else None
            out[name] = (built.value.argument_spec, built.value.kwargs, kind)
    return out


def effective_spec(argument_spec, item_lists):
    """The spec as the module applies it: an items option is ``raw`` to Ansible and checked by
    ``check_options`` as a list of mappings with the item spec."""
    spec = dict(argument_spec)
    for option, item_spec in item_lists.items():
        assert spec[option]["type"] == "raw", option
        spec[option] = dict(spec[option], type="list", elements="dict", options=item_spec)
    return spec


def comparable(options, children):
    """Options (an argument spec, children "options", or ansible-doc's, children "suboptions")
    reduced to what both must agree on."""
    return {
        key: {
            "type": option.get("type", "str"),
            "required": bool(option.get("required")),
            "default": option.get("default"),
            "choices": option.get("choices"),
            "elements": option.get("elements"),
            "suboptions": comparable(option[children], children) if option.get(children) else None,
        }
        for key, option in options.items()
    }


def from_spec(spec):
    return comparable(spec, "options")


def from_doc(options):
    return comparable(options, "suboptions")


def differences(documented, spec, where=""):
    out = []
    for key in sorted(set(documented) | set(spec)):
        path = f"{where}{key}"
        if key not in spec:
            out.append(f"{path}: documented, not in the argument spec")
        elif key not in documented:
            out.append(f"{path}: in the argument spec, not documented")
        else:
            doc, run = documented[key], spec[key]
            for field in ("type", "required", "default", "choices", "elements"):
                if doc[field] != run[field]:
                    out.append(f"{path}: {field} documented {doc[field]!r}, runs {run[field]!r}")
            if doc["suboptions"] is not None and run["suboptions"] is not None:
                out.extend(differences(doc["suboptions"], run["suboptions"], path + "."))
            elif doc["suboptions"] is not None:
                out.append(f"{path}: suboptions documented, none in the argument spec")
            elif run["suboptions"] is not None:
                out.append(f"{path}: suboptions in the argument spec, none documented")
    return out


@pytest.mark.parametrize("name", MODULES)
def test_options_are_the_argument_spec(docs, runtime, name):
    argument_spec, _, cls = runtime[name]
    spec = effective_spec(argument_spec, cls.item_lists() if cls else {})
    problems = differences(from_doc(docs[name]["doc"]["options"]), from_spec(spec))
    assert not problems, "\n".join(problems)


def secret_looking(spec, where=""):
    """Options whose name looks secret: (path, no_log as set, or None when not set)."""
    for key, option in spec.items():
        if SECRET_NAME.search(key):
            yield f"{where}{key}", option.get("no_log")
        if option.get("options"):
            yield from secret_looking(option["options"], f"{where}{key}.")


@pytest.mark.parametrize("name", MODULES)
def test_no_log(docs, runtime, name):
    argument_spec, _, _ = runtime[name]
    # Ansible's own argument spec (not the items, which the module masks itself)
    unset = [path for path, no_log in secret_looking(argument_spec) if no_log is None]
    assert not unset, f"set no_log (True or False) on {unset}"
    assert argument_spec["api_auth_string"]["no_log"] is True
    options = docs[name]["doc"]["options"]
    shown = [k for k, o in argument_spec.items() if o.get("no_log") and "default" in options[k]]
    assert not shown, f"a no_log option with a documented default: {shown}"


# ---- attributes -----------------------------------------------------------------------------
@pytest.mark.parametrize("name", MODULES)
def test_attributes(docs, runtime, name):
    attributes = docs[name]["doc"]["attributes"]
    for attribute in ATTRIBUTES:
        assert attributes[attribute]["support"] == "full", (name, attribute)
        assert attributes[attribute]["description"], (name, attribute)
    # check_mode: full is what Ansible acts on: the module must take check mode
    assert runtime[name][1].get("supports_check_mode") is True


def constant(path, name):
    """The YAML of the string constant ``name`` assigned in the Python file ``path``."""
    for node in ast.walk(ast.parse(path.read_text())):
        targets = [getattr(target, "id", None) for target in getattr(node, "targets", [])]
        if isinstance(node, ast.Assign) and targets == [name]:
            return yaml.safe_load(ast.literal_eval(node.value))
    raise AssertionError(f"{path.name}: no {name}")


def own_documentation(name):
    return constant(REPO / "library" / f"{name}.py", "DOCUMENTATION")


def fragment(var):
    return constant(REPO / "doc_fragments" / "prefect_api.py", var)


@pytest.mark.parametrize("name", MODULES)
def test_shared_parts_are_not_written_again(name):
    """ansible-doc lets a module's own option or attribute win over the fragment's, silently."""
    own = own_documentation(name)
    assert own["extends_documentation_fragment"] == FRAGMENTS
    again = set(own["options"]) & set(fragment("DOCUMENTATION")["options"])
    assert not again, f"common options documented again: {again}"
    shared = fragment("ATTRIBUTES")["attributes"]
    for attribute, value in (own.get("attributes") or {}).items():
        assert attribute in shared, attribute
        assert "support" not in value, f"{attribute}: the support level is the fragment's"
        assert value["description"] != shared[attribute]["description"], attribute


# ---- EXAMPLES, RETURN, markup ---------------------------------------------------------------
def undocumented(value, options, where):
    """Keys of ``value`` (an example's arguments) that ``options`` does not document."""
    out = []
    for key, given in value.items():
        if key not in options:
            out.append(f"{where}{key}")
            continue
        sub = options[key].get("suboptions")
        if not sub:
            continue
        for n, element in enumerate(given if isinstance(given, list) else [given]):
            if isinstance(element, dict):
                out.extend(undocumented(element, sub, f"{where}{key}[{n}]."))
    return out


@pytest.mark.parametrize("name", MODULES)
def test_examples_use_documented_options(docs, name):
    tasks = yaml.safe_load(docs[name]["examples"])
    assert isinstance(tasks, list) and tasks, name
    options = docs[name]["doc"]["options"]
    for task in tasks:
        assert isinstance(task, dict) and task.get("name"), task
        assert name in task, f"{task['name']}: not a task of {name}"
        args = task[name]
        assert not undocumented(args, options, ""), (task["name"], undocumented(args, options, ""))
        missing = [k for k, o in options.items() if o.get("required") and k not in args]
        assert not missing, (task["name"], missing)


@pytest.mark.parametrize("name", MODULES)
def test_return(docs, name):
    returned = docs[name]["return"]
    assert set(returned) >= ({"plans", "settled"} if name == "prefect_plan" else RETURNED), name
    for key, value in returned.items():
        assert value.get("description") and value.get("returned") and value.get("type"), key


def strings(node):
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from strings(value)


def option_paths(options, where=""):
    for key, option in options.items():
        yield where + key
        yield from option_paths(option.get("suboptions") or {}, f"{where}{key}.")


@pytest.mark.parametrize("name", MODULES)
def test_markup(docs, name):
    """As validate-modules: no markup cut short by a ")" inside it, and O() names an option."""
    doc = docs[name]["doc"]
    paths = set(option_paths(doc["options"]))
    texts = list(strings(doc)) + list(strings(docs[name]["return"]))
    problems = []
    for text in texts:
        for macro, content in MARKUP.findall(" ".join(text.split())):
            if "(" in content.replace("\\(", ""):
                problems.append(f"{macro}({content}): ends at its first ')'")
            if macro == "O":
                path = content.split("=", 1)[0].replace("[]", "")
                if path not in paths:
                    problems.append(f"O({content}): no option {path}")
    assert not problems, "\n".join(problems)
