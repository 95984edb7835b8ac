#!/usr/bin/python
# Copyright: prefect-stack contributors
# MIT License (see LICENSE at the top of the repository)


DOCUMENTATION = r"""
---
module: prefect_blocks
short_description: Manage Prefect 3 block documents (bulk, idempotent, check and diff mode)
description:
  - Creates, updates and deletes Prefect block documents from a list, comparing each declared
    block with the server's copy (read with secrets) and writing only what differs.
  - All items are validated before anything is written - unknown block type (the message lists
    the types the server has), bad block name, fields the block schema does not know, missing
    required fields, references to blocks that neither exist nor are declared, duplicates.
  - The options of each block are checked by the module itself, before any API call, and never
    coerced - a string is not a mapping, a list is not a string (a number is still read as the
    text of a string option). No value of O(blocks[].data) may hold a NUL character (Prefect's
    database refuses them) or be a C($ref) that is not a reference; names have at most 255
    characters. Messages echo at most 80 characters of a value.
  - Secret values (the block schema's C(secret_fields), every C(secret) block, any
    C(service_account_info), and fields named like passwords/tokens/keys) are masked as
    C(********) in the diff and in the echoed invocation, also with C(-vvv).
  - Talks to the REST API with the Python standard library; no C(prefect) package needed on the
    managed host.
version_added: "0.1.0"
author: prefect-stack contributors
extends_documentation_fragment:
  - prefect_api
  - prefect_api.attributes
options:
  blocks:
    description:
      - Block documents to manage, applied in list order (declare referenced blocks first).
    type: list
    elements: dict
    required: true
    suboptions:
      block_type:
        description:
          - Block type slug as Prefect names it (C(secret), C(local-file-system),
            C(gcp-credentials), C(gcs-bucket), ...). Must exist on the server.
        type: str
        required: true
      name:
        description: Block document name (lowercase letters, digits and dashes).
        type: str
        required: true
      data:
        description:
          - The block's fields. The whole document is replaced on update (fields you drop are
            removed).
          - "A field holding another block is written as a reference:
            C({$ref: {block_type: gcp-credentials, name: my-creds}}) (or Prefect's own
            C({$ref: {block_document_id: <uuid>}})). The referenced block must exist on the
            server or be declared earlier in the same list."
          - "Ansible templates every string: write Prefect's own C({{ }}) placeholders with
            C(!unsafe) in group_vars."
        type: dict
        default: {}
      state:
        description: C(absent) deletes the block document when it exists.
        type: str
        choices: [present, absent]
        default: present
notes:
  - Bulk module, one call handles the whole list.
  - O(blocks[].data) is not declared C(no_log) on purpose - Ansible would then blank every
    scalar of every block (bucket names, paths) anywhere in the output and the diff would be
    useless. Instead the module masks the secret values itself in the diff and in the echoed
    invocation, and registers them with Ansible's no_log filter so that no message (an API error
    included) can print them.
"""

EXAMPLES = r"""
- name: Apply block documents
  prefect_blocks:
    api_url: http://127.0.0.1:4200/api
    api_auth_string: "{{ prefect_api_auth_string }}"
    blocks:
      - block_type: gcp-credentials
        name: gcp-credentials
        data:
          service_account_info: "{{ vault_gcp_service_account_info }}"
      - block_type: gcs-bucket
        name: ml-data-gcs
        data:
          bucket: my-bucket
          gcp_credentials: {$ref: {block_type: gcp-credentials, name: gcp-credentials}}
      - block_type: local-file-system
        name: ml-data
        data: {basepath: /var/lib/prefect-agent/data}
      - block_type: secret
        name: old-token
        state: absent
"""

RETURN = r"""
results:
  description: One entry per declared block (and nothing else).
  returned: always
  type: list
  elements: dict
  contains:
    name: {description: Block name, type: str, sample: ml-data}
    block_type: {description: Block type slug, type: str, sample: local-file-system}
    action:
      description: What was (or in check mode would be) done.
      type: str
      sample: created
      choices: [created, updated, deleted, unchanged]
    id: {description: Block document id (none for a block still to create), type: str}
summary:
  description: Count of items per action.
  returned: always
  type: dict
  sample: {created: 1, unchanged: 2}
diff:
  description: Per changed block, before/after data with secrets masked.
  returned: when diff mode is on (--diff); empty otherwise
  type: list
  elements: dict
"""

from ansible.module_utils.prefect_kind_blocks import BlocksModule  # noqa: E402


def main():
    BlocksModule().run()


if __name__ == "__main__":
    main()
