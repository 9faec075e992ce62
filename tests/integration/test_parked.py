"""Parked messages on the real RabbitMQ (deploy/parked.py): listed with their reason, read
without being taken, replayed with a fresh attempt count once the cause is fixed (and then
handled once), discarded with a reason; garbage shown as it is."""

from __future__ import annotations

import io
import threading

import pika
import pytest

from deploy import parked as tool
from deploy.check import parked_line
from services.wallet.models import InboxMessage
from shared.config import Settings
from shared.messaging.envelope import Envelope
from shared.messaging.parking import parked_counts
from shared.service import ServiceContext
from tests.helpers import publish_raw, wait_for
from tests.integration.test_messaging import credit_command, ctx, run_consumer  # noqa: F401 - the fixture

QUEUE = "wallet.credit"


def run(settings: Settings, monkeypatch: pytest.MonkeyPatch, *argv: str) -> tuple[int, str]:
    monkeypatch.setenv("AMQP_URL", settings.amqp_url)
    monkeypatch.setenv("AMQP_NAMESPACE", settings.amqp_namespace)
    out = io.StringIO()
    return tool.main(list(argv), out=out), out.getvalue()


def test_parked_messages_are_listed_replayed_once_fixed_and_discarded(ctx: ServiceContext,  # noqa: F811
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    broken = threading.Event()
    broken.set()
    handled: list[str] = []

    def credit(session: object, msg: Envelope) -> None:
        if broken.is_set():
            raise RuntimeError("the ledger is on fire")
        handled.append(msg.message_id)

    stop, thread = run_consumer(ctx, credit)
    try:
        first, second = credit_command("ord_first"), credit_command("ord_second")
        for message in (first, second):
            publish_raw(ctx.settings.amqp_url, ctx.settings.amqp_namespace, message)
        connection = pika.BlockingConnection(pika.URLParameters(ctx.settings.amqp_url))
        connection.channel().basic_publish(f"{ctx.settings.amqp_namespace}.order", "wallet.credit", b"\xff not json",
                                           pika.BasicProperties(message_id="garbage-1", delivery_mode=2))
        connection.close()
        wait_for(lambda: parked_counts(ctx.settings).get(QUEUE) == 3, timeout=15, what="three messages parked")

        assert parked_line(ctx.settings) == ("parked messages: 3 (wallet.credit 3); see them with `make parked`"), (
            "make check says it too")
        assert parked_counts(ctx.settings) == {"wallet.credit": 3}, "and the operator console"
        code, listing = run(ctx.settings, monkeypatch, "list")
        assert code == 0 and listing.startswith("3 parked message(s)")
        rows = [line for line in listing.splitlines()[1:] if line.startswith(QUEUE)]
        assert len(rows) == 3
        row = next(line for line in rows if first.message_id in line)
        assert "wallet.credit" in row and "ord_first" in row and "the ledger is on fire" in row
        assert " 3 " in row, "its attempts"
        assert any("unreadable" in line for line in rows), "the garbage, with why it was parked"
        assert run(ctx.settings, monkeypatch, "list")[1].startswith("3 parked"), "reading took nothing"

        code, shown = run(ctx.settings, monkeypatch, "show", QUEUE, first.message_id)
        assert code == 0 and '"order_id": "ord_first"' in shown.replace('":"', '": "')

        broken.clear()  # the cause is fixed
        code, said = run(ctx.settings, monkeypatch, "replay", QUEUE, "--id", first.message_id)
        assert code == 0 and said.startswith("replayed 1 message")
        wait_for(lambda: handled == [first.message_id], what="the replayed message handled")
        with ctx.sessions() as session:
            assert session.get(InboxMessage, ("credit", first.message_id)) is not None

        assert any("garbage-1" in line and "unreadable" in line for line in rows)
        code, said = run(ctx.settings, monkeypatch, "discard", QUEUE, "garbage-1", "--reason", "a test's garbage")
        assert code == 0 and said.startswith("discarded")
        code, said = run(ctx.settings, monkeypatch, "replay", QUEUE, "--all")
        assert said.startswith("replayed 1 message")
        wait_for(lambda: handled == [first.message_id, second.message_id], what="the rest replayed")
        assert run(ctx.settings, monkeypatch, "list")[1].startswith("0 parked")
        assert parked_line(ctx.settings) == "parked messages: none"
        assert run(ctx.settings, monkeypatch, "replay", QUEUE, "--all")[0] == 1, "nothing left to replay"
        with pytest.raises(SystemExit):
            run(ctx.settings, monkeypatch, "replay", "wallet.nope", "--all")
    finally:
        stop.set()
        thread.join(5)
