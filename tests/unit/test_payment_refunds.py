"""Refund retries, the payment service's own settings, and reading the sandbox API's answers:
no I/O."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.payment.connectors.sandbox import event_from
from services.payment.domain.errors import GatewayError, GatewayRefused, GatewayTimeout
from services.payment.domain.gateway import GatewayEventKind, query_event_id
from services.payment.domain.payment import Payment, PaymentStatus
from services.payment.domain.refund import RefundCommand, RefundPolicy, RefundStatus, on_command
from services.payment.settings import PaymentSettings
from shared.config import Settings
from shared.money import Money

PAYMENT = Payment("pay_1", "ord_1", "cus_1", Money(1250, "EUR"), "card", PaymentStatus.CREATED, "cs_1")


# -- refunds -------------------------------------------------------------------------------
def test_refund_attempts_back_off_then_give_up() -> None:
    policy = RefundPolicy(max_attempts=5, base_seconds=1.0)
    assert [policy.retry_in(n) for n in range(1, 6)] == [1.0, 2.0, 4.0, 8.0, None]


def test_refund_backoff_is_capped_at_five_minutes() -> None:
    policy = RefundPolicy(max_attempts=20, base_seconds=10.0)
    assert policy.retry_in(10) == 300.0


@pytest.mark.parametrize(("current", "command"), [
    (None, RefundCommand.START),
    (RefundStatus.PENDING, RefundCommand.IN_PROGRESS),  # a duplicate: never a second refund
    (RefundStatus.FAILED, RefundCommand.RESTART),  # an operator's retry: a fresh series
    (RefundStatus.SUCCEEDED, RefundCommand.RESTART),
])
def test_what_a_refund_command_does(current: RefundStatus | None, command: RefundCommand) -> None:
    assert on_command(current) is command


def test_gateway_errors_carry_the_gateways_code() -> None:
    assert GatewayRefused("no", "refund_declined").code == "refund_declined"
    assert GatewayRefused("no").code == "gateway_refused"
    assert GatewayTimeout("slow").code == "gateway_timeout"
    assert isinstance(GatewayTimeout("slow"), GatewayError)


# -- settings ------------------------------------------------------------------------------
def test_payment_settings_come_from_the_environment_with_the_others() -> None:
    assert PaymentSettings.from_settings(Settings.from_env({})) == PaymentSettings(5, 60.0, 5.0, 3)
    env = {"REFUND_MAX_ATTEMPTS": "3", "PAYMENT_QUERY_AFTER": "1.5", "PAYMENT_QUERY_EVERY": "0.5",
           "PAYMENT_ATTEMPTS": "2", "SANDBOX_API_URL": "http://sandbox-web:8000/", "GATEWAY_TIMEOUT": "2.5",
           "GATEWAY_ATTEMPTS": "4"}
    settings = Settings.from_env(env)
    assert PaymentSettings.from_settings(settings) == PaymentSettings(3, 1.5, 0.5, 2)
    assert (settings.sandbox_api, settings.gateway_timeout_seconds, settings.gateway_attempts) == (
        "http://sandbox-web:8000", 2.5, 4)
    defaults = Settings.from_env({})
    assert (defaults.gateway_timeout_seconds, defaults.gateway_attempts) == (10.0, 3)


def test_the_sandbox_api_is_where_browsers_reach_the_sandbox_unless_told_otherwise() -> None:
    settings = Settings.from_env({"SANDBOX_PUBLIC_URL": "http://localhost:8005/",
                                  "SANDBOX_WEBHOOK_URL": "http://payment-web:8000/v1/webhooks/sandbox",
                                  "PAYMENT_PUBLIC_URL": "http://localhost:8002"})
    assert settings.sandbox_api == "http://localhost:8005", "not the payment service's host any more"
    assert settings.with_changes(sandbox_api_url="http://x:1/").sandbox_api == "http://x:1"
    unset = Settings.from_env({"HOST": "10.0.0.7", "SANDBOX_PORT": "9005"})
    assert unset.sandbox_public == unset.sandbox_api == "http://10.0.0.7:9005"
    assert Settings.from_env({}).sandbox_api == "http://127.0.0.1:8005"


# -- the sandbox API -----------------------------------------------------------------------
def api_key(webhook_secret: str) -> str:
    return Settings.from_env({"WEBHOOK_SECRET": webhook_secret}).sandbox_api_key


def test_the_sandbox_api_key_is_stable_and_not_the_webhook_secret() -> None:
    assert api_key("s3cret") == api_key("s3cret")
    assert api_key("s3cret") != api_key("other") and "s3cret" not in api_key("s3cret")
    assert api_key("s3cret").startswith("sk_sandbox_")


def session(status: str, **changes: object) -> dict[str, object]:
    data: dict[str, object] = {
        "id": "cs_1", "status": status, "payment_reference": "pay_1", "amount": 1250, "currency": "EUR",
        "card": {"brand": "visa", "last4": "0077"}, "failure_code": None, "updated": 1764000000}
    return {**data, **changes}


def test_an_approved_session_reads_as_the_capture_webhook_would() -> None:
    event = event_from(PAYMENT, session("approved"))
    assert event is not None
    assert (event.kind, event.event_id) == (GatewayEventKind.PAYMENT_SUCCEEDED, "query:pay_1:payment.succeeded")
    assert (event.payment_id, event.gateway_ref, event.amount) == ("pay_1", "cs_1", Money(1250, "EUR"))
    assert event.card is not None and event.card.last4 == "0077"
    assert event.occurred_at == datetime.fromtimestamp(1764000000, UTC)


def test_a_declined_session_reads_as_a_failure_with_its_code() -> None:
    event = event_from(PAYMENT, session("declined", failure_code="card_declined", card=None))
    assert event is not None and event.kind is GatewayEventKind.PAYMENT_FAILED
    assert event.failure_code == "card_declined" and event.event_id == query_event_id("pay_1", event.kind)


def test_a_declined_try_of_a_session_still_open_reads_as_that_try() -> None:
    event = event_from(PAYMENT, session("open", attempts_failed=2, failure_code="insufficient_funds", card=None))
    assert event is not None and event.kind is GatewayEventKind.PAYMENT_ATTEMPT_FAILED
    assert (event.attempt, event.failure_code) == (2, "insufficient_funds")
    assert event.event_id == query_event_id("pay_1", event.kind, 2) == "query:pay_1:attempt:2"


@pytest.mark.parametrize("status", ["open", "cancelled"])
def test_an_unfinished_or_merchant_cancelled_session_says_nothing(status: str) -> None:
    assert event_from(PAYMENT, session(status)) is None


def test_an_unreadable_answer_is_a_gateway_error() -> None:
    with pytest.raises(GatewayError):
        event_from(PAYMENT, session("approved", amount="12.50"))
