"""What `make bench` measured, as a value (the tests assert on it) and as the text it prints.

Every cost is divided by the top-ups that completed: the failed ones (a fifth of the default
mix, by design) cost something too, and a completed top-up is what the system is for. Per
placed top-up is shown beside it, in brackets, where the two differ.
"""

from __future__ import annotations

import collections
import json
import re
from dataclasses import dataclass, field

from deploy.processes import ROOT
from shared.sqlcount import COMMIT, KINDS, PROVIDER_COMMIT, PROVIDER_TABLES, TRANSACTION, StatementCounts, kind_of

#: where `make floor` leaves its measurements for the bench to compare with
FLOOR_FILE = ROOT / "var" / "floor.json"
#: the routes of the sandbox gateways' pages: the customer's browser at the provider
PROVIDER_ROUTES = ("/sandbox/",)
#: the sandbox gateways' service name (their processes, their database; a literal: the A/B
#: runs the bench on commits whose shared/config.py does not name them)
PROVIDER = "sandbox"


@dataclass
class BenchResult:
    placed: int
    endings: dict[str, int]
    #: the window's counts: SQL statements and commits of every process, PostgreSQL's own
    #: commit counters (4 databases: a cross-check; they also count autovacuum and lag),
    #: broker messages (outbox rows written: each is published once by its service's relay)
    statements: StatementCounts
    pg_commits_by_service: collections.Counter[str]
    messages_by_type: collections.Counter[str]
    #: the frontends' answers by status and by route, requests that got none, top-ups given up
    statuses: collections.Counter[int]
    routes: collections.Counter[str]
    unanswered: collections.Counter[str]
    client_errors: collections.Counter[str]
    #: CPU seconds in the window: our processes by name; PostgreSQL, RabbitMQ, load generator
    cpu_ours: dict[str, float]
    cpu_others: dict[str, float]
    latencies: list[float] = field(default_factory=list)
    completion_span: float = 0.0
    elapsed: float = 0.0
    machine_busy: float = 0.0
    dropped_connections: int | None = None
    verdict: str = ""
    problems: list[str] = field(default_factory=list)

    @property
    def completed(self) -> int:
        return self.endings.get("completed", 0)

    @property
    def commits(self) -> int:
        """Every process's commits (ours and the sandbox gateways'), counted as they happen."""
        return self.statements.every_commit()

    @property
    def messages(self) -> int:
        return sum(self.messages_by_type.values())

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())

    # The provider's side of the wire (the sandbox gateways: their pages, their processes and
    # database; before issue 13, their sandbox_* tables in the payment database) is what
    # PayPal's or Alipay's servers would spend, not ours: counted, shown, and left out of "ours".
    @property
    def provider_statements(self) -> int:
        return sum(n for (process, text), n in self.statements.statements.items()
                   if (process.startswith(f"{PROVIDER}-") or PROVIDER_TABLES in text) and kind_of(text) != TRANSACTION)

    @property
    def provider_requests(self) -> int:
        return sum(n for route, n in self.routes.items() if route.split(" ", 1)[-1].startswith(PROVIDER_ROUTES))

    @property
    def provider_commits(self) -> int:
        own = sum(n for (service, _, kind), n in self.statements.kinds.items()
                  if service == PROVIDER and kind == COMMIT)
        return own + self.statements.commits(PROVIDER_COMMIT)

    def ours(self) -> dict[str, float]:
        """Issue 10's four counts for our services, per completed top-up."""
        return {"SQL statements": self.per_completed(self.statements.total() - self.provider_statements),
                "commits": self.per_completed(self.commits - self.provider_commits),
                "broker messages": self.per_completed(self.messages),
                "frontend requests": self.per_completed(self.requests - self.provider_requests)}

    def per_completed(self, count: float) -> float:
        return count / max(self.completed, 1)

    def per_placed(self, count: float) -> float:
        return count / max(self.placed, 1)

    def both(self, count: float, digits: int = 1) -> str:
        """'12.5 (10.0)': per completed top-up, and per placed one in brackets."""
        text = f"{self.per_completed(count):.{digits}f}"
        return text if self.completed == self.placed else f"{text} ({self.per_placed(count):.{digits}f})"


def render(result: BenchResult, top_statements: int = 10) -> str:
    r, lines = result, []
    lines.append(f"  per completed top-up: {r.completed} completed of {r.placed} placed; "
                 "per placed top-up in brackets")
    kinds, services = r.statements.by_kind(), r.statements.by_service()
    lines.append(f"  SQL statements     {r.both(r.statements.total())}  (every process; BEGIN/COMMIT/ROLLBACK "
                 "not counted, an executemany is one)")
    lines.append("    by kind          " + "  ".join(f"{k} {r.per_completed(kinds[k]):.1f}" for k in KINDS))
    lines.append("    by service       " + "  ".join(
        f"{name} {r.per_completed(n):.1f}" for name, n in sorted(services.items(), key=lambda kv: -kv[1])))
    lines.append("    by process       " + "  ".join(
        f"{name} {r.per_completed(n):.1f}" for name, n in r.statements.by_process().most_common()))
    lines.append(f"    of which         the sandbox gateways' own {r.per_completed(r.provider_statements):.1f} "
                 "(the provider's side: its own processes and database; sandbox_* tables); "
                 f"ours {r.both(r.statements.total() - r.provider_statements)}")
    lines.append("    not counted      the doorbells' LISTEN (raw psycopg, once per connection); "
                 "the triggers' pg_notify runs inside its INSERT")
    lines.append(f"  commits            {r.both(r.commits)}  (every process's, counted as they happen; "
                 "background loops included)")
    lines.append(f"    of which         the sandbox gateways' own {r.per_completed(r.provider_commits):.1f} "
                 "(their processes'; transactions on their tables alone); "
                 f"ours {r.both(r.commits - r.provider_commits)}")
    lines.append("    ours by process  " + "  ".join(
        f"{name} {r.per_completed(n):.1f}" for name, n in r.statements.commits_by_process().most_common()
        if not name.startswith(f"{PROVIDER}-")))
    pg = sum(r.pg_commits_by_service.values())
    lines.append(f"    PostgreSQL says  {r.both(pg)} (xact_commit of the 4 databases: " + "  ".join(
        f"{name} {r.per_completed(n):.1f}" for name, n in r.pg_commits_by_service.most_common())
        + "; it also counts autovacuum and a backend reports its counts up to 10 s late)")
    lines.append(f"  broker messages    {r.both(r.messages)}  (RabbitMQ publishes: outbox rows written, "
                 "each published once)")
    lines.append("    by type          " + "  ".join(
        f"{name} {r.per_completed(n):.2f}" for name, n in r.messages_by_type.most_common()))
    lines.append(f"  frontend requests  {r.both(r.requests)}  (HTTP answers, polls and redirects included)")
    lines.append(f"    of which         the sandbox gateways' pages {r.per_completed(r.provider_requests):.2f} "
                 f"(the customer's browser at the provider); ours {r.both(r.requests - r.provider_requests)}")
    lines.append(f"    by status        {dict(sorted(r.statuses.items()))}")
    lines.append("    by route         " + "  ".join(
        f"{name} {r.per_completed(n):.2f}" for name, n in r.routes.most_common()))
    if r.unanswered:
        lines.append(f"    unanswered       {dict(r.unanswered)}")
    ours, others = sum(r.cpu_ours.values()), sum(r.cpu_others.values())
    lines.append(f"  CPU ms             {r.both(1000 * (ours + others), 0)} in all; "
                 f"{r.per_completed(1000 * ours):.0f} in our processes: " + "  ".join(
                     f"{name} {r.per_completed(1000 * s):.0f}"
                     for name, s in sorted(r.cpu_ours.items(), key=lambda kv: -kv[1])))
    lines.append("    outside them     " + "  ".join(
        f"{name} {r.per_completed(1000 * s):.0f}" for name, s in r.cpu_others.items()))
    lines.extend(against_floor(r))
    if top_statements:
        lines.append(f"  the {top_statements} most frequent statements, per completed top-up:")
        shapes: collections.Counter[tuple[str, str]] = collections.Counter()
        for (process, text), n in r.statements.statements.items():
            shapes[process, compact(text)] += n
        for (process, text), n in shapes.most_common(top_statements):
            lines.append(f"    {r.per_completed(n):5.1f}  {process:<15} {text[:150]}")
    return "\n".join(lines)


_PARAMETER = re.compile(r"%\(\w+\)s(::[A-Z]+( WITH(OUT)? TIME ZONE)?)?")
_SELECT_LIST = re.compile(r"^SELECT [^()]*? FROM ")
_COLUMNS = re.compile(r"\([^()]*\) VALUES \([^()]*\)")
_LIST = re.compile(r"\((\?, )+\?\)")


def compact(statement: str) -> str:
    """A statement as a line to read: no select list, column list, parameter names or
    lengths of lists (an IN of three ids is the same statement as an IN of two)."""
    text = " ".join(statement.split())
    text = _PARAMETER.sub("?", text)
    text = _SELECT_LIST.sub("SELECT … FROM ", text, count=1)
    return _LIST.sub("(…)", _COLUMNS.sub("(…) VALUES (…)", text))


def against_floor(r: BenchResult) -> list[str]:
    """This top-up's counts priced at `make floor`'s costs, if it was measured here."""
    try:
        floor = json.loads(FLOOR_FILE.read_text())
        request_ms, hop_ms = float(floor["request_ms"]), float(floor["hop_ms"])
    except (OSError, ValueError, KeyError, TypeError):
        return ["  against the floor (run `make floor` first to see it)"]
    requests_, hops = r.per_completed(r.requests), r.per_completed(r.messages)
    least = requests_ * request_ms + hops * hop_ms
    spent = r.per_completed(1000 * (sum(r.cpu_ours.values()) + sum(r.cpu_others.values())))
    return [f"  against the floor  {spent / max(least, 1e-9):.1f} x: {spent:.0f} ms of CPU per completed top-up, "
            f"where the stack alone would spend {least:.1f} ms on its {requests_:.1f} requests x "
            f"{request_ms:.2f} ms + {hops:.1f} hops x {hop_ms:.2f} ms (make floor, {floor.get('measured_at', '?')})"]
