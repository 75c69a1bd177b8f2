"""Property-based and stateful requests over every endpoint of `twinrank serve`, from its own OpenAPI schema
(schemathesis): no answer may be a 5xx.

Each operation gets `examples` generated requests (valid and invalid bodies, headers, parameters), then a
state machine chains generated calls across operations (`stateful_examples` sequences of up to 8 steps), with
the admin token, so POST /admin/reload is exercised past its guard. The serve log is kept beside the report's
workdir for any 5xx to be traced by its request id.
"""

from __future__ import annotations

import time
from collections import Counter

from load_tests.chaos.base import CaseContext, CaseResult
from load_tests.chaos.child_server import bundle_root, served

NAME = "schemathesis"
ADMIN_TOKEN = "chaos-admin-token"


def run(ctx: CaseContext) -> CaseResult:
    import schemathesis
    from hypothesis import HealthCheck, Phase, given
    from hypothesis import settings as hsettings
    from hypothesis.stateful import run_state_machine_as_test

    t0 = time.monotonic()
    examples, stateful_examples = (10, 5) if ctx.quick else (150, 60)
    root = bundle_root(ctx.workdir, ctx.quick)
    env = {"TWINRANK_ADMIN_TOKEN": ADMIN_TOKEN, "TWINRANK_RELOAD_ENABLED": "true"}
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    statuses: dict[str, Counter] = {}
    server_errors: list[str] = []

    def record(case, response) -> None:
        key = f"{case.method.upper()} {case.path}"
        statuses.setdefault(key, Counter())[str(response.status_code)] += 1
        if response.status_code >= 500:
            server_errors.append(f"{key} -> {response.status_code} (request id "
                                 f"{response.headers.get('x-request-id')}): {response.text[:200]}")

    common = {"deadline": None, "suppress_health_check": list(HealthCheck), "database": None,
              "derandomize": True, "phases": [Phase.explicit, Phase.generate]}
    with served(root, ctx.workdir / "schemathesis-serve.log", env) as server:
        schema = schemathesis.openapi.from_url(server.url + "/openapi.json")
        operations = [result.ok() for result in schema.get_all_operations()]
        for operation in operations:
            @hsettings(max_examples=examples, **common)
            @given(case=operation.as_strategy())
            def call(case) -> None:
                record(case, case.call(headers=headers, timeout=30))

            call()

        # The schema declares no OpenAPI links, which schemathesis' own state machine needs; a Hypothesis state
        # machine with one rule per operation chains random sequences of calls instead (reloads between ranks,
        # readiness between reloads, ...), shrinking a failing sequence to the shortest.
        run_state_machine_as_test(sequences(operations, headers, record),
                                  settings=hsettings(max_examples=stateful_examples, stateful_step_count=8, **common))
    calls = sum(sum(c.values()) for c in statuses.values())
    untested = [f"{op.method.upper()} {op.path}" for op in operations
                if f"{op.method.upper()} {op.path}" not in statuses]
    passed = not server_errors and not untested
    summary = (f"{calls} generated calls over {len(operations)} operations (+ stateful chains): "
               f"{len(server_errors)} 5xx" + (f"; never called: {untested}" if untested else ""))
    return CaseResult(name=NAME, passed=passed, summary=summary,
                      figures={"calls": calls, "server_errors": len(server_errors), "operations": len(operations),
                               "statuses": {k: dict(v) for k, v in sorted(statuses.items())},
                               "examples_per_operation": examples, "stateful_runs": stateful_examples},
                      details=server_errors[:20], seconds=round(time.monotonic() - t0, 1))


def sequences(operations: list, headers: dict[str, str], record):  # noqa: ANN201 - a RuleBasedStateMachine class
    from hypothesis.stateful import RuleBasedStateMachine, rule

    def step_for(operation):  # noqa: ANN001, ANN202
        @rule(case=operation.as_strategy())
        def step(self, case) -> None:  # noqa: ANN001
            record(case, case.call(headers=headers, timeout=30))

        return step

    rules = {f"call_{i}": step_for(op) for i, op in enumerate(operations)}
    return type("CallSequences", (RuleBasedStateMachine,), rules)
