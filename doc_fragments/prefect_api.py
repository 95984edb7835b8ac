# Copyright: prefect-stack contributors
# MIT License (see LICENSE at the top of the repository)
"""The options every ``prefect_*`` module shares (``prefect_api.COMMON_ARGUMENT_SPEC``).

Modules name it with ``extends_documentation_fragment: [prefect_api]``; ``ansible.cfg`` points
``doc_fragment_plugins`` at this folder.
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
