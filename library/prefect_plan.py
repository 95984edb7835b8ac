#!/usr/bin/python
# Copyright: prefect-stack contributors
# MIT License (see LICENSE at the top of the repository)


DOCUMENTATION = r"""
---
module: prefect_plan
short_description: Plan several kinds of Prefect objects in one call, writing nothing
description:
  - "Runs the planning of the C(prefect_*) object modules named in O(kinds), each with the
    options it takes on its own, in check mode, in one module call: every item of every kind is
    validated, read from the server and compared, and nothing is written. A playbook that
    validates everything before its first write (as the C(prefect_deployments) role does) makes
    one call here instead of one per kind."
  - Each kind is planned as its own module plans it in check mode (the same code), so RV(plans)
    holds, per kind, what that module returns in check mode without diff.
  - Every kind is planned even when another fails; the failure then names each kind that failed
    with its own message (the item and the field), and nothing is changed.
version_added: "0.9.0"
author: prefect-stack contributors
extends_documentation_fragment:
  - prefect_api
  - prefect_api.attributes
options:
  kinds:
    description:
      - The kinds to plan, in the order given, each the name of its module
        (C(prefect_variables), C(prefect_concurrency_limits), C(prefect_work_pools),
        C(prefect_work_queues), C(prefect_deployments), C(prefect_automations),
        C(prefect_blocks)) mapped to that module's options other than the API's
        (O(api_url), O(api_auth_string), O(validate_certs), O(timeout), given once here).
    type: dict
    required: true
attributes:
  check_mode:
    description: Plans and writes nothing, in check mode or not.
  diff_mode:
    description: No diff; the kinds' own modules show theirs when they apply.
  idempotent:
    description: Never changes anything; RV(changed) is always false.
"""

EXAMPLES = r"""
- name: Validate every kind before the first write
  prefect_plan:
    api_url: http://127.0.0.1:4200/api
    api_auth_string: "{{ prefect_api_auth_string }}"
    kinds:
      prefect_variables:
        variables:
          - name: batch_size
            value: 500
      prefect_work_pools:
        work_pools:
          - name: default-process-pool
            type: process
  # plan.settled: nothing to apply; plan.plans.prefect_variables.summary: what would change
  register: plan
"""

RETURN = r"""
plans:
  description:
    - "Per kind (its module's name), what its module returns in check mode without diff:
      C(changed), C(results), C(summary), and C(record_pending) for the kinds that keep a record;
      C(msg) and C(validation_errors) for a kind that failed."
  returned: always
  type: dict
settled:
  description:
    - Whether every object of every kind is already as declared (every plan C(unchanged)) and no
      kind would save its record; applying the kinds would write nothing.
  returned: always
  type: bool
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible.module_utils.prefect_api import (  # noqa: E402
    COMMON_ARGUMENT_SPEC,
    KindPlanner,
    KindResult,
)
from ansible.module_utils.prefect_kind_automations import AutomationsModule  # noqa: E402
from ansible.module_utils.prefect_kind_blocks import BlocksModule  # noqa: E402
from ansible.module_utils.prefect_kind_concurrency_limits import (  # noqa: E402
    ConcurrencyLimitsModule,
)
from ansible.module_utils.prefect_kind_deployments import DeploymentsModule  # noqa: E402
from ansible.module_utils.prefect_kind_variables import VariablesModule  # noqa: E402
from ansible.module_utils.prefect_kind_work_pools import WorkPoolsModule  # noqa: E402
from ansible.module_utils.prefect_kind_work_queues import WorkQueuesModule  # noqa: E402

KINDS = {
    "prefect_variables": VariablesModule,
    "prefect_concurrency_limits": ConcurrencyLimitsModule,
    "prefect_work_pools": WorkPoolsModule,
    "prefect_work_queues": WorkQueuesModule,
    "prefect_deployments": DeploymentsModule,
    "prefect_automations": AutomationsModule,
    "prefect_blocks": BlocksModule,
}
# What a kind's module returns that its plan keeps.
PLAN_KEYS = ("changed", "results", "summary", "record_pending", "validation_errors", "status")


def plan_kind(module, name, options):
    """The kind's result (its ``invocation`` apart), as its module would print it in check mode."""
    params = dict(options, **{key: module.params[key] for key in COMMON_ARGUMENT_SPEC})
    try:
        KINDS[name](KindPlanner(module, KINDS[name], name, params)).run()
    except KindResult as end:
        return end.result
    raise AssertionError(f"{name} ended without a result")  # pragma: no cover


def settled(plan):
    return set(plan.get("summary", {})) <= {"unchanged"} and not plan.get("record_pending")


def main():
    module = AnsibleModule(
        argument_spec=dict(COMMON_ARGUMENT_SPEC, kinds=dict(type="dict", required=True)),
        supports_check_mode=True,
    )
    kinds = module.params["kinds"]
    unknown = sorted(set(kinds) - set(KINDS))
    not_mappings = sorted(name for name, options in kinds.items() if not isinstance(options, dict))
    if unknown or not_mappings:
        module.fail_json(
            msg=(
                f"kinds: unknown kinds {unknown} (known: {', '.join(KINDS)})"
                if unknown
                else f"kinds: the options of {not_mappings} must be a mapping"
            )
        )
    plans, args = {}, {}
    for name, options in kinds.items():
        result = plan_kind(module, name, options)
        args[name] = result.get("invocation", {}).get("module_args", "(options not valid)")
        plans[name] = {key: result[key] for key in PLAN_KEYS if key in result}
        if result.get("failed"):
            plans[name]["msg"] = result["msg"]
    invocation = {"module_args": dict(module.params, kinds=args)}
    if module.params.get("api_auth_string"):
        invocation["module_args"]["api_auth_string"] = "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
    failed = [name for name, plan in plans.items() if "msg" in plan]
    if failed:
        module.fail_json(
            msg="; ".join(f"{name}: {plans[name]['msg']}" for name in failed),
            plans=plans,
            invocation=invocation,
        )
    module.exit_json(
        changed=False,
        plans=plans,
        settled=all(settled(plan) for plan in plans.values()),
        invocation=invocation,
    )


if __name__ == "__main__":
    main()
