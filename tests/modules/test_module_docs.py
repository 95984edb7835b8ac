"""The modules' documentation parses and matches their argument specs (no drift).

The common options live once, in the doc fragment ``doc_fragments/prefect_api.py``: each module's
own options plus the fragment's must be exactly its argument spec, and ``ansible-doc`` must find
the fragment through ``ansible.cfg``.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest
import yaml
from conftest import REPO, VENV_BIN, ansible_env

MODULES = {
    "prefect_blocks": ("BlocksModule", "blocks"),
    "prefect_work_pools": ("WorkPoolsModule", "work_pools"),
    "prefect_deployments": ("DeploymentsModule", "deployments"),
    "prefect_variables": ("VariablesModule", "variables"),
    "prefect_automations": ("AutomationsModule", "automations"),
}


def test_every_module_is_checked():
    assert set(MODULES) == {path.stem for path in (REPO / "library").glob("*.py")}


def load(name: str, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def modules():
    for util in ("prefect_compare", "prefect_cron", "prefect_validate", "prefect_api"):
        load(f"ansible.module_utils.{util}", REPO / "module_utils" / f"{util}.py")
    return {name: load(f"_test_{name}", REPO / "library" / f"{name}.py") for name in MODULES}


@pytest.mark.parametrize("name", sorted(MODULES))
def test_doc_matches_argument_spec(modules, name):
    mod = modules[name]
    cls = getattr(mod, MODULES[name][0])
    doc = yaml.safe_load(mod.DOCUMENTATION)
    yaml.safe_load(mod.EXAMPLES)
    yaml.safe_load(mod.RETURN)
    from ansible.module_utils.prefect_api import COMMON_ARGUMENT_SPEC

    spec = {**COMMON_ARGUMENT_SPEC, **cls.extra_spec, cls.kind: {"options": cls.item_spec}}
    assert doc["extends_documentation_fragment"] == ["prefect_api"]
    fragment = yaml.safe_load(
        load(
            "_test_fragment", REPO / "doc_fragments" / "prefect_api.py"
        ).ModuleDocFragment.DOCUMENTATION
    )
    assert set(fragment["options"]) == set(COMMON_ARGUMENT_SPEC)
    assert not set(doc["options"]) & set(fragment["options"]), "a common option documented twice"
    options = {**fragment["options"], **doc["options"]}
    assert set(options) == set(spec)
    for key, value in spec.items():
        assert options[key].get("type", "str") == value.get("type", options[key].get("type"))
        assert options[key].get("default") == value.get("default"), key
        assert bool(options[key].get("no_log")) is False  # never put secrets in docs defaults
    items = options[cls.kind]["suboptions"]
    assert set(items) == set(cls.item_spec)
    for key, value in cls.item_spec.items():
        assert items[key]["type"] == value["type"], key
        assert items[key].get("default") == value.get("default"), key
        assert items[key].get("choices") == value.get("choices"), key
    for attr in ("check_mode", "diff_mode", "idempotent"):
        assert doc["attributes"][attr]["support"] == "full"
    assert COMMON_ARGUMENT_SPEC["api_auth_string"]["no_log"] is True


@pytest.mark.parametrize("name", sorted(MODULES))
def test_ansible_doc_renders(name):
    proc = subprocess.run(  # noqa: S603
        [str(VENV_BIN / "ansible-doc"), "-M", str(REPO / "library"), "--json", name],
        capture_output=True, text=True, env=ansible_env(), timeout=120, cwd=REPO,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)[name]["doc"]
    assert set(doc["attributes"]) >= {"check_mode", "diff_mode", "idempotent"}
    # the fragment's options, merged in by ansible-doc itself
    assert doc["options"]["api_auth_string"]["type"] == "str"
    assert doc["options"]["api_url"]["required"] is True
