"""The modules' documentation parses and matches their argument specs (no drift)."""

from __future__ import annotations

import importlib.util
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
    options = doc["options"]
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
        [str(VENV_BIN / "ansible-doc"), "-M", str(REPO / "library"), name],
        capture_output=True, text=True, env=ansible_env(), timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "check_mode" in proc.stdout
