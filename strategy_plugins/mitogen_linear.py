"""Mitogen's ``linear`` strategy, by name: ``ANSIBLE_STRATEGY=mitogen_linear ansible-playbook ...``.

Mitogen keeps one Python interpreter per host for the whole run and runs each module in it, where
Ansible starts a new interpreter per module call (docs/operations.md, "Faster runs"). It is
optional: install it with ``.venv/bin/pip install -r requirements/mitogen.txt``. Mitogen carries
only the connections it knows by their short names (``ssh``, ``docker``, ``local``); a host whose
``ansible_connection`` is a full name such as ``ansible.builtin.ssh`` runs as without it.
"""

from __future__ import annotations

from ansible.errors import AnsibleError

try:
    from ansible_mitogen.plugins.strategy.mitogen_linear import StrategyModule  # noqa: F401
except ImportError as err:
    raise AnsibleError(
        "strategy mitogen_linear needs the mitogen package: "
        ".venv/bin/pip install -r requirements/mitogen.txt"
    ) from err
