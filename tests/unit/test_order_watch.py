"""Reading a frontend's wish to wait for its order (RFC 7240 Prefer: wait)."""

from __future__ import annotations

import pytest

from services.order.watch import MAX_WAIT_SECONDS, OrderWatch, preferred_wait


@pytest.mark.parametrize(("prefer", "seconds"), [
    ("wait=10", 10),
    ("respond-async, wait=5", 5),
    ("WAIT = 3", 3),
    ('wait="7"', 7),
    ("wait=3600", MAX_WAIT_SECONDS),
    ("wait=-4", 0),
    ("wait=soon", 0),
    ("handling=lenient", 0),
    ("", 0),
    (None, 0),
])
def test_the_wait_preference_is_read_and_bounded(prefer: str | None, seconds: int) -> None:
    assert preferred_wait(prefer) == seconds


def test_waiters_are_woken_by_their_own_order_or_by_a_reconnect_only() -> None:
    watch = OrderWatch("postgresql://nowhere/order", max_waiting=2)
    watch._listen = lambda: None  # type: ignore[method-assign]  # no server here: ring by hand
    with watch.watching("ord_1") as mine, watch.watching("ord_2") as other:
        assert mine is not None and other is not None
        watch._changed("ord_1")
        assert mine.is_set() and not other.is_set()
        watch._changed("")
        assert other.is_set()


def test_only_half_the_threads_may_wait_and_sqlite_never() -> None:
    watch = OrderWatch("postgresql://nowhere/order", max_waiting=1)
    watch._listen = lambda: None  # type: ignore[method-assign]
    with watch.watching("ord_1") as first, watch.watching("ord_2") as second:
        assert first is not None and second is None
    with watch.watching("ord_2") as again:
        assert again is not None, "a slot is free again once the first wait is over"
    with OrderWatch("sqlite:///var/order.db", max_waiting=4).watching("ord_1") as never:
        assert never is None
