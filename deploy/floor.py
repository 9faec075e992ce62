"""`make floor`: what the building blocks of a top-up cost on this machine, with nothing of
ours in them, to tell how far the services are from the stack's own floor.

A top-up is, at the least, a handful of HTTP requests (frontend and gateway), nine broker
hops (the saga's commands and events, persistent and confirmed) and a transaction per hop.
This measures each block alone, sequentially, on the real servers, as CPU milliseconds of
every process involved (client, server, PostgreSQL, RabbitMQ), and multiplies out the
smallest possible top-up: how many top-ups per second the machine's cores could carry if
the services added nothing at all.

    make floor    (python -m deploy.floor)
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Collection, Iterator
from contextlib import contextmanager

import requests
from flask import Flask
from kombu import Connection, Consumer, Exchange, Producer, Queue
from sqlalchemy import Integer, String, create_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from deploy.infra import Databases, free_port, postgres_server, rabbitmq_server
from deploy.processes import ROOT, SERVERS, cpu_by_command, own_cpu, process_table
from shared.db import normalize_url

#: the smallest top-up: quote, order, one poll, the payment page, the gateway's webhook
REQUESTS_PER_TOP_UP = 5
HOPS_PER_TOP_UP = 9  # see the saga in the README
HTTP, TRANSACTION, HOP = "HTTP request (Flask, gunicorn)", "transaction (ORM insert + commit)", \
    "broker hop (persistent, confirmed)"

app = Flask(__name__)


@app.get("/ping")
def ping() -> dict[str, str]:
    return {"status": "ok"}


def client_and_server_cpu(pids: Collection[int] = ()) -> float:
    """CPU seconds of this process (the client) and of `pids` with their children (a server)."""
    table = process_table()
    return own_cpu() + sum(cpu for pid, (_, ppid, cpu) in table.items() if pid in pids or ppid in pids)


@contextmanager
def measured(label: str, n: int, results: dict[str, float], pids: Collection[int] = ()) -> Iterator[None]:
    servers_before, ours_before = cpu_by_command(*SERVERS), client_and_server_cpu(pids)
    started = time.monotonic()
    yield
    wall = time.monotonic() - started
    servers = sum(cpu_by_command(*SERVERS).values()) - sum(servers_before.values())
    cpu = client_and_server_cpu(pids) - ours_before + servers
    results[label] = cpu * 1000 / n
    print(f"  {label:<34} {cpu * 1000 / n:6.2f} ms CPU each  ({n / wall:7.0f}/s sequential, "
          f"of which PostgreSQL + RabbitMQ {servers * 1000 / n:.2f} ms)")


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


class Base(DeclarativeBase):
    pass


class Row(Base):
    __tablename__ = "floor_rows"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    body: Mapped[str] = mapped_column(String(64))


def transactions(url: str, n: int, results: dict[str, float]) -> None:
    engine = create_engine(normalize_url(url))
    Base.metadata.create_all(engine)
    with measured(TRANSACTION, n, results):
        for i in range(n):
            with Session(engine) as session, session.begin():
                session.add(Row(body=str(i)))
    engine.dispose()


def broker_hops(amqp_url: str, n: int, results: dict[str, float]) -> None:
    name = f"floor-{uuid.uuid4().hex[:8]}"
    exchange = Exchange(name, type="topic", durable=True)
    queue = Queue(name, exchange, routing_key="hop", durable=True)
    received: list[object] = []
    with Connection(amqp_url, transport_options={"confirm_publish": True}) as publisher, \
            Connection(amqp_url) as consumer_conn:
        producer = Producer(publisher.channel())
        channel = consumer_conn.channel()
        queue(channel).declare()

        def on_message(message: object) -> None:
            message.ack()  # type: ignore[attr-defined]
            received.append(message)

        with Consumer(channel, queues=[queue], on_message=on_message, prefetch_count=32):
            def hop(i: int) -> None:
                producer.publish(b'{"n": %d}' % i, exchange=exchange, routing_key="hop", delivery_mode=2,
                                 content_type="application/json", content_encoding="utf-8", serializer=None,
                                 retry=False)
                while len(received) <= i:
                    consumer_conn.drain_events(timeout=5)

            with measured(HOP, n, results):
                for i in range(n):
                    hop(i)
        queue(channel).delete()


def main() -> None:
    results: dict[str, float] = {}
    print("topup floor: the stack alone, sequential, CPU of every process involved")
    with postgres_server() as pg, rabbitmq_server() as amqp:
        databases = Databases(pg)
        try:
            http_requests(2000, results)
            transactions(databases.create("floor"), 2000, results)
            broker_hops(amqp, 2000, results)
        finally:
            databases.drop_all()
    floor = REQUESTS_PER_TOP_UP * results[HTTP] + HOPS_PER_TOP_UP * (results[HOP] + results[TRANSACTION])
    cores = os.cpu_count() or 1
    print(f"  smallest top-up: {REQUESTS_PER_TOP_UP} requests + {HOPS_PER_TOP_UP} hops with a transaction each "
          f"= {floor:.1f} ms CPU -> at most {cores * 1000 / floor:.0f} top-ups/s on {cores} cores")


if __name__ == "__main__":
    main()
