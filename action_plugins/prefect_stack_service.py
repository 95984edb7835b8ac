# Copyright: prefect-stack contributors
# MIT License (see LICENSE at the top of the repository)
"""Bring a systemd unit to a state as ``ansible.builtin.systemd_service`` does, in one shell call
when it is already there.

The builtin starts Python on the host, asks systemd for every property of the unit and, with
``daemon_reload: true``, reloads systemd's whole configuration on every run. This action asks
``systemctl show`` for the five properties that decide (``LoadState``, ``ActiveState``,
``UnitFileState``, ``NeedDaemonReload``, ``SubState``), with no Python started on the host. When
the unit is loaded, its file has not changed on disk since systemd read it, and it is active or
not as ``state`` asks and enabled or not as ``enabled`` asks, the unit is reported unchanged and
systemd is not reloaded: a reload would change nothing. Otherwise, or for any option or value this
look cannot confirm (``restarted``, ``masked``, ``scope`` ...), the builtin runs with the same
options and does everything it always does (check mode, the reload, the start).

Options: those of ``ansible.builtin.systemd_service``. The result of an unchanged unit carries
``name``, ``state``, ``enabled`` and ``status`` (the five properties).
"""

from __future__ import annotations

import re
import shlex

from ansible.errors import AnsibleError
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase

CHECKABLE = frozenset({"name", "state", "enabled", "daemon_reload"})
PROPERTIES = ("LoadState", "ActiveState", "SubState", "UnitFileState", "NeedDaemonReload")
PROPERTY_LINE = re.compile(r"(?P<name>[A-Za-z]+)=(?P<value>[a-z-]*)")
# What the builtin leaves alone for each state.
SETTLED = {"started": {"active"}, "stopped": {"inactive", "failed"}}


class ActionModule(ActionBase):
    # The builtin's module runs with pipelining like any other; the look needs no directory.
    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        unchanged = self._unchanged()
        if unchanged is not None:
            return {**result, **unchanged}
        result.update(
            self._execute_module(
                module_name="ansible.legacy.systemd_service",
                module_args=self._task.args,
                task_vars=task_vars or {},
            )
        )
        return result

    def _unchanged(self) -> dict | None:
        args = self._task.args
        name, state, enabled = args.get("name"), args.get("state"), args.get("enabled")
        if set(args) - CHECKABLE or not isinstance(name, str) or not name:
            return None
        if state is not None and state not in SETTLED:
            return None
        status = self._look(name)
        if (
            status is None
            or status.get("LoadState") != "loaded"
            or status.get("NeedDaemonReload") != "no"
            or (state is not None and status.get("ActiveState") not in SETTLED[state])
        ):
            return None
        if enabled is not None:
            try:
                wanted = "enabled" if boolean(enabled) else "disabled"
            except TypeError:
                return None  # the builtin names the bad value
            if status.get("UnitFileState") != wanted:
                return None
        unchanged = {"changed": False, "name": name, "status": status}
        if state is not None:
            unchanged["state"] = state
        if enabled is not None:
            unchanged["enabled"] = boolean(enabled)
        return unchanged

    def _look(self, name: str) -> dict | None:
        """The unit's deciding properties from one shell call; None when the answer is not plain."""
        script = "LC_ALL=C systemctl show --property={} -- {}\n".format(
            ",".join(PROPERTIES), shlex.quote(name)
        )
        try:
            answer = self._low_level_execute_command("/bin/sh", in_data=script.encode())
        except AnsibleError:
            return None
        if answer.get("rc") != 0:
            return None
        status = {}
        for line in answer.get("stdout", "").replace("\r", "").splitlines():
            match = PROPERTY_LINE.fullmatch(line)
            if match is None or match["name"] not in PROPERTIES:
                return None
            status[match["name"]] = match["value"]
        return status if set(status) == set(PROPERTIES) else None
