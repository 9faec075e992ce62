"""The deployed shape: each service's gunicorn web and worker as separate processes, on
RabbitMQ and PostgreSQL, configured only through the environment."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from deploy.infra import Databases, delete_namespace, free_port, new_namespace
from deploy.processes import ProcessSystem, fresh_secrets
from services.notify.sink import MailSink
from shared.config import SANDBOX, SERVICES
from tests.e2e.frontend import Frontend
from tests.helpers import wait_for


class _Deployed:
    """Enough of LocalSystem's face for the Frontend helper."""

    def __init__(self, processes: ProcessSystem, sink: MailSink, settings: Any) -> None:
        self.processes, self.mail_sink, self.settings = processes, sink, settings

    def url(self, service: str) -> str:
        return self.processes.url(service)


@pytest.fixture
def deployed(pg_server: str, amqp_url: str, tmp_path: Path) -> Iterator[_Deployed]:
    dbs = Databases(pg_server)
    ports = {name: free_port() for name in (*SERVICES, SANDBOX)}  # the sandbox gateways as processes too
    namespace = new_namespace()
    sink = MailSink(tmp_path / "mail")
    sink.start()
    payment = f"http://127.0.0.1:{ports['payment']}"
    env = {f"{name.upper()}_DATABASE_URL": dbs.create(name) for name in (*SERVICES, SANDBOX)}
    env.update({f"{name.upper()}_PORT": str(port) for name, port in ports.items()})
    secrets = fresh_secrets()
    env.update(AMQP_URL=amqp_url, AMQP_NAMESPACE=namespace, SANDBOX_ENABLED="true", PAYMENT_PUBLIC_URL=payment,
               SMTP_HOST="127.0.0.1", SMTP_PORT=str(sink.port), LOG_FORMAT="json", **secrets)
    processes = ProcessSystem(env, ports, web_workers=2, log_dir=tmp_path / "logs",
                              metrics_ports={name: free_port() for name in SERVICES})
    processes.start()
    settings = type("S", (), {"operator_token": secrets["OPERATOR_TOKEN"],
                              "webhook_secret": secrets["WEBHOOK_SECRET"]})()
    yield _Deployed(processes, sink, settings)
    codes = processes.stop()
    sink.stop()
    delete_namespace(amqp_url, namespace)
    dbs.drop_all()
    assert all(code == 0 for code in codes.values()), f"unclean exits: {codes}; logs in {tmp_path / 'logs'}"


def test_card_top_up_across_separate_web_and_worker_processes(deployed: _Deployed) -> None:
    frontend = Frontend(deployed)  # type: ignore[arg-type]
    who = frontend.register("GB")
    order = frontend.top_up(who, 5000)
    assert frontend.pay(order).status_code == 200
    done = frontend.wait_status(who, order["order_id"], "completed")
    assert done["currency"] == "GBP"
    assert frontend.get(who, "/v1/balance").json()["amount"] == 5000
    mail = wait_for(lambda: frontend.mail_for(order["order_id"]), what="the receipt")
    assert "£50.00" in mail[0].get_body(("plain",)).get_content()


def test_each_web_process_adds_up_its_gunicorn_workers_and_each_worker_answers_on_its_metrics_port(
        deployed: _Deployed) -> None:
    frontend = Frontend(deployed)  # type: ignore[arg-type]
    who = frontend.register("DE")
    orders = [frontend.top_up(who, 1000) for _ in range(4)]  # over two gunicorn workers, each its own count
    for order in orders:
        frontend.pay(order)
    for order in orders:
        frontend.wait_status(who, order["order_id"], "completed")
    web = requests.get(f"{deployed.url('order')}/metrics", timeout=10).text
    placed = [line for line in web.splitlines()
              if line.startswith("topup_http_requests_total{") and 'route="/v1/orders"' in line
              and 'method="POST"' in line and 'status="201"' in line]
    assert placed and sum(float(line.rsplit(" ", 1)[1]) for line in placed) == 4, placed
    port = deployed.processes.metrics_ports["order"]
    worker = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    assert 'topup_topups_total{ending="completed",method="card"} 4.0' in worker
    assert 'topup_orders_needing_operator{service="order"} 0.0' in worker
    assert 'topup_outbox_waiting{service="order"}' in worker


def test_a_worker_killed_between_its_commit_and_its_publish_loses_nothing(deployed: _Deployed) -> None:
    """The order worker commits the paid order and its wallet.credit, then dies before
    publishing it (the fault switch exits 137, as kill -9 does). The capture it was handling
    was never acked, so it comes back to the restarted worker as a duplicate; the credit
    command sits unpublished in the outbox until the relay sweeps it. The top-up completes,
    credited once."""
    processes = deployed.processes
    processes.restart_worker("order", {"TOPUP_FAULT_EXIT_BEFORE_PUBLISH": "wallet.credit"})
    frontend = Frontend(deployed)  # type: ignore[arg-type]
    who = frontend.register("DE")
    order = frontend.top_up(who, 4000)
    assert frontend.pay(order).status_code == 200
    worker = processes.processes["order-worker"]
    wait_for(lambda: worker.poll() is not None, timeout=30, what="the worker's death")
    assert worker.returncode == 137
    assert frontend.order(who, order["order_id"])["status"] == "paid", "committed, not yet published"
    processes.restart_worker("order")
    done = frontend.wait_status(who, order["order_id"], "completed", timeout=30)
    assert frontend.get(who, "/v1/balance").json()["amount"] == 4000, "credited once"
    assert [s["event"] for s in done["timeline"]].count("payment_captured") == 1
