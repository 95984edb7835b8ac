# Copyright: prefect-stack contributors
# MIT License (see LICENSE at the top of the repository)
"""What every ``prefect_*`` module documents alike, written once.

``DOCUMENTATION``: the options they share (``prefect_api.COMMON_ARGUMENT_SPEC``) and the note on
validation. ``ATTRIBUTES``: what they guarantee (check mode, diff mode, idempotence), the same
for every kind; a module may give ``diff_mode`` a description of its own, which replaces this
one, where its diff differs in substance. Modules name both with
``extends_documentation_fragment: [prefect_api, prefect_api.attributes]``; ``ansible.cfg``
points ``doc_fragment_plugins`` at this folder.

``RETURN`` cannot come from a fragment before ansible-core 2.20 (ansible/ansible#72635; 2.17 to
2.19 fail to document a module that tries, ansible/ansible#85644): each module keeps its own.
"""


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  api_url:
    description: Prefect API URL, for example C(http://127.0.0.1:4200/api).
    type: str
    required: true
  api_auth_string:
    description:
      - C(user:password) of the server's C(PREFECT_SERVER_API_AUTH_STRING), sent as HTTP basic
        auth. Never logged, never in a diff or an error message.
    type: str
  validate_certs:
    description: Verify TLS certificates of an C(https) API URL.
    type: bool
    default: true
  timeout:
    description: Seconds to wait for each API call (connection errors and 5xx are retried).
    type: float
    default: 30
notes:
  - Validation runs over every item before the first API write; a failure names the item (its
    index and name) and the field, and nothing is changed.
"""

    ATTRIBUTES = r"""
attributes:
  check_mode:
    support: full
    description: Reports what would be created, updated or deleted; makes no write call.
  diff_mode:
    support: full
    description:
      - Per changed object, before/after of the fields the module manages; secret values read
        C(********).
  idempotent:
    support: full
    description: A second run with the same input reports C(changed=false) and makes no write call.
"""
