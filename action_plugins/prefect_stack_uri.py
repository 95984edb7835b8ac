# Copyright: prefect-stack contributors
# MIT License (see LICENSE at the top of the repository)
"""Call a URL as ``ansible.builtin.uri`` does, in one call on the host when nothing is uploaded.

The builtin's action may upload a file (``src``, or a ``form-multipart`` field's ``filename``),
so it makes a temporary directory on the host before it looks at its options: the user's home
(``echo ~``), ``mkdir``, the module, removing the directory, four calls for every probe or API
call. This action takes the builtin's options and runs the builtin's action; it only says that no
temporary directory is needed unless a file is uploaded. With pipelining the module then runs in
one call; without it, or for ``async``, Ansible makes the directory when it runs the module, as
it does for any module.
"""

from __future__ import annotations

from collections.abc import Mapping

from ansible.plugins.action.uri import ActionModule as UriActionModule


class ActionModule(UriActionModule):
    def _early_needs_tmp_path(self) -> bool:
        args = self._task.args
        if args.get("src"):
            return True
        body = args.get("body")
        if args.get("body_format") != "form-multipart" or not isinstance(body, Mapping):
            return False
        # a field given as a file on the controller (the builtin uploads it), not as content
        return any(
            isinstance(value, Mapping) and value.get("filename") and not value.get("content")
            for value in body.values()
        )
