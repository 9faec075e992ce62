"""`make floor`: what the building blocks of a top-up cost on this machine, with nothing of
ours in them, to tell how far the services are from the stack's own floor.

A top-up is, at the least, a handful of HTTP requests (frontend and gateway) and a few saga
hops. A hop is what a service does for each message, at the least: take the message, run
its saga step in plain SQL in one transaction (the inbox row that makes a redelivery
harmless, the order row locked, read and updated, a timeline row, the outbox row of the
next message), acknowledge it, and publish the next one, persistent and confirmed. This
measures each block alone, sequentially, on the real servers, as CPU milliseconds of every
process involved (client, server, PostgreSQL's backends and its own background processes,
RabbitMQ), and multiplies out the smallest top-up (by default issue 10's targets: 4.5
requests and 7 messages). It leaves its costs in var/floor.json, where `make bench` finds
them to price its own top-ups' counts: "N x the floor".

    make floor    (python -m deploy.floor [--requests 4.5] [--hops 7] [--n 2000])
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import requests
from flask import Flask
from kombu import Connection, Consumer, Exchange, Producer, Queue

from deploy.bench_result import FLOOR_FILE
from deploy.infra import Databases, free_port, postgres_server, rabbitmq_server
from deploy.processes import ROOT, own_cpu, process_table

#: issue 10's targets for a completed top-up: the smallest top-up the floor prices
REQUESTS_PER_TOP_UP = 4.5
HOPS_PER_TOP_UP = 7
HTTP = "HTTP request (Flask, gunicorn)"
STEP = "saga step (plain SQL, 5 statements, commit)"
PUBLISH = "confirmed publish, consumed and acked"
HOP = "hop: consume, saga step, ack, confirmed publish"
IDLE_SECONDS = 1.0

app = Flask(__name__)


@app.get("/ping")
def ping() -> dict[str, str]:
    return {"status": "ok"}


#: a PostgreSQL client backend's title, "postgres: 15/main: user db 127.0.0.1(5432) idle"
_CLIENT_BACKEND = re.compile(r"^postgres: .*(\(\d+\)|\[local\]) ")


def server_cpu(backends: Collection[int]) -> dict[str, float]:
    """CPU seconds so far of PostgreSQL (our `backends`, and its own processes that serve
    everyone: the WAL writer, the checkpointer... but no other client's backend, a test
    running beside us) and of RabbitMQ (one Erlang VM: all of it)."""
    used = {"PostgreSQL": 0.0, "RabbitMQ": 0.0}
    for pid, (command, _, cpu) in process_table().items():
        if command.startswith("beam.smp"):
            used["RabbitMQ"] += cpu
        elif command == "postgres" and (pid in backends or not _CLIENT_BACKEND.match(_title(pid))):
            used["PostgreSQL"] += cpu
    return used


def _title(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def client_and_server_cpu(pids: Collection[int] = ()) -> float:
    """CPU seconds of this process (the client) and of `pids` with their children (a server)."""
    table = process_table()
    return own_cpu() + sum(cpu for pid, (_, ppid, cpu) in table.items() if pid in pids or ppid in pids)


@contextmanager
def measured(label: str, n: int, results: dict[str, float], pids: Collection[int] = (),
             backends: Collection[int] = ()) -> Iterator[None]:
    """CPU per operation of everything involved. The servers are shared (RabbitMQ with every
    test on the machine, PostgreSQL's background processes with every database): what they
    burn anyway, measured for a second before, is taken off in proportion to the time."""
    idle_before = server_cpu(backends)
    time.sleep(IDLE_SECONDS)
    servers_before, ours_before = server_cpu(backends), client_and_server_cpu(pids)
    idle_rate = {name: (used - idle_before[name]) / IDLE_SECONDS for name, used in servers_before.items()}
    started = time.monotonic()
    yield
    wall = time.monotonic() - started
    servers = {name: max(0.0, used - servers_before[name] - idle_rate[name] * wall)
               for name, used in server_cpu(backends).items()}
    cpu = client_and_server_cpu(pids) - ours_before + sum(servers.values())
    results[label] = cpu * 1000 / n
    print(f"  {label:<48} {cpu * 1000 / n:6.2f} ms CPU each ({n / wall:5.0f}/s sequential); of which "
          f"PostgreSQL {servers['PostgreSQL'] * 1000 / n:.2f}, RabbitMQ {servers['RabbitMQ'] * 1000 / n:.2f} "
          f"(less their idle: {100 * idle_rate['PostgreSQL']:.0f}% and {100 * idle_rate['RabbitMQ']:.0f}% of a core)")


def http_requests(n: int, results: dict[str, float]) -> None:
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py", "--workers", "1",
                               "--bind", f"127.0.0.1:{port}", "--access-logfile", "-", "deploy.floor:app"],
                              cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        http = requests.Session()
        url = f"http://127.0.0.1:{port}/ping"
        for _ in range(100):  # until gunicorn's worker answers
            try:
                http.get(url, timeout=5)
                break
            except requests.RequestException:
                time.sleep(0.1)
        for _ in range(200):
            http.get(url)
        with measured(HTTP, n, results, {server.pid}):
            for _ in range(n):
                http.get(url).raise_for_status()
    finally:
        server.terminate()
        server.wait(10)


SCHEMA = """
CREATE TABLE floor_orders (id text PRIMARY KEY, status text NOT NULL, version integer NOT NULL,
                           updated_at timestamptz NOT NULL);
CREATE TABLE floor_inbox (message_id text PRIMARY KEY, processed_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE floor_timeline (id bigserial PRIMARY KEY, order_id text NOT NULL REFERENCES floor_orders,
                             event text NOT NULL, occurred_at timestamptz NOT NULL DEFAULT now());
CREATE INDEX ON floor_timeline (order_id);
CREATE TABLE floor_outbox (id bigserial PRIMARY KEY, message_id text NOT NULL UNIQUE, type text NOT NULL,
                           body text NOT NULL, created_at timestamptz NOT NULL DEFAULT now(),
                           published_at timestamptz);
CREATE INDEX ON floor_outbox (id) WHERE published_at IS NULL;
"""
ORDERS = 200  # rows the steps take turns on, as top-ups in flight do


class SagaStep:
    """The least a service does in its database for one message, in plain SQL."""

    def __init__(self, url: str) -> None:
        self.conn = psycopg.connect(url)
        self.conn.execute(SCHEMA)
        self.conn.execute("INSERT INTO floor_orders SELECT 'order-' || i, 'pending', 0, now() "
                          "FROM generate_series(0, %s) AS i", (ORDERS - 1,))
        self.conn.commit()
        self.backend = self.conn.info.backend_pid

    def __call__(self, message_id: str, order_id: str, event: str) -> str | None:
        """The next message's body, or None for a message seen before (a redelivery)."""
        conn = self.conn
        fresh = conn.execute("INSERT INTO floor_inbox (message_id) VALUES (%s) ON CONFLICT DO NOTHING",
                             (message_id,)).rowcount
        if not fresh:
            conn.rollback()
            return None
        status, version = conn.execute("SELECT status, version FROM floor_orders WHERE id = %s FOR UPDATE",
                                       (order_id,)).fetchone() or ("", 0)
        conn.execute("UPDATE floor_orders SET status = %s, version = %s, updated_at = now() WHERE id = %s",
                     (event, version + 1, order_id))
        conn.execute("INSERT INTO floor_timeline (order_id, event) VALUES (%s, %s)", (order_id, event))
        body = json.dumps({"order_id": order_id, "event": event, "after": status, "version": version + 1})
        conn.execute("INSERT INTO floor_outbox (message_id, type, body) VALUES (%s, %s, %s)",
                     (uuid.uuid4().hex, event, body))
        conn.commit()
        return body

    def close(self) -> None:
        self.conn.close()


def saga_steps(step: SagaStep, n: int, results: dict[str, float]) -> None:
    with measured(STEP, n, results, backends={step.backend}):
        for i in range(n):
            step(uuid.uuid4().hex, f"order-{i % ORDERS}", f"step-{i % 9}")


class Broker:
    """A persistent queue on a topic exchange; a publisher with confirms; a consumer that
    acknowledges each message after its handling."""

    def __init__(self, amqp_url: str) -> None:
        name = f"floor-{uuid.uuid4().hex[:8]}"
        self.exchange = Exchange(name, type="topic", durable=True)
        self.queue = Queue(name, self.exchange, routing_key="hop", durable=True)
        self.publisher = Connection(amqp_url, transport_options={"confirm_publish": True})
        self.consumer_conn = Connection(amqp_url)
        self.producer = Producer(self.publisher.channel())
        self.channel = self.consumer_conn.channel()
        self.queue(self.channel).declare()
        self.received: list[Any] = []
        self.consumer = Consumer(self.channel, queues=[self.queue], on_message=self.received.append,
                                 prefetch_count=32)
        self.consumer.consume()

    def publish(self, body: str) -> None:
        self.producer.publish(body.encode(), exchange=self.exchange, routing_key="hop", delivery_mode=2,
                              content_type="application/json", content_encoding="utf-8", serializer=None,
                              message_id=uuid.uuid4().hex, retry=False)

    def next_message(self) -> Any:
        while not self.received:
            self.consumer_conn.drain_events(timeout=5)
        return self.received.pop(0)

    def close(self) -> None:
        self.consumer.cancel()
        self.queue(self.channel).delete()
        self.consumer_conn.close()
        self.publisher.close()


def publishes(broker: Broker, n: int, results: dict[str, float]) -> None:
    with measured(PUBLISH, n, results):
        for i in range(n):
            broker.publish(json.dumps({"n": i}))
            broker.next_message().ack()


def hops(broker: Broker, step: SagaStep, n: int, results: dict[str, float]) -> None:
    """A chain of hops, each handling the message the one before published: nine of them
    on one order (a top-up), then the next order."""
    broker.publish(json.dumps({"order_id": "order-0", "event": "placed"}))
    with measured(HOP, n, results, backends={step.backend}):
        for i in range(n):
            message = broker.next_message()
            body = step(message.properties["message_id"], json.loads(message.body)["order_id"], f"step-{i % 9}")
            message.ack()
            if body is None or (i + 1) % 9 == 0:
                body = json.dumps({"order_id": f"order-{(i + 1) // 9 % ORDERS}", "event": "placed"})
            broker.publish(body)
    broker.next_message().ack()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=float, default=REQUESTS_PER_TOP_UP, help="per top-up, to price")
    parser.add_argument("--hops", type=float, default=HOPS_PER_TOP_UP, help="broker messages per top-up, to price")
    parser.add_argument("--n", type=int, default=2000, help="how many of each block to measure")
    args = parser.parse_args(argv)
    results: dict[str, float] = {}
    print("topup floor: the stack alone, sequential; CPU of every process involved (client, server, "
          "PostgreSQL, RabbitMQ)")
    with postgres_server() as pg, rabbitmq_server() as amqp:
        databases = Databases(pg)
        try:
            http_requests(args.n, results)
            step, broker = SagaStep(databases.create("floor")), Broker(amqp)
            try:
                saga_steps(step, args.n, results)
                publishes(broker, args.n, results)
                hops(broker, step, args.n, results)
            finally:
                broker.close()
                step.close()
        finally:
            databases.drop_all()
    floor = args.requests * results[HTTP] + args.hops * results[HOP]
    cores = os.cpu_count() or 1
    print(f"  smallest top-up: {args.requests:g} requests x {results[HTTP]:.2f} ms + {args.hops:g} hops x "
          f"{results[HOP]:.2f} ms = {floor:.1f} ms CPU -> at most {cores * 1000 / floor:.0f} top-ups/s on "
          f"{cores} cores")
    print("  a top-up of ours is (its CPU in every process) / (its requests x the request + its messages x "
          "the hop) times the floor: `make bench` prints it")
    FLOOR_FILE.parent.mkdir(parents=True, exist_ok=True)
    FLOOR_FILE.write_text(json.dumps({
        "request_ms": results[HTTP], "hop_ms": results[HOP], "saga_step_ms": results[STEP],
        "publish_ms": results[PUBLISH], "measured_at": datetime.now(UTC).isoformat(timespec="minutes"),
        "cores": cores}, indent=2))


if __name__ == "__main__":
    main()
