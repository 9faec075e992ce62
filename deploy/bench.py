"""`make bench`: top-ups through the deployed system, on RabbitMQ + PostgreSQL.

Starts every service's gunicorn web and worker as separate processes (deploy/processes.py),
registers a pool of customers, measures the idle system, then drives N top-ups through the
public API and the sandbox payment pages, with a mix of methods and endings, either
closed-loop at a concurrency (saturation) or open-loop at an offered rate. It prints
completed top-ups per second, the latency from "order placed" to "completed" (from the
order's own timeline, so client polling does not blur it), RabbitMQ messages, database
commits and frontend requests per top-up, the CPU every process used per top-up (ours,
PostgreSQL, RabbitMQ, the load generator), and the verdict of the money-conservation check.

    python -m deploy.bench --n 500 --concurrency 20              # saturation
    python -m deploy.bench --n 400 --rate 8 --concurrency 100    # 8 top-ups/s offered
    python -m deploy.bench --n 200 --drop-connections 2          # under database failovers
"""

from __future__ import annotations

import argparse
import collections
import itertools
import os
import random
import statistics
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import psycopg
import requests
from sqlalchemy import create_engine, func, select, text

from deploy.check import run_checks
from deploy.infra import Databases, delete_namespace, free_port, new_namespace, postgres_server, rabbitmq_server
from deploy.processes import SERVERS, ProcessSystem, cpu_by_command, fresh_secrets, machine_cpu, own_cpu
from services.notify.sink import MailSink
from services.order.models import Order, TimelineEntry
from services.payment.sandbox.bank import TEST_CARDS
from shared.config import SERVICES, Settings
from shared.db import normalize_url


def sandbox_card(outcome: str | None) -> dict[str, str]:
    """The card page's form for the sandbox's first test card with this outcome."""
    number = next(card for card, code in TEST_CARDS.items() if code == outcome)
    return {"card_number": number, "exp_month": "12", "exp_year": "2031", "cvc": "123"}


# method, what the customer submits on the gateway's page, expected ending
ENDINGS: dict[str, tuple[str, dict[str, str], str]] = {
    "card_approved": ("card", sandbox_card(None), "completed"),
    "card_declined": ("card", sandbox_card("card_declined"), "failed"),
    "paypal_approved": ("paypal", {"decision": "approve"}, "completed"),
    "paypal_cancelled": ("paypal", {"decision": "cancel"}, "failed"),
    "alipay_approved": ("alipay", {"decision": "approve"}, "completed"),
    "wechat_pay_approved": ("wechat_pay", {"decision": "approve"}, "completed"),
}
TERMINAL = ("completed", "failed", "expired", "refunded", "cancelled")


@dataclass
class Customer:
    headers: dict[str, str]
    currency: str


class Driver:
    """What frontends and customers do, as fast as they can, over real HTTP."""

    def __init__(self, order_url: str, poll_seconds: float, long_poll: bool) -> None:
        self.order_url = order_url
        self.poll_seconds = poll_seconds
        self.long_poll = long_poll
        self.local = threading.local()
        self.errors: list[str] = []
        self.requests = itertools.count()
        #: answers of 500 and above, by status (a 503 is repeated after its Retry-After)
        self.server_errors: collections.Counter[int] = collections.Counter()

    @property
    def http(self) -> requests.Session:
        if not hasattr(self.local, "session"):
            self.local.session = requests.Session()
            self.local.session.hooks["response"].append(self._count)
        return self.local.session  # type: ignore[no-any-return]

    def _count(self, response: requests.Response, *_: object, **__: object) -> None:
        next(self.requests)  # a hook that returned something would replace the response
        if response.status_code >= 500:
            self.server_errors[response.status_code] += 1

    def send(self, method: str, url: str, **kwargs: object) -> requests.Response:
        """As a well-behaved frontend: a 503 is asked again after its Retry-After (a few
        times), with the same Idempotency-Key, which makes a repeated write safe."""
        for _ in range(5):
            response = self.http.request(method, url, **kwargs)  # type: ignore[arg-type]
            if response.status_code != 503:
                break
            time.sleep(float(response.headers.get("Retry-After", "1")))
        return response

    def customer(self) -> Customer:
        email = f"bench-{uuid.uuid4().hex[:10]}@example.com"
        created = self.http.post(f"{self.order_url}/v1/auth/register",
                                 json={"email": email, "password": "bench password", "country": "DE"})
        created.raise_for_status()
        token = self.http.post(f"{self.order_url}/v1/auth/login",
                               json={"email": email, "password": "bench password"}).json()["access_token"]
        return Customer({"Authorization": f"Bearer {token}"}, created.json()["currency"])

    def top_up(self, who: Customer, ending: str) -> str | None:
        method, form, _ = ENDINGS[ending]
        try:
            quote = self.send("POST", f"{self.order_url}/v1/quotes", headers=who.headers, json={
                "amount": random.choice([1000, 2000, 5000, 10000]), "currency": who.currency, "method": method})
            quote.raise_for_status()
            placed = self.send("POST", f"{self.order_url}/v1/orders", json={"quote_id": quote.json()["quote_id"]},
                               headers={**who.headers, "Idempotency-Key": uuid.uuid4().hex})
            placed.raise_for_status()
            order_id = str(placed.json()["order_id"])
            url = self._wait_for_redirect(who, order_id)
            self.send("POST", url, data=form).raise_for_status()
            return order_id
        except (requests.RequestException, TimeoutError) as exc:
            self.errors.append(repr(exc))
            return None

    def _wait_for_redirect(self, who: Customer, order_id: str, timeout: float = 30) -> str:
        """Ask for the order until it says where to pay: each ask waits on the server for a
        change (If-None-Match + Prefer: wait) where the server agrees, else the frontend
        sleeps its poll interval between asks."""
        deadline = time.monotonic() + timeout
        headers = who.headers
        while time.monotonic() < deadline:
            response = self.send("GET", f"{self.order_url}/v1/orders/{order_id}", headers=headers)
            if response.status_code == 200 and (action := response.json().get("next_action")):
                return str(action["url"])
            if self.long_poll and "ETag" in response.headers:
                headers = {**who.headers, "If-None-Match": response.headers["ETag"], "Prefer": "wait=10"}
            if "Preference-Applied" not in response.headers:
                time.sleep(self.poll_seconds)  # a frontend polls; faster would only load the order service
        raise TimeoutError(f"{order_id} never asked for payment")


def commits(pg_urls: dict[str, str]) -> int:
    total = 0
    for url in pg_urls.values():
        name = url.rsplit("/", 1)[-1]
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("SELECT pg_stat_clear_snapshot()")
            row = conn.execute("SELECT xact_commit FROM pg_stat_database WHERE datname = %s", (name,)).fetchone()
            total += int(row[0]) if row else 0
    return total


def outbox_messages(pg_urls: dict[str, str]) -> int:
    total = 0
    for url in pg_urls.values():
        engine = create_engine(normalize_url(url))
        with engine.connect() as conn:
            total += int(conn.execute(text("SELECT count(*) FROM outbox")).scalar_one())
        engine.dispose()
    return total


def latencies(order_url: str, order_ids: list[str]) -> tuple[list[float], dict[str, int], float]:
    """Placed -> completed per completed order (seconds), endings, and the completion span."""
    engine = create_engine(normalize_url(order_url))
    with engine.connect() as conn:
        done = conn.execute(
            select(Order.id, Order.created_at, func.max(TimelineEntry.occurred_at))
            .join(TimelineEntry, TimelineEntry.order_id == Order.id)
            .where(Order.id.in_(order_ids), Order.status == "completed", TimelineEntry.event == "credited")
            .group_by(Order.id, Order.created_at)).all()
        endings = dict(conn.execute(select(Order.status, func.count()).where(Order.id.in_(order_ids))
                                    .group_by(Order.status)).all())
    engine.dispose()
    values = [(finished - placed).total_seconds() for _, placed, finished in done]
    span = (max(f for *_, f in done) - min(p for _, p, _ in done)).total_seconds() if done else 0.0
    return values, endings, span


def wait_terminal(order_url: str, order_ids: list[str], timeout: float) -> None:
    engine = create_engine(normalize_url(order_url))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            left = conn.execute(select(func.count()).select_from(Order)
                                .where(Order.id.in_(order_ids), Order.status.not_in(TERMINAL))).scalar_one()
        if not left:
            break
        time.sleep(0.2)
    engine.dispose()


class ConnectionDropper:
    """What a database failover does, again and again: every `every` seconds, terminate
    every connection of the four databases (web, workers, doorbells alike)."""

    def __init__(self, pg_urls: dict[str, str], every: float) -> None:
        self.pg_urls, self.every = pg_urls, every
        self.stop = threading.Event()
        self.terminated = 0
        self.thread = threading.Thread(target=self._run, name="connection-dropper", daemon=True)

    def _run(self) -> None:
        names = [url.rsplit("/", 1)[-1] for url in self.pg_urls.values()]
        admin = next(iter(self.pg_urls.values())).rsplit("/", 1)[0] + "/postgres"
        while not self.stop.wait(self.every):
            with psycopg.connect(admin, autocommit=True) as conn:
                rows = conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                    "WHERE datname = ANY(%s) AND pid <> pg_backend_pid()", (names,)).fetchall()
            self.terminated += len(rows)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))] * 1000


def run(args: argparse.Namespace) -> None:
    with postgres_server() as pg, rabbitmq_server() as amqp, tempfile.TemporaryDirectory() as tmp:
        dbs = Databases(pg)
        urls = {name: dbs.create(name) for name in SERVICES}
        ports = {name: free_port() for name in SERVICES}
        namespace = new_namespace()
        sink = MailSink(Path(tmp) / "mail")
        sink.start()
        env = {f"{name.upper()}_DATABASE_URL": url for name, url in urls.items()}
        env.update({f"{name.upper()}_PORT": str(port) for name, port in ports.items()})
        env.update(AMQP_URL=amqp, AMQP_NAMESPACE=namespace, SANDBOX_ENABLED="true", LOG_LEVEL="WARNING",
                   PAYMENT_QUERY_AFTER="5",
                   PAYMENT_PUBLIC_URL=f"http://127.0.0.1:{ports['payment']}", SMTP_HOST="127.0.0.1",
                   SMTP_PORT=str(sink.port), WEB_THREADS=str(args.web_threads),
                   # every simulated customer comes from 127.0.0.1: the per-address limit on
                   # registration and login would stop the pool being registered
                   AUTH_RATE_LIMIT="100000 per minute")
        env.update(fresh_secrets())
        system = ProcessSystem(env, ports, web_workers=args.web_workers, log_dir=Path(tmp) / "logs").start()
        try:
            report(args, system, urls)
        finally:
            system.stop()
            sink.stop()
            delete_namespace(amqp, namespace)
            dbs.drop_all()


def report(args: argparse.Namespace, system: ProcessSystem, urls: dict[str, str]) -> None:
    driver = Driver(system.url("order"), args.poll, long_poll=not args.no_wait)
    customers = [driver.customer() for _ in range(max(1, min(args.concurrency, 50)))]
    mix = [e for e, share in args.mix.items() for _ in range(share)]
    time.sleep(1)  # let registrations settle so the wallet has opened every account
    if args.idle:
        idle(system, urls, args.idle)
    commits_before, messages_before, cpu_before = commits(urls), outbox_messages(urls), system.cpu_seconds()
    requests_before = next(driver.requests)
    others_before, client_before, machine_before = cpu_by_command(*SERVERS), own_cpu(), machine_cpu()
    started = time.monotonic()
    order_ids: list[str | None] = []
    dropper = ConnectionDropper(urls, args.drop_connections) if args.drop_connections else None
    if dropper:
        dropper.thread.start()

    def one(i: int) -> None:
        order_ids.append(driver.top_up(customers[i % len(customers)], mix[i % len(mix)]))

    with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
        if args.rate:
            for i in range(args.n):
                pool.submit(one, i)
                time.sleep(max(0.0, started + (i + 1) / args.rate - time.monotonic()))
        else:
            list(pool.map(one, range(args.n)))
    if dropper:
        dropper.stop.set()
        dropper.thread.join()
    placed = [o for o in order_ids if o]
    wait_terminal(urls["order"], placed, timeout=120)
    elapsed, machine_after = time.monotonic() - started, machine_cpu()
    time.sleep(1)  # receipts and their acknowledgements
    values, endings, span = latencies(urls["order"], placed)
    n = len(placed)
    commits_after, messages_after = commits(urls), outbox_messages(urls)
    requests_made = next(driver.requests) - requests_before - 1
    print(f"\ntopup bench: {n} top-ups placed ({len(driver.errors)} client errors), "
          f"{'rate ' + str(args.rate) + '/s offered' if args.rate else 'concurrency ' + str(args.concurrency)}, "
          f"web workers {args.web_workers}x{args.web_threads} threads per service")
    print(f"  endings            {dict(sorted(endings.items()))}")
    for error in sorted(set(driver.errors))[:3]:
        print(f"    client error: {error[:200]}")
    if dropper:
        print(f"  dropped            {dropper.terminated} database connections, every {args.drop_connections} s")
    print(f"  server errors      {dict(sorted(driver.server_errors.items())) or 'none'} "
          "(HTTP answers of 500 and above; a 503 is asked again after its Retry-After)")
    if values:
        print(f"  completed/s        {len(values) / span:.1f} (completions over {span:.1f} s; "
              f"run took {elapsed:.1f} s)")
        print(f"  placed->completed  p50 {pct(values, .50):.0f} ms  p95 {pct(values, .95):.0f} ms  "
              f"p99 {pct(values, .99):.0f} ms  max {max(values) * 1000:.0f} ms  "
              f"mean {statistics.mean(values) * 1000:.0f} ms")
    print(f"  messages/top-up    {(messages_after - messages_before) / max(n, 1):.1f} (RabbitMQ publishes)")
    print(f"  commits/top-up     {(commits_after - commits_before) / max(n, 1):.1f} (PostgreSQL, 4 databases)")
    print(f"  requests/top-up    {requests_made / max(n, 1):.1f} (the frontend's HTTP calls, polls included)")
    cpu = {name: used - cpu_before.get(name, 0.0) for name, used in system.cpu_seconds().items()}
    print(f"  CPU ms/top-up      {sum(cpu.values()) * 1000 / max(n, 1):.0f} in our processes: " + "  ".join(
        f"{name} {seconds * 1000 / max(n, 1):.0f}" for name, seconds in sorted(cpu.items(), key=lambda kv: -kv[1])))
    others = {SERVERS[name]: used - others_before[name] for name, used in cpu_by_command(*SERVERS).items()}
    others["bench client and mail sink"] = own_cpu() - client_before
    busy, total = (after - before for after, before in zip(machine_after, machine_before, strict=True))
    print("  CPU ms/top-up      outside them: " + "  ".join(
        f"{name} {seconds * 1000 / max(n, 1):.0f}" for name, seconds in others.items()))
    print(f"  machine            {100 * busy / max(total, 1e-9):.0f}% of {os.cpu_count()} cores busy "
          f"from first order to last ending")
    result = run_checks(Settings(database_urls=urls))
    print(f"  invariant check    {result.verdict()}")
    for problem in result.problems[:5]:
        print(f"    - {problem.message}")


def idle(system: ProcessSystem, urls: dict[str, str], seconds: float) -> None:
    """What the system costs doing nothing: background loops, heartbeats."""
    commits_before, cpu_before, servers_before = commits(urls), system.cpu_seconds(), cpu_by_command(*SERVERS)
    time.sleep(seconds)
    ours = sum(system.cpu_seconds().values()) - sum(cpu_before.values())
    servers = sum(cpu_by_command(*SERVERS).values()) - sum(servers_before.values())
    print(f"\nidle for {seconds:.0f} s: {(commits(urls) - commits_before) / seconds:.1f} commits/s, "
          f"{100 * ours / seconds:.1f}% of a core in our processes, {100 * servers / seconds:.1f}% in "
          f"PostgreSQL and RabbitMQ")


def parse_mix(text_: str) -> dict[str, int]:
    mix = {}
    for part in text_.split(","):
        name, _, weight = part.partition(":")
        if name not in ENDINGS:
            raise argparse.ArgumentTypeError(f"unknown ending {name!r}; choose from {', '.join(ENDINGS)}")
        mix[name] = int(weight or 1)
    return mix


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=40)
    parser.add_argument("--rate", type=float, default=0.0, help="offered top-ups per second (open loop)")
    parser.add_argument("--mix", type=parse_mix, default=parse_mix(
        "card_approved:5,card_declined:1,paypal_approved:1,paypal_cancelled:1,alipay_approved:1,wechat_pay_approved:1"))
    parser.add_argument("--idle", type=float, default=5.0, help="seconds to measure the idle system first (0: skip)")
    parser.add_argument("--poll", type=float, default=0.25, help="seconds between a frontend's polls of its order")
    parser.add_argument("--no-wait", action="store_true", help="frontends poll only, never ask to wait for a change")
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--web-threads", type=int, default=16, help="half of them may wait on an order")
    parser.add_argument("--drop-connections", type=float, default=0.0, metavar="SECONDS",
                        help="terminate every database connection this often during the run (0: never)")
    run(parser.parse_args())


if __name__ == "__main__":
    main()
