"""The saga's transition table: every path of the brief, and the rules that keep it safe."""

import pytest

from services.order.domain.saga import START, TERMINAL, TRANSITIONS, Action, Event, Status, Transition, decide

S, E, A = Status, Event, Action


def run(*events: Event) -> tuple[Status, list[Action]]:
    status, actions = START.to, list(START.actions)
    for event in events:
        transition = decide(status, event)
        if transition is not None:
            status = transition.to
            actions.extend(transition.actions)
    return status, actions


def test_approved_card_top_up_completes_and_announces_a_receipt() -> None:
    status, actions = run(E.PAYMENT_CREATED, E.PAYMENT_CAPTURED, E.CREDITED)
    assert status is S.COMPLETED
    assert actions == [A.CREATE_PAYMENT, A.CREDIT_WALLET, A.ANNOUNCE_COMPLETED], "no round trip to the wallet first"


def test_an_order_placed_when_the_wallet_was_asked_first_still_finishes() -> None:
    assert decide(S.PENDING, E.CREDIT_AUTHORIZED) == Transition(S.PENDING, (A.CREATE_PAYMENT,))
    assert run(E.CREDIT_AUTHORIZED, E.PAYMENT_CREATED, E.PAYMENT_CAPTURED, E.CREDITED)[0] is S.COMPLETED
    assert run(E.CREDIT_REFUSED)[0] is S.FAILED


def test_declined_card_fails_the_order() -> None:
    assert run(E.PAYMENT_CREATED, E.PAYMENT_FAILED)[0] is S.FAILED


def test_credit_refused_after_payment_is_reversed_by_a_refund() -> None:
    status, actions = run(E.PAYMENT_CREATED, E.PAYMENT_CAPTURED, E.CREDIT_FAILED,
                          E.PAYMENT_REFUNDED)
    assert status is S.REFUNDED
    assert actions[-2:] == [A.REFUND_PAYMENT, A.ANNOUNCE_REVERSED]


def test_capture_overtaking_payment_created_still_completes() -> None:
    assert run(E.PAYMENT_CAPTURED, E.PAYMENT_CREATED, E.CREDITED)[0] is S.COMPLETED


def test_duplicate_events_send_nothing_twice() -> None:
    _, actions = run(E.PAYMENT_CREATED, E.PAYMENT_CAPTURED, E.PAYMENT_CAPTURED, E.CREDITED,
                     E.CREDITED)
    assert actions.count(A.CREDIT_WALLET) == 1
    assert actions.count(A.ANNOUNCE_COMPLETED) == 1


def test_payment_after_expiry_is_refunded_and_the_order_stays_expired() -> None:
    status, actions = run(E.PAYMENT_CREATED, E.PAYMENT_DEADLINE_PASSED, E.PAYMENT_CAPTURED)
    assert status is S.EXPIRED
    assert actions[-2:] == [A.CANCEL_PAYMENT, A.REFUND_PAYMENT]


@pytest.mark.parametrize(("status", "event"), [key for key in TRANSITIONS if key[0] in TERMINAL])
def test_a_terminal_status_never_changes(status: Status, event: Event) -> None:
    transition = decide(status, event)
    assert transition is not None and transition.to is status


def test_a_completed_order_cannot_be_refunded_by_a_stray_event() -> None:
    assert decide(S.COMPLETED, E.PAYMENT_REFUNDED) is None
    assert decide(S.COMPLETED, E.CREDIT_FAILED) is None


def test_a_credit_landing_after_a_refund_is_flagged_for_an_operator() -> None:
    transition = decide(S.REFUNDED, E.CREDITED)
    assert transition is not None and transition.to is S.REFUNDED and transition.needs_operator
    assert not any(t.needs_operator for key, t in TRANSITIONS.items() if key != (S.REFUNDED, E.CREDITED))
