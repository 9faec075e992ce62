"""Small tools the tests share: publish a raw message with pika, wait for a condition."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import pika

from deploy.infra import Databases, free_port, new_namespace
from shared.config import SANDBOX, Settings
from shared.contracts import contract
from shared.messaging.envelope import Envelope

T = TypeVar("T")


def publish_raw(amqp_url: str, namespace: str, envelope: Envelope | None = None, *,
                body: bytes | None = None, message_type: str | None = None) -> None:
    """Publish with pika, not kombu: the wire contract must not depend on our client library."""
    message_type = message_type or (envelope.type if envelope else None)
    assert message_type
    exchange = f"{namespace}.{contract(message_type).publisher}"
    payload = body if body is not None else envelope.to_json().encode()  # type: ignore[union-attr]
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.basic_publish(
            exchange=exchange,
            routing_key=message_type,
            body=payload,
            properties=pika.BasicProperties(content_type="application/json", delivery_mode=2,
                                            message_id=envelope.message_id if envelope else None),
            mandatory=True,
        )
    finally:
        connection.close()


def wait_for(check: Callable[[], T | None], timeout: float = 10.0, interval: float = 0.02, what: str = "") -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or check}")
        time.sleep(interval)


class ServedApp:
    """A Flask app on a real port (werkzeug, threaded), for tests that need real HTTP."""

    def __init__(self, app: object, host: str = "127.0.0.1", port: int = 0) -> None:
        import threading

        from werkzeug.serving import make_server

        self.server = make_server(host, port, app, threaded=True)  # type: ignore[arg-type]
        self.url = f"http://{host}:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(5)



#: what a card top-up needs (notify only sends the receipt)
TOP_UP_SERVICES = ("order", "payment", "wallet")


def top_up_settings(dbs: Databases, amqp_url: str, var_dir: str, **changes: Any) -> Settings:
    """A system of TOP_UP_SERVICES on real PostgreSQL and RabbitMQ (a fresh namespace), quick
    to retry and poll, with secrets of this run only (no development defaults to refuse)."""
    ports = {name: free_port() for name in (*TOP_UP_SERVICES, "notify", SANDBOX)}
    payment = f"http://127.0.0.1:{ports['payment']}"
    return Settings(
        database_urls={name: dbs.create(name) for name in (*TOP_UP_SERVICES, SANDBOX)}, amqp_url=amqp_url,
        amqp_namespace=new_namespace(), ports=ports, payment_public_url=payment,
        sandbox_webhook_url=f"{payment}/v1/webhooks/sandbox", sandbox_enabled=True, retry_base_seconds=0.05,
        retry_max_attempts=3, outbox_poll_seconds=0.02, var_dir=var_dir,
        operator_token=uuid.uuid4().hex, webhook_secret=uuid.uuid4().hex, jwt_secret=uuid.uuid4().hex,
        platform_token=uuid.uuid4().hex, **changes)


#: a /metrics answer as {(sample name, sorted labels): value}
Scraped = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(url: str) -> Scraped:
    """The Prometheus metrics a process answers at `url`/metrics, parsed."""
    import requests
    from prometheus_client.parser import text_string_to_metric_families

    answer = requests.get(f"{url}/metrics", timeout=10)
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/plain")
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(answer.text) for sample in family.samples}


def metric(scraped: Scraped, name: str, **labels: str) -> float:
    """The sum of the samples of `name` whose labels include `labels`."""
    return sum(v for (n, have), v in scraped.items() if n == name and set(labels.items()) <= set(have))


class SandboxServer:
    """The sandbox gateways as deployed beside a test's services: their web app on
    `settings.ports["sandbox"]`, their worker (the webhook sender), their own database."""

    def __init__(self, settings: Settings) -> None:
        from services.sandbox import app as sandbox_app

        self.settings = settings
        self.ctx = sandbox_app.start(settings)
        #: one for the app and the worker, so that `sandbox.faults.drawn` counts both
        self.sandbox = sandbox_app.sandbox_of(self.ctx)
        self.served = ServedApp(sandbox_app.create_app(ctx=self.ctx, sandbox=self.sandbox),
                                port=settings.ports[SANDBOX])
        self.url = self.served.url
        self.worker = sandbox_app.create_worker(ctx=self.ctx, sandbox=self.sandbox)
        self.worker.start()

    def sessions(self) -> Any:
        """A session on the sandbox's own database (what the provider's books say)."""
        return self.ctx.sessions()

    def close(self) -> None:
        self.worker.stop_event.set()
        self.served.stop()
        self.worker.stop()
        self.ctx.stop()
