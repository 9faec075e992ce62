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
from shared.sqlcount import KINDS, TRANSACTION, StatementCounts, kind_of

#: where `make floor` leaves its measurements for the bench to compare with
FLOOR_FILE = ROOT / "var" / "floor.json"
#: the sandbox gateways' tables: the provider's side of the wire, in the payment database
SANDBOX_TABLE = "sandbox_"


@dataclass
class BenchResult:
    placed: int
    endings: dict[str, int]
    #: the window's counts: SQL statements of every process, PostgreSQL commits (4 databases),
    #: broker messages (outbox rows written: each is published once by its service's relay)
    statements: StatementCounts
    commits_by_service: collections.Counter[str]
    messages: int
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
        return sum(self.commits_by_service.values())

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())

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
    sandbox = sum(n for (_, text), n in r.statements.statements.items()
                  if SANDBOX_TABLE in text and kind_of(text) != TRANSACTION)
    lines.append(f"    of which         the sandbox gateways' own {r.per_completed(sandbox):.1f} (the provider's "
                 "side, sharing the payment service for now: its sandbox_* tables)")
    lines.append("    not counted      the doorbells' LISTEN (raw psycopg, once per connection); "
                 "the triggers' pg_notify runs inside its INSERT")
    lines.append(f"  commits            {r.both(r.commits)}  (PostgreSQL's xact_commit, 4 databases, "
                 "background loops included)")
    lines.append("    by service       " + "  ".join(
        f"{name} {r.per_completed(n):.1f}" for name, n in r.commits_by_service.most_common()))
    lines.append(f"  broker messages    {r.both(r.messages)}  (RabbitMQ publishes: outbox rows written, "
                 "each published once by its relay)")
    lines.append(f"  frontend requests  {r.both(r.requests)}  (HTTP answers, polls and redirects included)")
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
