"""What an operator sees of a top-up, on both backends: the metrics every process exports
(shared/metrics.py) count it, and one trace (shared/tracing.py), exported over OTLP to a
real receiver here, follows it from `POST /v1/orders` through every service, the gateway's
webhook, the credit and the receipt."""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from deploy.infra import free_port
from tests.e2e.frontend import Frontend
from tests.helpers import Scraped, metric, scrape, wait_for


class Receiver:
    """An OTLP/HTTP trace receiver: what a collector or Jaeger takes, kept in a list."""

    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                receiver.keep(request)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def keep(self, request: ExportTraceServiceRequest) -> None:
        with self.lock:
            for resource_spans in request.resource_spans:
                resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
                for scope in resource_spans.scope_spans:
                    for span in scope.spans:
                        self.spans.append({
                            "service": resource.get("service.name"), "name": span.name,
                            "trace_id": span.trace_id.hex(), "parent": span.parent_span_id.hex(),
                            "attributes": {a.key: a.value.string_value or a.value.int_value
                                           for a in span.attributes}})

    def trace_of(self, order_id: str, name: str) -> list[dict[str, Any]]:
        """The spans of the trace in which the span `name` about `order_id` was."""
        with self.lock:
            ids = {s["trace_id"] for s in self.spans
                   if s["attributes"].get("topup.order_id") == order_id and s["name"] == name}
            return [s for s in self.spans if s["trace_id"] in ids]


@pytest.fixture(scope="module", autouse=True)
def receiver() -> Iterator[Receiver]:
    """Set before the module's system starts: every service exports its spans here."""
    running = Receiver()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", running.url)
        env.setenv("OTEL_BSP_SCHEDULE_DELAY", "100")
        yield running
    running.server.shutdown()


value = metric  # the sum of a metric's samples with these labels


def test_a_completed_top_up_is_counted_and_timed(frontend: Frontend) -> None:
    order_web = frontend.system.url("order")
    before = scrape(order_web)
    who = frontend.register()
    order = frontend.top_up(who, 2500)
    frontend.pay(order)
    frontend.wait_status(who, order["order_id"], "completed")

    def scraped_once_sent() -> Scraped | None:
        now = scrape(order_web)  # the mailer counts once it has recorded the receipt sent
        sent = value(now, "topup_emails_total", kind="receipt", outcome="sent")
        return now if sent > value(before, "topup_emails_total", kind="receipt", outcome="sent") else None

    after = wait_for(scraped_once_sent, what="the receipt counted as sent")

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("topup_topups_total", method="card", ending="completed") == 1
    assert grew("topup_placed_to_ending_seconds_count", ending="completed") == 1
    assert grew("topup_http_requests_total", service="order", method="POST", route="/v1/orders", status="201") == 1
    queue = f"{frontend.system.settings.amqp_namespace}.order.payment_captured"
    assert grew("topup_messages_consumed_total", queue=queue, outcome="handled") == 1
    assert grew("topup_messages_published_total", service="wallet", type="wallet.credited") == 1
    assert grew("topup_emails_total", kind="receipt", outcome="sent") == 1
    # the state, read from each service's database when scraped
    assert value(after, "topup_orders_needing_operator", service="order") == 0
    assert value(after, "topup_refunds", service="payment") == 0
    assert value(after, "topup_outbox_oldest_age_seconds", service="wallet") < 60
    assert value(after, "topup_emails_unsent", kind="receipt") == 0
    assert value(after, "topup_state_read_errors_total") == 0


def test_an_unknown_path_is_counted_under_one_route(frontend: Frontend) -> None:
    url = frontend.system.url("wallet")
    before = scrape(url)
    for n in range(3):
        assert requests.get(f"{url}/no/such/page/{n}", timeout=5).status_code == 404
    after = scrape(url)
    assert value(after, "topup_http_requests_total", service="wallet", route="unmatched", status="404") - value(
        before, "topup_http_requests_total", service="wallet", route="unmatched", status="404") == 3
    assert not any("/no/such/page" in str(labels) for _name, labels in after), "paths never become labels"


def test_one_trace_follows_a_top_up_through_every_service(frontend: Frontend, receiver: Receiver) -> None:
    who = frontend.register()
    order = frontend.top_up(who, 3000)
    frontend.pay(order)
    frontend.wait_status(who, order["order_id"], "completed")
    wait_for(lambda: frontend.mail_for(order["order_id"]), what="the receipt")
    namespace = frontend.system.settings.amqp_namespace

    def whole() -> list[dict[str, Any]] | None:
        spans = receiver.trace_of(order["order_id"], f"{namespace}.order.receipt_issued process")
        return spans if {"POST /v1/orders", "send receipt email"} <= {s["name"] for s in spans} else None

    # (the customer's reads of the order are traces of their own: their client sent no traceparent)
    spans = wait_for(whole, timeout=15, what="the receipt's last message in the trace of the order's placing")
    assert len({s["trace_id"] for s in spans}) == 1, "one trace"
    assert {s["service"] for s in spans} == {"topup-order", "topup-payment", "topup-wallet", "topup-notify"}
    names = {s["name"] for s in spans}
    assert "POST /v1/orders" in names, "it starts where the order is placed"
    assert {f"{namespace}.payment.create_payment process", f"{namespace}.wallet.credit process",
            f"{namespace}.order.credited process", f"{namespace}.notify.send_receipt process",
            "send receipt email"} <= names, names
    assert "sandbox payment.succeeded" in names, "the gateway's notice continues the top-up's trace"
    [root] = [s for s in spans if s["name"] == "POST /v1/orders"]
    assert root["parent"] == "", "placing the order is the root"
