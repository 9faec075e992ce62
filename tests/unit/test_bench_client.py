"""The bench's load generator never stops at a bad answer: it counts it, by status, and the
top-up that met it as given up (deploy/bench_client.py), against a server that refuses."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest
import requests
from flask import Flask, Response
from werkzeug.serving import make_server

from deploy.bench_client import Customer, Driver, route
from deploy.infra import free_port

ANSWERS: dict[str, Callable[[], Response]] = {
    "problem": lambda: Response('{"code": "quote_expired", "message": "..."}', 422,
                                content_type="application/problem+json"),
    "html": lambda: Response("<html>oops</html>", 200, content_type="text/html"),
    "list": lambda: Response("[]", 201, content_type="application/json"),
    "busy": lambda: Response("", 503, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}),
}


@pytest.fixture
def server() -> Iterator[tuple[str, dict[str, str]]]:
    """An order API whose quotes answer as `mode["quote"]` says."""
    mode = {"quote": "problem"}
    app = Flask(__name__)

    @app.post("/v1/quotes")
    def quote() -> Response:
        return ANSWERS[mode["quote"]]()

    port = free_port()
    http = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}", mode
    http.shutdown()


@pytest.mark.parametrize(("answer", "reason", "statuses"), [
    ("problem", "422 quote_expired on POST /v1/quotes", {422: 1}),
    ("html", "200 without a JSON object on POST /v1/quotes", {200: 1}),
    ("list", "201 without a JSON object on POST /v1/quotes", {201: 1}),
    ("busy", "503 text/html on POST /v1/quotes", {503: 5}),  # asked again 5 times, a second apart
])
def test_a_top_up_that_meets_a_bad_answer_is_counted_and_given_up(
        server: tuple[str, dict[str, str]], answer: str, reason: str, statuses: dict[int, int],
        monkeypatch: pytest.MonkeyPatch) -> None:
    url, mode = server
    mode["quote"] = answer
    monkeypatch.setattr("deploy.bench_client.time.sleep", lambda _: None)
    driver = Driver(url, poll_seconds=0.01, long_poll=True)
    assert driver.top_up(Customer({}, "EUR"), "card_approved") is None
    assert dict(driver.errors) == {reason: 1}
    assert dict(driver.statuses) == statuses and driver.requests_made() == sum(statuses.values())


def test_nobody_answering_is_counted_too() -> None:
    driver = Driver(f"http://127.0.0.1:{free_port()}", poll_seconds=0.01, long_poll=True)
    assert driver.top_up(Customer({}, "EUR"), "card_approved") is None
    assert dict(driver.unanswered) == {"ConnectionError": 1}
    assert list(driver.errors) == ["ConnectionError on POST /v1/quotes"]


def test_routes_leave_ids_out() -> None:
    request = type("R", (), {"method": "GET", "path_url": "/v1/orders/7b0c5c1e-0f7a-4a43-9d3b-6a1c2e9f0d11?x=1"})
    assert route(type("A", (), {"request": request})()) == "GET /v1/orders/{id}"  # type: ignore[arg-type]


def test_a_frontend_that_tries_again_asks_again_only_what_is_safe_to_repeat(monkeypatch: pytest.MonkeyPatch) -> None:
    """The chaos run's frontends: a restarting process refuses connections for a moment."""
    monkeypatch.setattr("deploy.bench_client.time.sleep", lambda _: None)
    driver = Driver(f"http://127.0.0.1:{free_port()}", poll_seconds=0.01, long_poll=True, unanswered_tries=3)
    assert driver.top_up(Customer({}, "EUR"), "card_approved") is None
    assert dict(driver.unanswered) == {"ConnectionError": 3}, "the quote asked three times"
    with pytest.raises(requests.ConnectionError):
        driver.send("POST", f"{driver.order_url}/v1/orders/ord_1/cancel")
    assert dict(driver.unanswered) == {"ConnectionError": 4}, "a write without a key: once"
    with pytest.raises(requests.ConnectionError):
        driver.send("POST", f"{driver.order_url}/v1/orders", headers={"Idempotency-Key": "k"})
    assert dict(driver.unanswered) == {"ConnectionError": 7}, "with its key: three times"
