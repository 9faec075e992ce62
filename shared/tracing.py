"""OpenTelemetry traces: one trace per top-up, from `POST /v1/orders` through every message
it causes, the gateway's webhook, the credit and the receipt.

- A web request continues the caller's trace (a `traceparent` header) or starts one
  (`request_span`); a consumed message continues the trace of the message that caused it
  (`consuming`): every envelope carries the W3C `traceparent` of the span that created it in
  its `headers` (shared/messaging/envelope.py), and so every message the handler sends
  continues the trace.
- Exported over OTLP (HTTP/protobuf) when OTEL_EXPORTER_OTLP_ENDPOINT (or
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set, with the SDK's own variables for the rest
  (OTEL_TRACES_SAMPLER, OTEL_RESOURCE_ATTRIBUTES, ...). Otherwise nothing is recorded or
  sent: spans are not sampled, and only their ids are made and carried, which costs a few
  microseconds per request or message, so that every log line still names its trace.
- Every log line carries `trace_id` (shared/logging.py: `add_trace_ids`), and the order's id
  where there is one: the consumer binds the message's, a request its path's.

One tracer provider per service (`service.name` = `topup-<service>`), so the embedded run,
every service in one process, still shows four services in the trace view.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import structlog
from opentelemetry import context, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

PROPAGATOR = TraceContextTextMapPropagator()
#: (service, where its spans go) -> its provider
_providers: dict[tuple[str, str | None], TracerProvider] = {}
_lock = threading.Lock()


def endpoint() -> str | None:
    """Where spans are exported; None: nowhere (read each time: a test may set it)."""
    return os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")


def provider(service: str) -> TracerProvider:
    """The service's tracer provider, made once per process (and per endpoint)."""
    key = (service, endpoint())
    found = _providers.get(key)
    if found is not None:
        return found
    with _lock:
        if key not in _providers:
            _providers[key] = _new_provider(service, key[1])
        return _providers[key]


def _new_provider(service: str, exported_to: str | None) -> TracerProvider:
    resource = Resource.create({"service.name": f"topup-{service}", "service.namespace": "topup"})
    if exported_to is None:
        return TracerProvider(resource=resource, sampler=ALWAYS_OFF)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # only when exporting

    made = TracerProvider(resource=resource)  # the sampler from OTEL_TRACES_SAMPLER (parent-based by default)
    made.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return made


def tracer(service: str) -> trace.Tracer:
    return provider(service).get_tracer("topup")


def flush(service: str) -> None:
    """Send what the service's spans are waiting to send (a process about to stop)."""
    found = _providers.get((service, endpoint()))
    if found is not None:
        found.force_flush(timeout_millis=5000)


def headers() -> dict[str, str]:
    """The current span's W3C `traceparent`, for an envelope's headers (empty outside any span)."""
    carrier: dict[str, str] = {}
    PROPAGATOR.inject(carrier)
    return carrier


def trace_ids() -> tuple[str, str] | None:
    """(trace id, span id) of the current span, in the W3C hex form; None outside any."""
    span_context = trace.get_current_span().get_span_context()
    if not span_context.is_valid:
        return None
    return format(span_context.trace_id, "032x"), format(span_context.span_id, "016x")


@contextmanager
def consuming(service: str, queue: str, message_type: str, message_id: str, carried: Mapping[str, str],
              order_id: str | None) -> Iterator[Span]:
    """A consumed message's span, continuing the trace its envelope carries, current while
    its handler runs; the log lines meanwhile name the order."""
    parent = PROPAGATOR.extract(dict(carried)) if carried else None
    attributes = {"messaging.system": "rabbitmq", "messaging.destination.name": queue,
                  "messaging.message.id": message_id, "messaging.message.type": message_type}
    if order_id:
        attributes["topup.order_id"] = order_id
    with tracer(service).start_as_current_span(f"{queue} process", context=parent, kind=SpanKind.CONSUMER,
                                               attributes=attributes, record_exception=False,
                                               set_status_on_exception=False) as span:
        if order_id:
            with structlog.contextvars.bound_contextvars(order_id=order_id):
                yield span
        else:
            yield span


@contextmanager
def resumed(service: str, traceparent: str | None, name: str, order_id: str | None) -> Iterator[Span]:
    """A span in the trace a stored `traceparent` names (a payment's, for its gateway's
    webhook), linked to the span that is current (the webhook's request); current while
    the work it names runs, so the messages it sends continue that trace."""
    here = trace.get_current_span().get_span_context()
    links = [trace.Link(here)] if here.is_valid else []
    parent = PROPAGATOR.extract({"traceparent": traceparent}) if traceparent else None
    with tracer(service).start_as_current_span(name, context=parent, links=links, record_exception=False,
                                               set_status_on_exception=False,
                                               attributes={"topup.order_id": order_id} if order_id else None) as span:
        if order_id:
            with structlog.contextvars.bound_contextvars(order_id=order_id):
                yield span
        else:
            yield span


class RequestSpan:
    """A web request's span, begun before the view and ended after the answer
    (shared/web.py), with the caller's trace continued if it sent a `traceparent`."""

    def __init__(self, service: str, method: str, route: str, incoming: Mapping[str, str],
                 order_id: str | None) -> None:
        parent = PROPAGATOR.extract(dict(incoming)) if incoming else None
        attributes: dict[str, Any] = {"http.request.method": method, "http.route": route}
        if order_id:
            attributes["topup.order_id"] = order_id
        self.span = tracer(service).start_span(f"{method} {route}", context=parent, kind=SpanKind.SERVER,
                                               attributes=attributes)
        self._token = context.attach(trace.set_span_in_context(self.span))
        self._bound = structlog.contextvars.bind_contextvars(order_id=order_id) if order_id else None

    def end(self, status: int | None) -> None:
        if status is not None:
            self.span.set_attribute("http.response.status_code", status)
            if status >= 500:
                self.span.set_status(Status(StatusCode.ERROR))
        self.span.end()
        context.detach(self._token)
        if self._bound is not None:
            structlog.contextvars.reset_contextvars(**self._bound)
