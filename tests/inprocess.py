"""Run a module of library/ in the pytest process, as ``ansible-test units`` runs modules.

The real module and the real ``AnsibleModule`` (argument spec checks, type coercion, no_log),
real HTTP to the real server, no mocks: only the transport of ``ansible-playbook`` is left out
(templating, AnsiballZ, a Python process per task, about a second of CPU each). The arguments
go in as the controller sends them (``patch_module_args``: JSON with the legacy profile), the
module's ``main()`` runs, and the result is the JSON it prints before ``sys.exit``.

What a process per task gave for free is redone for each run:

* fresh copies of the module and of every ``ansible.module_utils.prefect_*`` from module_utils/
  (a module-level cache cannot carry one run's state into the next); the entries found before are
  put back afterwards, so other tests see what they loaded;
* ansible-core's per-run globals (the warnings and deprecations of the run, the parsed
  arguments, the traceback settings read from them) start empty and are put back afterwards;
* an exception out of ``main()`` is a crash as ``ansible-playbook`` reports it (``MODULE
  FAILURE`` with the traceback in ``module_stderr``), and so is a run that prints no result.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.abc
import importlib.util
import io
import json
import os
import sys
import traceback
from pathlib import Path
from types import CodeType, ModuleType
from unittest import mock

from ansible.module_utils import basic
from ansible.module_utils.common import warnings as ansible_warnings

try:  # is_controller: ansible-core >= 2.19
    from ansible.module_utils import _internal as module_utils_internal
except ImportError:
    module_utils_internal = None
try:  # ansible-core >= 2.19
    from ansible.module_utils.testing import patch_module_args
except ImportError:  # 2.17 and 2.18: the global that ansible-core's own unit tests set
    patch_module_args = None

REPO = Path(__file__).resolve().parent.parent
LIBRARY = REPO / "library"
MODULE_UTILS = REPO / "module_utils"
PREFIX = "ansible.module_utils."
_NAMES = {path.stem for path in MODULE_UTILS.glob("*.py")}

# (module, attribute): what one module run of ansible-core keeps in globals (an empty dict or
# list, or None, at the start of a run), reset where the running version has it
_PER_RUN = [
    (basic, "_PARSED_MODULE_ARGS"),
    (ansible_warnings, "_global_warnings"),
    (ansible_warnings, "_global_deprecations"),
]
with contextlib.suppress(ImportError):  # 2.19: traceback settings read from the arguments
    from ansible.module_utils._internal import _traceback

    _PER_RUN.append((_traceback, "_module_tracebacks_enabled_events"))


_CODE: dict[Path, tuple[tuple[int, int], CodeType]] = {}


def import_module_utils(name: str) -> ModuleType:
    """``ansible.module_utils.<name>`` from module_utils/, imported as Ansible names it (once: for
    tests that call a module_utils' code directly, outside a module run)."""
    import ansible.module_utils

    if str(MODULE_UTILS) not in ansible.module_utils.__path__:
        ansible.module_utils.__path__.append(str(MODULE_UTILS))
    return importlib.import_module(PREFIX + name)


def _code(path: Path) -> CodeType:
    """The compiled source, compiled again when the file changes (no .pyc: the runs may have
    PYTHONDONTWRITEBYTECODE, and a module run must not pay for compiling its sources)."""
    stat = path.stat()
    key = (stat.st_mtime_ns, stat.st_size)
    if path not in _CODE or _CODE[path][0] != key:
        _CODE[path] = (key, compile(path.read_bytes(), str(path), "exec", dont_inherit=True))
    return _CODE[path][1]


class _SourceLoader(importlib.abc.Loader):
    """A fresh module from a file's source (compiled once)."""

    def __init__(self, path: Path):
        self.path = path

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        exec(_code(self.path), module.__dict__)  # noqa: S102 - our own module's source


def _spec(fullname: str, path: Path):
    return importlib.util.spec_from_file_location(fullname, path, loader=_SourceLoader(path))


class _ModuleUtilsFinder(importlib.abc.MetaPathFinder):
    """``ansible.module_utils.<name>`` from module_utils/<name>.py, as AnsiballZ ships them."""

    def find_spec(self, fullname, path=None, target=None):
        name = fullname[len(PREFIX) :]
        if not fullname.startswith(PREFIX) or "." in name:
            return None
        source = MODULE_UTILS / f"{name}.py"
        return _spec(fullname, source) if source.is_file() else None


def _ours(name: str) -> bool:
    return name.startswith(PREFIX) and name[len(PREFIX) :] in _NAMES


@contextlib.contextmanager
def _fresh_module_utils():
    """Our module_utils imported afresh while inside; what was there before comes back."""
    package = sys.modules["ansible.module_utils"]
    saved = {name: mod for name, mod in sys.modules.items() if _ours(name)}
    attrs = {name: package.__dict__[name[len(PREFIX) :]] for name in saved
             if name[len(PREFIX) :] in package.__dict__}  # fmt: skip
    for name in saved:
        del sys.modules[name]
        package.__dict__.pop(name[len(PREFIX) :], None)
    finder = _ModuleUtilsFinder()
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)
        for name in [name for name in sys.modules if _ours(name)]:
            del sys.modules[name]
            package.__dict__.pop(name[len(PREFIX) :], None)
        sys.modules.update(saved)
        for name, mod in attrs.items():
            setattr(package, name[len(PREFIX) :], mod)


@contextlib.contextmanager
def _per_run_globals():
    saved = [(mod, attr, getattr(mod, attr)) for mod, attr in _PER_RUN if hasattr(mod, attr)]
    for mod, attr, value in saved:
        fresh = type(value)() if isinstance(value, (dict, list)) else None
        setattr(mod, attr, fresh)
    try:
        # ansible-core 2.19 sends a module's warnings and deprecations to the controller's display,
        # not into its result, once any controller code is imported (another test's import does
        # it): a module runs on a host, where none is.
        with (
            mock.patch.object(module_utils_internal, "is_controller", False)
            if hasattr(module_utils_internal, "is_controller")
            else contextlib.nullcontext()
        ):
            yield
    finally:
        for mod, attr, value in saved:
            setattr(mod, attr, value)


@contextlib.contextmanager
def _module_args(args: dict):
    if patch_module_args is not None:
        with patch_module_args(args):
            yield
        return
    data = json.dumps({"ANSIBLE_MODULE_ARGS": args}).encode()
    with contextlib.ExitStack() as stack:
        stack.enter_context(mock.patch.object(basic, "_ANSIBLE_ARGS", data))
        if hasattr(basic, "_ANSIBLE_PROFILE"):
            stack.enter_context(mock.patch.object(basic, "_ANSIBLE_PROFILE", "legacy"))
        yield


def _printed_result(stdout: str) -> dict | None:
    """The result a module prints: the last line that is a JSON object (the executor, too,
    skips what comes before it)."""
    for line in reversed(stdout.splitlines()):
        if line.startswith("{"):
            with contextlib.suppress(ValueError):
                doc = json.loads(line)
                if isinstance(doc, dict):
                    return doc
    return None


def run_module(name: str, args: dict, check_mode=False, diff=False, cwd=None) -> dict:
    """Run library/<name>.py with ``args`` (check and diff mode as ``--check`` and ``--diff``
    give them) and return its result as the executor reads it."""
    internal = {"_ansible_module_name": name, "_ansible_check_mode": check_mode,
                "_ansible_diff": diff}  # fmt: skip
    stdout, stderr = io.StringIO(), io.StringIO()
    code: object = "returned"
    crash = None
    with contextlib.ExitStack() as stack:
        stack.enter_context(_per_run_globals())
        stack.enter_context(_fresh_module_utils())
        stack.enter_context(_module_args({**args, **internal}))
        if cwd is not None:
            stack.enter_context(_chdir(cwd))
        stack.enter_context(contextlib.redirect_stdout(stdout))
        stack.enter_context(contextlib.redirect_stderr(stderr))
        spec = _spec(f"_inprocess_{name}", LIBRARY / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        try:
            spec.loader.exec_module(module)
            module.main()
        except SystemExit as exit_:
            code = exit_.code
        except Exception:  # noqa: BLE001 - a crash is a result of its own
            crash = traceback.format_exc()
        finally:
            del sys.modules[spec.name]
    result = _printed_result(stdout.getvalue())
    if crash or result is None:
        why = crash.strip().splitlines()[-1] if crash else f"no JSON result (exit {code!r})"
        return {
            "failed": True,
            "msg": f"MODULE FAILURE: {why}",
            "module_stdout": stdout.getvalue()[-3000:],
            "module_stderr": (crash or stderr.getvalue())[-3000:],
        }
    if bool(result.get("failed")) != (code not in (0, None)):
        failed = result.get("failed")
        raise AssertionError(f"{name} exited with {code!r} and printed failed={failed!r}")
    # As the executor shows them: ansible-core 2.19 returns warning summaries.
    warnings = [w["event"]["msg"] if isinstance(w, dict) and "event" in w else w
                for w in result.pop("warnings", [])]  # fmt: skip
    if warnings:
        result["warnings"] = warnings
    return result


@contextlib.contextmanager
def _chdir(path):
    before = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)
