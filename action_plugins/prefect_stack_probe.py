# Copyright: prefect-stack contributors
# MIT License (see LICENSE at the top of the repository)
"""Run a command that only reads, as ``ansible.builtin.command`` with ``argv`` would, without
starting Python on the host.

The roles ask the host many small questions (is this package there, what does this directory
look like, which release is in the virtualenv) with ``ansible.builtin.command``, ``check_mode:
false`` and ``changed_when: false``. Each one starts Python on the host and loads Ansible's
module code to run one program. This action sends the command line to ``/bin/sh`` on its
standard input (so no connection gives it a terminal, and stdout and stderr stay apart), under
``become`` as a module would run, with ``LC_ALL=C``, and returns what ``command`` returns: ``rc``,
``stdout``, ``stderr``, their ``_lines``, ``cmd``, and ``failed`` when ``rc`` is not 0.

It never changes anything, so it runs in check mode too and always reports ``changed: false``.
Options: ``argv`` (a non-empty list of words), ``chdir`` (a directory to run in) and ``stdin``
(text for the command's standard input, sent in a quoted here-document, with a final newline as
``command`` adds one). Anything else fails the task, naming the option, before the host is asked.
"""

from __future__ import annotations

import secrets
import shlex

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

OPTIONS = frozenset({"argv", "chdir", "stdin"})


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = self._task.args
        unknown = sorted(set(args) - OPTIONS)
        if unknown:
            raise AnsibleActionFail(f"prefect_stack_probe: unknown option(s) {', '.join(unknown)}")
        argv = args.get("argv")
        if (
            not isinstance(argv, list)
            or not argv
            or not all(isinstance(w, (str, int)) for w in argv)
        ):
            raise AnsibleActionFail("prefect_stack_probe: argv must be a non-empty list of words")
        words = [str(word) for word in argv]
        line = shlex.join(words)
        chdir = args.get("chdir")
        if chdir is not None:
            line = f"cd {shlex.quote(str(chdir))} && {line}"
        stdin = args.get("stdin")
        if stdin is not None:
            end = f"PREFECT_STACK_STDIN_{secrets.token_hex(8)}"
            text = str(stdin)
            if end in text.splitlines():
                raise AnsibleActionFail("prefect_stack_probe: stdin holds the here-document's end")
            line = f"{line} <<'{end}'\n{text.removesuffix(chr(10))}\n{end}"
        else:
            line = f"{line} </dev/null"
        script = f"LC_ALL=C\nexport LC_ALL\n{line}\n"
        answer = self._low_level_execute_command("/bin/sh", in_data=script.encode())
        stdout = answer.get("stdout", "").replace("\r\n", "\n").rstrip("\n")
        stderr = answer.get("stderr", "").replace("\r\n", "\n").rstrip("\n")
        rc = answer.get("rc")
        result.update(
            changed=False,
            cmd=words,
            rc=rc,
            stdout=stdout,
            stderr=stderr,
            stdout_lines=stdout.splitlines(),
            stderr_lines=stderr.splitlines(),
        )
        if rc != 0:
            result.update(failed=True, msg=f"non-zero return code {rc}")
        return result
