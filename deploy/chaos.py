"""`make chaos`: top-ups through the deployed shape while its processes crash and its
database connections are cut, then proof that nothing was lost, doubled or left behind.

The system runs as deployed (deploy/processes.py: a gunicorn web and a worker per service, on
PostgreSQL and RabbitMQ) and the bench's frontends (deploy/bench_client.py) drive top-ups of
the default mix; a request that got no answer (a web process restarting) they send again,
when it is safe to repeat (a read, a write with an Idempotency-Key, a quote). Meanwhile,
every `--kill-every` seconds one of its processes, web or worker, is killed with SIGKILL and
started again; every `--drop-every` seconds every connection to its
four databases is terminated; every `--cut-every` seconds its processes' connections to
RabbitMQ are closed (with `rabbitmqctl`, when the broker is local); and the sandbox gateways
misbehave as `--gateway-faults` says (SANDBOX_FAULTS, services/sandbox/faults.py: calls that
time out after doing the work, fail, answer slowly; notifications sent twice or late).
Faults go only to the processes, connections and databases this run started. Then, once
every order has ended (an order whose frontend gave up expires after ORDER_PAYMENT_TIMEOUT,
short here), it asserts:

- every order ended (none pending, awaiting payment or paid);
- the money check (deploy/check.py) says money is conserved (no credit doubled, every
  capture credited or refunded);
- exactly one receipt recorded per completed top-up, each delivered;
- nothing parked; nothing left unpublished in any outbox;
- each provider's settlement report of the day agrees with our payments (the reconciliation,
  services/payment/reconciliation.py): no payment taken that we did not credit or refund, no
  refund we think paid that the provider did not pay, no amount that differs.

    python -m deploy.chaos --n 300 --rate 5 --kill-every 4 --drop-every 6

The suite runs a short one (tests/e2e/test_chaos.py).
"""

from __future__ import annotations

import argparse
import collections
import os
import random
import shutil
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import requests
from sqlalchemy import create_engine, text

from deploy.bench import ConnectionDropper, customers, deployed_env, parse_mix
from deploy.bench_client import Driver
from deploy.check import run_checks
from deploy.infra import Databases, delete_namespace, free_port, new_namespace, postgres_server, rabbitmq_server
from deploy.processes import ProcessSystem, process_table
from services.notify.sink import MailSink
from shared.config import SANDBOX, SERVICES, Settings
from shared.db import normalize_url
from shared.messaging.parking import parked_counts

DEFAULT_MIX = "card_approved:5,card_declined:1,paypal_approved:1,paypal_cancelled:1,alipay_approved:1"
#: the sandbox's faults by default (a tenth of calls each, a sandbox that hangs past our timeout)
GATEWAY_FAULTS = "timeout=0.1,error=0.1,slow=0.1,duplicate=0.1,reorder=0.1,hang=3,lag=0.3"
#: how long the payment service waits for the sandbox here (below the faults' hang; an
#: answer on a machine this busy can take a second)
GATEWAY_TIMEOUT = "2"
PROVIDERS = ("sandbox", "paypal", "alipay", "wechat_pay")
#: a killed mailer's claim on an email runs out this soon here (the sink answers at once; the
#: default, 300 s, is for a real mail server's slowest conversation)
MAIL_CLAIM_LEASE = "15"
#: how long the receipts of completed top-ups may take to leave, once every order has ended
RECEIPTS_WITHIN = 60.0
AMQP_PORT = 5672
#: the statuses an order may not be left in
UNENDED = ("pending", "awaiting_payment", "paid")


@dataclass
class ChaosResult:
    placed: int = 0
    statuses: collections.Counter[str] = field(default_factory=collections.Counter)
    kills: list[str] = field(default_factory=list)
    #: processes that exited on their own (a fault at start) and were started again
    crashed: list[str] = field(default_factory=list)
    terminated: int = 0
    #: broker connections closed; None: not tried (no rabbitmqctl here, or not asked)
    broker_cuts: int | None = None
    unended: int = 0
    verdict: str = ""
    money_problems: list[str] = field(default_factory=list)
    receipt_problems: list[str] = field(default_factory=list)
    duplicate_deliveries: int = 0
    parked: dict[str, int] = field(default_factory=dict)
    unpublished: dict[str, int] = field(default_factory=dict)
    gave_up: collections.Counter[str] = field(default_factory=collections.Counter)
    gateway_faults: str = ""
    #: the providers' settlement reports against our payments: what each said, what differed
    reconciled: list[str] = field(default_factory=list)
    reconciliation_problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.unended or self.money_problems or self.receipt_problems or self.parked
                    or any(self.unpublished.values()) or self.reconciliation_problems)

    def render(self) -> str:
        kills = collections.Counter(self.kills)
        return "\n".join([
            f"chaos: {self.placed} orders {dict(self.statuses)}",
            f"  faults          {len(self.kills)} kills {dict(kills)}; {self.terminated} database connections "
            f"terminated; {'no' if self.broker_cuts is None else self.broker_cuts} broker connections closed; "
            f"{len(self.crashed)} exited on their own and were restarted {dict(collections.Counter(self.crashed))}",
            f"  frontends gave up {sum(self.gave_up.values())}: {dict(self.gave_up)}",
            f"  unended orders  {self.unended}",
            f"  money check     {self.verdict}",
            *(f"    {problem}" for problem in self.money_problems),
            f"  receipts        {'one per completed top-up' if not self.receipt_problems else 'PROBLEMS'}"
            f" ({self.duplicate_deliveries} delivered twice: a kill between sending and recording)",
            *(f"    {problem}" for problem in self.receipt_problems),
            f"  gateway faults  {self.gateway_faults or 'none'}",
            f"  reconciliation  {'; '.join(self.reconciled) or 'not run'}",
            *(f"    {problem}" for problem in self.reconciliation_problems),
            f"  parked          {self.parked or 'none'}",
            f"  unpublished     {self.unpublished}",
            f"  verdict         {'OK' if self.ok else 'FAILED'}",
        ])


class Killer:
    """Every `every` seconds, SIGKILL one of the system's processes and start it again."""

    def __init__(self, system: ProcessSystem, every: float, seed: int) -> None:
        self.system, self.every = system, every
        self.random = random.Random(seed)
        self.stop = threading.Event()
        self.kills: list[str] = []
        self.crashed: list[str] = []
        self.thread = threading.Thread(target=self._run, name="killer", daemon=True)

    def _run(self) -> None:
        while not self.stop.wait(self.every):
            name = self.random.choice(sorted(self.system.processes))
            self.system.kill_and_restart(name)
            self.kills.append(name)
            for other, process in list(self.system.processes.items()):
                if process.poll() is not None:  # died on its own: the restart policy's turn
                    self.system.kill_and_restart(other)
                    self.crashed.append(other)


class BrokerCutter:
    """Every `every` seconds, close every RabbitMQ connection of this run's processes (found
    by their sockets' local ports in /proc, so no other client of the broker is touched), as
    a broker restart or a network cut would; `rabbitmqctl` does the closing."""

    def __init__(self, system: ProcessSystem, every: float) -> None:
        self.system, self.every = system, every
        self.stop = threading.Event()
        self.closed = 0
        self.thread = threading.Thread(target=self._run, name="broker-cutter", daemon=True)

    @staticmethod
    def available() -> bool:
        return shutil.which("rabbitmqctl") is not None

    def _run(self) -> None:
        while not self.stop.wait(self.every):
            ours = amqp_ports(self.system)
            listed = subprocess.run(["rabbitmqctl", "list_connections", "pid", "peer_port", "--quiet",
                                     "--no-table-headers"], capture_output=True, text=True, timeout=30).stdout
            for line in listed.splitlines():
                pid, _, port = line.partition("\t")
                if port.strip().isdigit() and int(port) in ours:
                    subprocess.run(["rabbitmqctl", "close_connection", pid.strip(), "chaos"], capture_output=True,
                                   timeout=30)
                    self.closed += 1


def amqp_ports(system: ProcessSystem) -> set[int]:
    """The local ports of the TCP connections to port 5672 held by the system's processes and
    their children (gunicorn's workers)."""
    pids = {process.pid for process in system.processes.values()}
    pids |= {pid for pid, (_, parent, _) in process_table().items() if parent in pids}
    inodes: set[str] = set()
    for pid in pids:
        try:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        except OSError:
            continue  # it has just ended
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            local, remote, inode = fields[1], fields[2], fields[9]
            if inode in inodes and int(remote.rsplit(":", 1)[1], 16) == AMQP_PORT:
                ports.add(int(local.rsplit(":", 1)[1], 16))
    return ports


def run(n: int, rate: float, concurrency: int, kill_every: float, drop_every: float, settle: float, seed: int = 1,
        mix: str = DEFAULT_MIX, cut_every: float = 0.0, gateway_faults: str = "") -> ChaosResult:
    with postgres_server() as pg, rabbitmq_server() as amqp, tempfile.TemporaryDirectory() as tmp:
        dbs = Databases(pg)
        urls = {name: dbs.create(name) for name in SERVICES}
        ports = {name: free_port() for name in (*SERVICES, SANDBOX)}
        namespace = new_namespace()
        sink = MailSink(Path(tmp) / "mail")
        sink.start()
        env = deployed_env({**urls, SANDBOX: dbs.create(SANDBOX)}, ports, amqp, namespace, sink.port,
                           PAYMENT_QUERY_AFTER="3", PAYMENT_QUERY_EVERY="1", ORDER_PAYMENT_TIMEOUT="20",
                           RETRY_BASE_SECONDS="0.2", SANDBOX_FAULTS=gateway_faults, GATEWAY_TIMEOUT=GATEWAY_TIMEOUT,
                           MAIL_CLAIM_LEASE=MAIL_CLAIM_LEASE)
        system = ProcessSystem(env, ports, web_workers=1, log_dir=Path(tmp) / "logs").start()
        result = ChaosResult(gateway_faults=gateway_faults)
        began = datetime.now(UTC).date()
        try:
            drive(system, urls, n, rate, concurrency, (kill_every, drop_every, cut_every), seed, parse_mix(mix),
                  result)
            settled(urls, settle, result)
            receipts_sent(urls["notify"], RECEIPTS_WITHIN)
            inspect(urls, sink, Settings(database_urls=urls, amqp_url=amqp, amqp_namespace=namespace), result)
            reconciled(system.url("payment"), env["OPERATOR_TOKEN"], {began, datetime.now(UTC).date()}, result)
        finally:
            system.stop()
            sink.stop()
            delete_namespace(amqp, namespace)
            dbs.drop_all()
    return result


def drive(system: ProcessSystem, urls: dict[str, str], n: int, rate: float, concurrency: int,
          every: tuple[float, float, float], seed: int, mix: dict[str, int], result: ChaosResult) -> None:
    """The top-ups, paced, with the faults: (kill, drop, cut) every so many seconds, 0: never."""
    kill_every, drop_every, cut_every = every
    # a killed web process is back within seconds: its frontends ask again meanwhile
    driver = Driver(system.url("order"), 0.25, long_poll=True, unanswered_tries=10)
    pool = customers(driver, min(concurrency, 20))
    time.sleep(1)  # the wallet opens every account
    endings = [e for e, share in mix.items() for _ in range(share)]
    killer = Killer(system, kill_every, seed) if kill_every else None
    dropper = ConnectionDropper(urls, drop_every) if drop_every else None
    cutter = BrokerCutter(system, cut_every) if cut_every and BrokerCutter.available() else None
    for fault in (killer, dropper, cutter):
        if fault:
            fault.thread.start()
    try:
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=concurrency) as threads:
            for i in range(n):  # paced, so that the faults fall among the top-ups
                threads.submit(driver.top_up, pool[i % len(pool)], endings[i % len(endings)])
                time.sleep(max(0.0, started + (i + 1) / rate - time.monotonic()))
    finally:
        for fault in (killer, dropper, cutter):
            if fault:
                fault.stop.set()
                fault.thread.join()
    # a process killed in the last moment is up again before the system is judged; one that
    # died on its own meanwhile (its database connection cut while it migrated at start) is
    # started again, as a container's restart policy would
    for name in list(system.processes):
        while not system.ready(name):
            if system.processes[name].poll() is not None:
                result.crashed.append(name)
                system.kill_and_restart(name)
            time.sleep(0.2)
    result.kills = killer.kills if killer else []
    result.crashed = [*(killer.crashed if killer else []), *result.crashed]
    result.terminated = dropper.terminated if dropper else 0
    result.broker_cuts = cutter.closed if cutter else None
    result.gave_up = driver.errors.copy()


def settled(urls: dict[str, str], timeout: float, result: ChaosResult) -> None:
    """Wait until no order is left unended (at most `timeout` seconds)."""
    engine = create_engine(normalize_url(urls["order"]))
    deadline = time.monotonic() + timeout
    try:
        while True:
            with engine.connect() as conn:
                result.statuses = collections.Counter(dict(conn.execute(
                    text("SELECT status, count(*) FROM orders GROUP BY status")).all()))
            result.unended = sum(result.statuses[status] for status in UNENDED)
            if not result.unended or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        time.sleep(7)  # the receipts' last emails, the publishers' marks (2 s) and the relay's sweep (5 s)
    finally:
        engine.dispose()
    result.placed = sum(result.statuses.values())


def receipts_sent(notify_url: str, timeout: float) -> None:
    """Wait (at most `timeout` seconds) until no receipt email is left unsent: one a killed
    mailer had claimed waits for its claim to run out (MAIL_CLAIM_LEASE)."""
    engine = create_engine(normalize_url(notify_url))
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                if not conn.execute(text("SELECT count(*) FROM emails WHERE kind = 'receipt' AND status <> 'sent'")
                                    ).scalar_one():
                    return
            time.sleep(0.5)
    finally:
        engine.dispose()


def inspect(urls: dict[str, str], sink: MailSink, settings: Settings, result: ChaosResult) -> None:
    report = run_checks(settings)
    result.verdict = report.verdict()
    result.money_problems = [problem.message for problem in report.problems]
    result.parked = parked_counts(settings)
    completed: set[str] = set()
    receipts: collections.Counter[str] = collections.Counter()
    unsent: set[str] = set()
    for service, url in urls.items():
        engine = create_engine(normalize_url(url))
        try:
            with engine.connect() as conn:
                result.unpublished[service] = conn.execute(
                    text("SELECT count(*) FROM outbox WHERE published_at IS NULL")).scalar_one()
                if service == "order":
                    completed = {row[0] for row in conn.execute(text("SELECT id FROM orders WHERE status = "
                                                                      "'completed'"))}
                if service == "notify":
                    receipts = collections.Counter(dict(conn.execute(text(
                        "SELECT order_id, count(*) FROM emails WHERE kind = 'receipt' GROUP BY order_id")).all()))
                    unsent = {row[0] for row in conn.execute(text(
                        "SELECT order_id FROM emails WHERE kind = 'receipt' AND status <> 'sent'"))}
        finally:
            engine.dispose()
    for order_id in sorted(completed):
        if receipts[order_id] != 1:
            result.receipt_problems.append(f"{order_id}: {receipts[order_id]} receipts recorded")
        elif order_id in unsent:
            result.receipt_problems.append(f"{order_id}: its receipt was never sent")
    delivered = collections.Counter(message["Message-ID"] for message in sink.messages())
    result.duplicate_deliveries = sum(count - 1 for count in delivered.values() if count > 1)


def reconciled(payment_url: str, token: str, days: set[date], result: ChaosResult) -> None:
    """Each provider's settlement report of the run's days against our payments."""
    for provider in PROVIDERS:
        for day in sorted(days):
            answer = requests.get(f"{payment_url}/v1/reconciliations/{provider}/{day.isoformat()}", timeout=60,
                                  headers={"Authorization": f"Bearer {token}", "Accept-Language": "en"})
            if answer.status_code != 200:
                result.reconciliation_problems.append(f"{provider} {day}: HTTP {answer.status_code} "
                                                      f"{answer.text[:200]}")
                continue
            done = answer.json()
            result.reconciled.append(f"{provider} {done['lines']} lines")
            result.reconciliation_problems.extend(d["words"] for d in done["differences"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.chaos", description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=300, help="top-ups to drive")
    parser.add_argument("--rate", type=float, default=5.0, help="top-ups started per second")
    parser.add_argument("--concurrency", type=int, default=12)
    parser.add_argument("--kill-every", type=float, default=4.0, help="seconds between SIGKILLs (0: none)")
    parser.add_argument("--drop-every", type=float, default=6.0,
                        help="seconds between terminating every database connection (0: never)")
    parser.add_argument("--cut-every", type=float, default=9.0,
                        help="seconds between closing every broker connection of the run's processes (0: never; "
                             "needs rabbitmqctl)")
    parser.add_argument("--settle", type=float, default=120.0, help="at most this long for every order to end")
    parser.add_argument("--seed", type=int, default=1, help="which processes get killed, in which order")
    parser.add_argument("--gateway-faults", default=GATEWAY_FAULTS,
                        help=f"SANDBOX_FAULTS for the sandbox gateways ('': none; default {GATEWAY_FAULTS})")
    args = parser.parse_args(argv)
    result = run(args.n, args.rate, args.concurrency, args.kill_every, args.drop_every, args.settle, args.seed,
                 cut_every=args.cut_every, gateway_faults=args.gateway_faults)
    print(result.render())
    return 0 if result.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
