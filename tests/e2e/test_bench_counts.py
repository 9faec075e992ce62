"""The bench's counters, on a short run of the deployed shape (deploy/bench.py): per completed
top-up, SQL statements counted in every process, commits, broker messages and frontend
requests by status; and the issue's targets for them, which do not depend on the machine."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from deploy.bench import parser, run
from deploy.bench_result import BenchResult
from shared.sqlcount import KINDS

#: two rounds of the default mix (8 of 10 complete), saturating this machine's two cores
ARGS = ["--n", "20", "--concurrency", "4", "--idle", "0", "--settle", "60", "--statements", "0"]
#: issue 10, per completed top-up at saturation on the default mix
TARGETS = {"SQL statements": 50, "commits": 10, "broker messages": 7, "frontend requests": 4.5}


@pytest.fixture(scope="module")
def bench() -> Iterator[BenchResult]:
    yield run(parser().parse_args(ARGS))


def per_top_up(result: BenchResult) -> dict[str, float]:
    """Ours: the sandbox gateways' own statements, commits and pages are the provider's."""
    return result.ours()


def test_the_bench_counts_what_a_top_up_costs_in_every_process(bench: BenchResult) -> None:
    assert bench.placed == 20 and not bench.client_errors, bench.client_errors
    assert bench.endings == {"completed": 16, "failed": 2, "cancelled": 2}
    assert bench.verdict.startswith("OK"), bench.problems
    counts = per_top_up(bench)
    print(f"\nper completed top-up: {counts}")
    # every service's processes are heard, by kind: the saga reads, locks, inserts and updates
    assert counts["SQL statements"] > 10
    assert set(bench.statements.by_service()) >= {"order", "payment", "wallet", "notify"}
    assert {"order-web", "order-worker", "payment-web", "payment-worker", "wallet-worker",
            "notify-worker"} <= set(bench.statements.by_process())
    kinds = bench.statements.by_kind()
    assert set(kinds) == set(KINDS) and all(kinds[k] > 0 for k in ("select", "insert", "update"))
    assert bench.statements.total() == sum(kinds.values()) == sum(bench.statements.by_service().values())
    # a top-up commits, sends messages (at least payment.create ... receipt) and asks for a
    # quote, places the order and comes back from the gateway's page (which is the provider's)
    assert counts["commits"] >= 3 and counts["broker messages"] >= 4 and counts["frontend requests"] >= 3
    assert bench.requests == sum(bench.routes.values()) and set(bench.statuses) <= {200, 201, 202, 303, 304}
    assert bench.routes["POST /v1/orders"] == bench.placed
    assert all(seconds >= 0 for seconds in bench.cpu_ours.values()) and sum(bench.cpu_ours.values()) > 0
    # by type: every top-up asks for a payment; each completed one's receipt is announced once,
    # with its sending (the sink takes every email at the first try)
    assert bench.messages == sum(bench.messages_by_type.values())
    assert bench.messages_by_type["payment.create"] == bench.placed
    assert bench.messages_by_type["receipt.issued"] == bench.completed == bench.messages_by_type["order.completed"]
    assert bench.messages_by_type["receipt.sent"] == 0
    # the provider's side (the sandbox's pages and tables) is counted, and only part of it all
    assert 0 < bench.provider_requests < bench.requests and bench.routes["POST /v1/orders"] == bench.placed
    assert 0 < bench.provider_statements < bench.statements.total()
    assert 0 < bench.provider_commits < bench.commits
    assert {"PostgreSQL", "RabbitMQ"} <= set(bench.cpu_others)
    # the provider runs apart (issue 13): its own processes and database, and no process of the
    # payment service touches its tables
    assert {"sandbox-web", "sandbox-worker"} <= set(bench.statements.by_process())
    assert bench.provider_statements == bench.statements.by_service()["sandbox"]
    assert not any("sandbox_" in text for (process, text) in bench.statements.statements
                   if process.startswith("payment"))
    assert bench.cpu_others["sandbox gateways"] > 0 and not any(name.startswith("sandbox") for name in bench.cpu_ours)


@pytest.mark.xfail(strict=True, reason="issue 10: the targets are not met yet")
def test_a_completed_top_up_costs_no_more_than_the_issue_allows(bench: BenchResult) -> None:
    counts = per_top_up(bench)
    print("\nper completed top-up, against issue 10's targets: " + ", ".join(
        f"{name} {counts[name]:.1f} (at most {target})" for name, target in TARGETS.items()))
    over = {name: round(counts[name], 1) for name, target in TARGETS.items() if counts[name] > target}
    assert not over, f"over the targets: {over}"
