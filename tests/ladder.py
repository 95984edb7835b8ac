"""The fixed ladder of community.docker's integration tests, for our bulk modules."""

from __future__ import annotations


def run_ladder(runner, writes, module: str, first: dict, second: dict) -> list:
    """check -> apply -> idempotent check -> idempotent -> change check -> change.

    Asserts ``changed`` at every step and that check runs and idempotent runs make NO write
    call to the API (counted by the recording proxy in front of the server). Returns the six
    results for further assertions.
    """
    steps = []

    def step(args, check, want_changed, want_writes, label):
        before = len(writes())
        res = runner.run(module, args, check=check, diff=True)
        assert not res.failed, f"{label}: {res.msg}\n{res.stdout[-3000:]}"
        assert res.changed is want_changed, f"{label}: changed={res.changed}\n{res.result}"
        made = writes()[before:]
        if want_writes:
            assert made, f"{label}: expected write calls, saw none"
        else:
            assert made == [], f"{label}: expected no write call, saw {made}"
        if want_changed:
            assert res.result.get("diff"), f"{label}: a change must come with a diff"
        steps.append(res)
        return res

    step(first, True, True, False, "check")
    step(first, False, True, True, "apply")
    step(first, True, False, False, "idempotent check")
    step(first, False, False, False, "idempotent")
    step(second, True, True, False, "change check")
    step(second, False, True, True, "change")
    return steps
