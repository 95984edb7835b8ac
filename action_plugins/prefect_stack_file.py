# Copyright: prefect-stack contributors
# MIT License (see LICENSE at the top of the repository)
"""Write a file as ``ansible.builtin.template`` or ``ansible.builtin.copy`` would, in one call
when the host already holds it.

The builtins cost five calls on the host for a file that is already as wanted: the user's home
(``echo ~``), a temporary directory, ``stat``, ``file`` for mode and owner, and removing the
temporary directory. This action renders the template or reads the content on the controller,
looks at the file with one shell call (``stat`` and ``sha1sum``, no Python started on the host),
and when the checksum, mode, owner and group are those asked for, reports the file unchanged.
Otherwise, or when an option asks for something that look cannot confirm, the builtin runs with
the same options and does everything it always does (check mode, diff, ``validate``, ``backup``).
A host whose shell tools answer otherwise than GNU coreutils' is looked at with the ``stat``
module instead.

Options: ``template`` (a template, found as ``ansible.builtin.template`` finds its ``src``), or
``src`` or ``content`` as ``ansible.builtin.copy`` takes them; every other option of the builtin.
The result of an unchanged file carries ``dest``, ``checksum``, ``mode``, ``owner``, ``group``,
``uid``, ``gid`` and ``size``, never the content.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex

from ansible.errors import AnsibleActionFail, AnsibleError
from ansible.module_utils.common.text.converters import to_bytes
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase

# Options whose effect the stat of the file confirms, or that matter only when it is written.
CHECKABLE = frozenset(
    {"src", "content", "dest", "mode", "owner", "group", "follow", "backup", "validate",
     "unsafe_writes", "decrypt"}
)  # fmt: skip
OCTAL_MODE = re.compile(r"0?[0-7]{3,4}")

# Sent to /bin/sh on its standard input (no terminal, whatever the connection), as root under
# become. One line of stat's fields, then the content's SHA-1 for a regular file (read from
# standard input, so sha1sum never escapes the name).
LOOK = """LC_ALL=C
export LC_ALL
p={path}
if [ ! -e "$p" ] && [ ! -L "$p" ]; then echo absent; exit 0; fi
stat {follow}--printf '%F|%a|%U|%G|%u|%g|%s\\n' -- "$p" || exit 3
if [ -f "$p" ] && {regular}; then sha1sum < "$p" || exit 4; fi
"""
STAT_LINE = re.compile(
    r"(?P<kind>[a-z ]+)\|(?P<mode>[0-7]{1,4})\|(?P<pw_name>[^|]*)\|(?P<gr_name>[^|]*)"
    r"\|(?P<uid>\d+)\|(?P<gid>\d+)\|(?P<size>\d+)"
)
SHA1_LINE = re.compile(r"(?P<checksum>[0-9a-f]{40}) +-")


def _same_mode(wanted, found: str) -> bool:
    if isinstance(wanted, int):
        return wanted == int(found, 8)
    return bool(OCTAL_MODE.fullmatch(str(wanted))) and int(str(wanted), 8) == int(found, 8)


def _same_id(wanted, name: str, number: int) -> bool:
    wanted = str(wanted)
    return wanted == str(number) if wanted.isdigit() else wanted == name


class _QuickCopy:
    """Mixed into the builtin copy action: one stat first, the builtin only when it differs."""

    def run(self, tmp=None, task_vars=None):
        unchanged = self._unchanged(task_vars or {})
        return unchanged if unchanged is not None else super().run(tmp, task_vars)

    def _wanted_bytes(self) -> bytes | None:
        args = self._task.args
        if args.get("content") is not None:
            content = args["content"]
            return to_bytes(json.dumps(content) if isinstance(content, (dict, list)) else content)
        source = args.get("src")
        if not source or source.endswith(os.sep):
            return None
        try:
            path = self._find_needle("files", source)
        except AnsibleError:
            return None  # the builtin reports it
        if os.path.isdir(path):
            return None
        real = self._loader.get_real_file(path, decrypt=boolean(args.get("decrypt", True)))
        try:
            with open(real, "rb") as handle:
                return handle.read()
        finally:
            self._loader.cleanup_tmp_file(real)

    def _unchanged(self, task_vars: dict) -> dict | None:
        args = self._task.args
        dest = args.get("dest")
        if set(args) - CHECKABLE or not isinstance(dest, str) or not dest or dest.endswith("/"):
            return None
        wanted = self._wanted_bytes()
        if wanted is None:
            return None
        follow = boolean(args.get("follow", False))
        found = self._look(dest, follow)
        if found is None:
            found = self._execute_remote_stat(
                dest, all_vars=task_vars, follow=follow, checksum=True
            )
        if not found["exists"] or found.get("isdir") or found.get("islnk"):
            return None
        if found["checksum"] != hashlib.sha1(wanted).hexdigest():  # noqa: S324 - as copy compares
            return None
        for option, same in (
            ("mode", lambda value: _same_mode(value, found["mode"])),
            ("owner", lambda value: _same_id(value, found["pw_name"], found["uid"])),
            ("group", lambda value: _same_id(value, found["gr_name"], found["gid"])),
        ):
            if args.get(option) is not None and not same(args[option]):
                return None
        return {
            "changed": False,
            "dest": dest,
            "checksum": found["checksum"],
            "mode": found["mode"],
            "owner": found["pw_name"],
            "group": found["gr_name"],
            "uid": found["uid"],
            "gid": found["gid"],
            "size": found["size"],
            "state": "file",
        }

    def _look(self, dest: str, follow: bool) -> dict | None:
        """The file's stat and checksum from one shell call; None when the answer is not plain."""
        script = LOOK.format(
            path=shlex.quote(dest),
            follow="-L " if follow else "",
            regular="true" if follow else '[ ! -L "$p" ]',
        )
        try:
            result = self._low_level_execute_command("/bin/sh", in_data=script.encode())
        except AnsibleError:
            return None
        lines = result.get("stdout", "").replace("\r", "").splitlines()
        if result.get("rc") != 0 or not lines:
            return None
        if lines == ["absent"]:
            return {"exists": False}
        stat = STAT_LINE.fullmatch(lines[0])
        if stat is None:
            return None
        kind = stat["kind"]
        found = {
            "exists": True,
            "isdir": kind == "directory",
            "islnk": kind == "symbolic link",
            "mode": f"{int(stat['mode'], 8):04o}",
            "pw_name": stat["pw_name"],
            "gr_name": stat["gr_name"],
            "uid": int(stat["uid"]),
            "gid": int(stat["gid"]),
            "size": int(stat["size"]),
        }
        if kind.startswith("regular"):
            checksum = SHA1_LINE.fullmatch(lines[1]) if len(lines) == 2 else None
            if checksum is None:
                return None
            found["checksum"] = checksum["checksum"]
        return found


class _Actions:
    """The shared loader, with the builtin copy action swapped for the quick one."""

    def __init__(self, shared, quick_copy):
        self._shared = shared
        self._quick_copy = quick_copy

    def get(self, name, *args, **kwargs):
        if name in ("ansible.legacy.copy", "ansible.builtin.copy", "copy"):
            return self._quick_copy(**kwargs)
        return self._shared.action_loader.get(name, *args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._shared.action_loader, name)


class _Loaders:
    def __init__(self, shared, quick_copy):
        self._shared = shared
        self.action_loader = _Actions(shared, quick_copy)

    def __getattr__(self, name):
        return getattr(self._shared, name)


class ActionModule(ActionBase):
    # No temporary directory up front: an unchanged file needs none. The builtin makes its own.
    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        shared = self._shared_loader_obj
        copy_class = shared.action_loader.get("ansible.builtin.copy", class_only=True)
        quick_copy_class = type("QuickCopy", (_QuickCopy, copy_class), {})
        task = self._task.copy()
        template = task.args.pop("template", None)
        if template is not None and ("src" in task.args or "content" in task.args):
            raise AnsibleActionFail("template, src and content are mutually exclusive")

        def make(cls, **overrides):
            parts = {
                "task": task,
                "connection": self._connection,
                "play_context": self._play_context,
                "loader": self._loader,
                "templar": self._templar,
                "shared_loader_obj": shared,
            }
            parts.update(overrides)
            return cls(**parts)

        if template is None:
            return make(quick_copy_class).run(task_vars=task_vars)
        task.args["src"] = template
        template_class = shared.action_loader.get("ansible.builtin.template", class_only=True)
        renderer = make(type("Render", (template_class,), {"TRANSFERS_FILES": False}))
        # The builtin renders, then hands the file to the copy action it finds here.
        renderer._shared_loader_obj = _Loaders(
            shared, lambda **parts: make(quick_copy_class, **parts)
        )
        return renderer.run(task_vars=task_vars)
