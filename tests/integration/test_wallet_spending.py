"""The balance's life in the wallet, on real PostgreSQL and RabbitMQ: the eSIM platform's
debits and their reversals, credits that expire (durably, with a debit racing them),
reminders, and every change announced once, in version order."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
import requests
from sqlalchemy import func, select

from services.wallet import app as wallet_app
from services.wallet.credits import CreditSweeper
from services.wallet.models import (
    AccountRow,
    CreditLotRow,
    DebitAllocationRow,
    DebitRow,
    JournalEntryRow,
    OutboxMessage,
    PostingRow,
)
from shared.clock import utcnow
from shared.config import Settings
from shared.messaging.envelope import Envelope
from shared.messaging.worker import Worker, declare_topology
from shared.service import ServiceContext
from tests.helpers import ServedApp, publish_raw, wait_for

PLATFORM = {"Authorization": "Bearer dev-platform-token"}


class Wallet:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.ctx = wallet_app.start(settings)
        declare_topology(settings)
        self.worker: Worker | None = None
        self.start_worker()
        self.served = ServedApp(wallet_app.create_app(ctx=self.ctx))
        self.http = requests.Session()

    def start_worker(self) -> None:
        self.worker = wallet_app.create_worker(ctx=self.ctx)
        self.worker.start()

    def stop_worker(self) -> None:
        if self.worker is not None:
            self.worker.stop()
            self.worker = None

    def close(self) -> None:
        self.stop_worker()
        self.served.stop()
        self.ctx.engine.dispose()

    # -- what the other services send ---------------------------------------------------
    def send(self, message_type: str, payload: dict[str, Any]) -> None:
        publish_raw(self.settings.amqp_url, self.settings.amqp_namespace, Envelope.new(message_type, payload))

    def customer(self, threshold: int | None = None, reminders: bool = True) -> str:
        customer_id = f"cus_{uuid.uuid4().hex[:8]}"
        self.send("customer.registered", {"customer_id": customer_id, "email": "li@example.com", "country": "DE",
                                          "currency": "EUR", "language": "zh-CN", "time_zone": "Europe/Berlin",
                                          "low_balance_threshold": threshold, "reminders": reminders})
        wait_for(lambda: self.account(customer_id), what="the account opened")
        return customer_id

    def credit(self, customer_id: str, amount: int, valid_for: timedelta = timedelta(days=365)) -> str:
        order_id = f"ord_{uuid.uuid4().hex[:8]}"
        self.send("wallet.credit", {"order_id": order_id, "customer_id": customer_id, "amount": amount,
                                    "charge_amount": amount, "currency": "EUR", "valid_until": utcnow() + valid_for})
        wait_for(lambda: self.sent("wallet.credited", order_id=order_id), what=f"{order_id} credited")
        return order_id

    # -- the platform's API ---------------------------------------------------------------
    def debit(self, customer_id: str, amount: int, key: str | None = None, currency: str = "EUR",
              **headers: str) -> requests.Response:
        return self.http.post(f"{self.served.url}/v1/accounts/{customer_id}/debits",
                              headers={**PLATFORM, "Idempotency-Key": key or uuid.uuid4().hex, **headers},
                              json={"amount": amount, "currency": currency, "reference": "plan-jp-7d",
                                    "description": "Japan 7 days, 5 GB"})

    def reverse(self, customer_id: str, debit_id: str) -> requests.Response:
        return self.http.post(f"{self.served.url}/v1/accounts/{customer_id}/debits/{debit_id}/reversal",
                              headers=PLATFORM)

    # -- what the wallet holds and says ---------------------------------------------------
    def account(self, customer_id: str) -> AccountRow | None:
        with self.ctx.sessions() as s:
            return s.get(AccountRow, customer_id)

    def balance(self, customer_id: str) -> int:
        row = self.account(customer_id)
        assert row is not None
        return row.balance_minor

    def lots(self, customer_id: str) -> list[CreditLotRow]:
        with self.ctx.sessions() as s:
            return list(s.scalars(select(CreditLotRow).where(CreditLotRow.customer_id == customer_id)
                                  .order_by(CreditLotRow.expires_at)))

    def entries(self, customer_id: str, kind: str | None = None) -> list[JournalEntryRow]:
        with self.ctx.sessions() as s:
            query = select(JournalEntryRow).where(JournalEntryRow.customer_id == customer_id)
            if kind:
                query = query.where(JournalEntryRow.kind == kind)
            return list(s.scalars(query.order_by(JournalEntryRow.account_version)))

    def sent(self, message_type: str, **match: Any) -> list[dict[str, Any]]:
        with self.ctx.sessions() as s:
            rows = s.scalars(select(OutboxMessage).where(OutboxMessage.type == message_type).order_by(OutboxMessage.id))
            payloads = [Envelope.from_json(r.body).payload for r in rows]
        return [p for p in payloads if all(p.get(k) == v for k, v in match.items())]

    def versions(self, customer_id: str) -> list[tuple[int, int, str | None]]:
        """Every announced version of the account: (version, balance, entry kind)."""
        states = [p for p in self.sent("wallet.account_updated", customer_id=customer_id)]
        states += [p["account"] for p in self.sent("wallet.credited", customer_id=customer_id) if p["account"]]
        return sorted((s["version"], s["balance"], (s["entry"] or {}).get("kind")) for s in states)

    def ledger_sums_to_zero(self) -> bool:
        with self.ctx.sessions() as s:
            return s.scalar(select(func.sum(PostingRow.amount_minor))) == 0


@pytest.fixture
def wallet(pg_settings: Settings) -> Iterator[Wallet]:
    running = Wallet(pg_settings.with_changes(expiry_reminder_before=timedelta(seconds=2)))
    yield running
    running.close()


def test_a_debit_is_answered_at_once_and_the_same_key_is_the_same_debit(wallet: Wallet) -> None:
    customer = wallet.customer()
    wallet.credit(customer, 5000)
    first = wallet.debit(customer, 1200, key="plan-1")
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["debit_id"].startswith("dbt_") and body["balance"] == {"amount": 3800, "currency": "EUR"}
    assert (body["customer_id"], body["amount"], body["currency"], body["reference"]) == (customer, 1200, "EUR",
                                                                                           "plan-jp-7d")
    again = wallet.debit(customer, 1200, key="plan-1")
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true" and again.json() == body
    reused = wallet.debit(customer, 1300, key="plan-1")
    assert reused.status_code == 422 and reused.json()["code"] == "idempotency_key_reused"
    assert wallet.balance(customer) == 3800 and len(wallet.entries(customer, "debit")) == 1


def test_a_refused_debit_debits_nothing_and_says_why_in_the_callers_language(wallet: Wallet) -> None:
    customer = wallet.customer()
    wallet.credit(customer, 1000)
    poor = wallet.debit(customer, 1001, **{"Accept-Language": "zh-CN"})
    assert poor.status_code == 409 and poor.headers["Content-Type"] == "application/problem+json"
    assert poor.json()["code"] == "insufficient_funds" and poor.json()["title"] == "余额不足。"
    wrong = wallet.debit(customer, 100, currency="USD")
    assert wrong.status_code == 422 and wrong.json()["code"] == "currency_mismatch"
    assert wallet.debit("cus_nobody", 100).json()["code"] == "account_not_found"
    keyless = wallet.http.post(f"{wallet.served.url}/v1/accounts/{customer}/debits", headers=PLATFORM,
                               json={"amount": 1, "currency": "EUR", "reference": "r", "description": "d"})
    assert keyless.status_code == 400 and keyless.json()["code"] == "idempotency_key_required"
    operator = wallet.http.post(f"{wallet.served.url}/v1/accounts/{customer}/debits",
                                headers={"Authorization": "Bearer dev-operator-token", "Idempotency-Key": "k"},
                                json={"amount": 1, "currency": "EUR", "reference": "r", "description": "d"})
    assert operator.status_code == 401, "the platform has its own secret; the operator's is not it"
    bad = wallet.debit(customer, 0)
    assert bad.status_code == 422 and bad.json()["code"] == "validation_failed"
    wallet.http.post(f"{wallet.served.url}/v1/accounts/{customer}/freeze",
                     headers={"Authorization": "Bearer dev-operator-token"}, json={"reason": "suspected_fraud"})
    frozen = wallet.debit(customer, 100)
    assert frozen.status_code == 403 and frozen.json()["code"] == "account_frozen"
    assert wallet.balance(customer) == 1000 and wallet.entries(customer, "debit") == []


def test_many_debits_at_once_never_overdraw_an_account(wallet: Wallet) -> None:
    customer = wallet.customer()
    wallet.credit(customer, 3000)
    wallet.credit(customer, 2000, valid_for=timedelta(days=30))
    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(lambda _: wallet.debit(customer, 700), range(24)))
    taken = [a for a in answers if a.status_code == 201]
    assert len(taken) == 7 and all(a.status_code == 409 for a in answers if a.status_code != 201)
    assert sorted(a.json()["balance"]["amount"] for a in taken) == [100 + 700 * i for i in range(7)]
    assert wallet.balance(customer) == 100 and wallet.ledger_sums_to_zero()
    soon, late = wallet.lots(customer)
    assert (soon.remaining_minor, late.remaining_minor) == (0, 100), "the credit that expires first went first"
    assert [v for v, _, _ in wallet.versions(customer)] == list(range(1, 11)), "every version announced once"


def test_a_reversal_gives_the_debit_back_once_to_the_credits_it_came_from(wallet: Wallet) -> None:
    customer = wallet.customer()
    wallet.credit(customer, 1000, valid_for=timedelta(days=10))
    wallet.credit(customer, 1000, valid_for=timedelta(days=300))
    debit = wallet.debit(customer, 1500).json()
    soon, late = wallet.lots(customer)
    assert (soon.remaining_minor, late.remaining_minor) == (0, 500)
    back = wallet.reverse(customer, debit["debit_id"])
    assert back.status_code == 201 and back.json()["balance"]["amount"] == 2000 and back.json()["reversed_at"]
    again = wallet.reverse(customer, debit["debit_id"])
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    soon_after, late_after = wallet.lots(customer)
    assert (soon_after.remaining_minor, late_after.remaining_minor) == (1000, 1000)
    assert soon_after.expires_at == soon.expires_at, "the credit keeps its original expiry"
    assert wallet.balance(customer) == 2000 and len(wallet.entries(customer, "debit_reversal")) == 1
    assert wallet.reverse(customer, "dbt_nope").json()["code"] == "debit_not_found"


def test_money_given_back_to_a_credit_that_has_expired_expires_again_at_once(wallet: Wallet) -> None:
    customer = wallet.customer()
    wallet.credit(customer, 1000, valid_for=timedelta(seconds=2))
    debit = wallet.debit(customer, 400).json()
    wait_for(lambda: wallet.entries(customer, "expiry"), timeout=10, what="the rest expired")
    assert wallet.balance(customer) == 0
    wallet.reverse(customer, debit["debit_id"])
    kinds = [e.kind for e in wallet.entries(customer)]
    assert kinds == ["topup", "debit", "expiry", "debit_reversal", "expiry"]
    assert wallet.balance(customer) == 0 and wallet.ledger_sums_to_zero()


def test_a_credit_expires_once_and_its_owner_is_reminded_and_told(wallet: Wallet) -> None:
    customer = wallet.customer()
    order_id = wallet.credit(customer, 1500, valid_for=timedelta(seconds=4))
    [reminder] = wait_for(lambda: wallet.sent("wallet.credit_expiring", customer_id=customer), timeout=10,
                          what="the expiry reminder")
    assert reminder["amount"] == 1500 and reminder["order_id"] == order_id
    [expired] = wait_for(lambda: wallet.sent("wallet.credit_expired", customer_id=customer), timeout=10,
                         what="the expiry")
    assert (expired["amount"], expired["balance_after"]) == (1500, 0)
    [entry] = wallet.entries(customer, "expiry")
    assert wallet.balance(customer) == 0 and wallet.lots(customer)[0].remaining_minor == 0
    with wallet.ctx.sessions() as s:
        legs = {p.account: p.amount_minor for p in s.scalars(select(PostingRow).where(PostingRow.entry_id == entry.id))}
    assert legs == {f"customer:{customer}": -1500, "expired:EUR": 1500}
    assert wallet.versions(customer)[-1] == (3, 0, "expiry")
    assert len(wallet.sent("wallet.credit_expiring", customer_id=customer)) == 1


def test_expiry_survives_a_worker_restart_and_is_booked_exactly_once(wallet: Wallet) -> None:
    customer = wallet.customer()
    wallet.credit(customer, 800, valid_for=timedelta(seconds=2))
    wallet.stop_worker()
    wait_for(lambda: utcnow() > wallet.lots(customer)[0].expires_at + timedelta(seconds=1), what="its expiry passed")
    assert wallet.entries(customer, "expiry") == [], "nobody was there to book it"
    wallet.start_worker()
    wait_for(lambda: wallet.entries(customer, "expiry"), timeout=10, what="the expiry, after the restart")
    wallet.stop_worker()
    wallet.start_worker()
    sweeper = CreditSweeper(wallet.ctx.sessions)
    assert sweeper.sweep() == 0 and sweeper.sweep(utcnow() + timedelta(days=1)) == 0
    assert len(wallet.entries(customer, "expiry")) == 1 and wallet.balance(customer) == 0


def test_a_debit_racing_an_expiry_never_spends_expired_money(wallet: Wallet) -> None:
    """Debits keep coming while a credit reaches its end: none takes money from it at or
    after that moment, whoever (the sweep or a debit) books its expiry, and every cent is
    spent, expired or still there. The pace leaves money on the credit when it ends."""
    customer = wallet.customer()
    wallet.credit(customer, 5000, valid_for=timedelta(seconds=3))
    wallet.credit(customer, 600, valid_for=timedelta(days=30))
    ending, lasting = wallet.lots(customer)

    def debit_until_after_the_end(_: int) -> list[int]:
        codes = []
        while utcnow() < ending.expires_at + timedelta(seconds=1):
            codes.append(wallet.debit(customer, 100).status_code)
            time.sleep(0.25)
        return codes

    with ThreadPoolExecutor(max_workers=4) as pool:
        codes = [c for part in pool.map(debit_until_after_the_end, range(4)) for c in part]
    with wallet.ctx.sessions() as s:
        parts = s.execute(select(DebitRow.created_at, DebitAllocationRow.lot_id, DebitAllocationRow.amount_minor)
                          .join(DebitAllocationRow, DebitAllocationRow.debit_id == DebitRow.id)
                          .where(DebitRow.customer_id == customer)).all()
    assert not [p for p in parts if p.lot_id == ending.id and p.created_at >= ending.expires_at], \
        "nothing was taken from the credit at or after its end"
    from_ending = sum(p.amount_minor for p in parts if p.lot_id == ending.id)
    [expiry] = wallet.entries(customer, "expiry")
    rest = 5000 - from_ending
    assert rest > 0, "the pace left money on the credit when it ended"
    with wallet.ctx.sessions() as s:
        expired = s.scalar(select(PostingRow.amount_minor).where(PostingRow.entry_id == expiry.id,
                                                                 PostingRow.account == "expired:EUR"))
    assert expired == rest, "the expiry booked exactly what was left of the credit"
    spent = sum(p.amount_minor for p in parts)
    left = wallet.lots(customer)[1].remaining_minor
    assert spent + expired + left == 5600 and wallet.balance(customer) == left, "every cent accounted for"
    assert codes.count(201) * 100 == spent and 409 in codes, "the valid credit ran out too"
    assert wallet.ledger_sums_to_zero() and lasting.id == wallet.lots(customer)[1].id


def test_a_low_balance_is_reminded_once_per_crossing_and_only_when_wanted(wallet: Wallet) -> None:
    customer = wallet.customer(threshold=1000)
    wallet.credit(customer, 3000)
    wallet.debit(customer, 1500)   # 3000 -> 1500: above the threshold
    wallet.debit(customer, 600)    # 1500 -> 900: crossed
    wallet.debit(customer, 100)    # 900 -> 800: still below, no second reminder
    wallet.credit(customer, 1000)  # 800 -> 1800: back above
    wallet.debit(customer, 1000)   # 1800 -> 800: crossed again
    reminders = wait_for(lambda: len(r := wallet.sent("wallet.balance_low", customer_id=customer)) == 2 and r,
                         what="two reminders")
    assert [(r["balance"], r["threshold"]) for r in reminders] == [(900, 1000), (800, 1000)]
    quiet = wallet.customer(threshold=1000, reminders=False)
    wallet.credit(quiet, 2000)
    wallet.debit(quiet, 1500)
    assert wallet.sent("wallet.balance_low", customer_id=quiet) == []


def test_a_changed_threshold_counts_from_its_own_version_on(wallet: Wallet) -> None:
    customer = wallet.customer()
    update = {"customer_id": customer, "email": "li@example.com", "country": "DE", "currency": "EUR",
              "language": "en", "time_zone": "Europe/Berlin", "reminders": True}
    wallet.send("customer.updated", {**update, "low_balance_threshold": 2500, "version": 3})
    wallet.send("customer.updated", {**update, "low_balance_threshold": 100, "version": 2})  # late, older
    wait_for(lambda: (a := wallet.account(customer)) is not None and a.profile_version == 3, what="the update")
    assert wallet.account(customer).low_balance_threshold_minor == 2500  # type: ignore[union-attr]


def test_a_refused_credit_stays_refused_whatever_the_balance_becomes(wallet: Wallet) -> None:
    customer = wallet.customer()
    wallet.credit(customer, 190_000)
    command = {"order_id": "ord_big", "customer_id": customer, "amount": 20_000, "charge_amount": 20_000,
               "currency": "EUR", "valid_until": utcnow() + timedelta(days=30)}
    wallet.send("wallet.credit", command)
    [refused] = wait_for(lambda: wallet.sent("wallet.credit_failed", order_id="ord_big"), what="the refusal")
    assert refused["reason"] == "balance_cap_exceeded"
    assert wallet.debit(customer, 100_000).status_code == 201  # now the credit would fit
    wallet.send("wallet.credit", command)  # the same command again, under a new message id
    wait_for(lambda: len(wallet.sent("wallet.credit_failed", order_id="ord_big")) == 2, what="the refusal again")
    assert "ord_big" not in [e.order_id for e in wallet.entries(customer, "topup")]
    assert wallet.balance(customer) == 90_000, "its payment was refunded: it is never credited"


def test_a_credit_whose_confirmed_end_has_passed_gets_its_whole_validity(wallet: Wallet) -> None:
    customer = wallet.customer()
    order_id = f"ord_{uuid.uuid4().hex[:8]}"
    wallet.send("wallet.credit", {"order_id": order_id, "customer_id": customer, "amount": 500,
                                  "charge_amount": 500, "currency": "EUR", "valid_until": utcnow() - timedelta(1)})
    [credited] = wait_for(lambda: wallet.sent("wallet.credited", order_id=order_id), what="the credit")
    [lot] = wallet.lots(customer)
    assert lot.expires_at > utcnow() + timedelta(days=364), "CREDIT_VALIDITY from now, not already over"
    assert credited["valid_until"] == lot.expires_at, "the order learns the end the wallet booked"


def test_only_the_platform_with_its_token_gets_in_before_anything_is_read(wallet: Wallet) -> None:
    customer = wallet.customer()
    url = f"{wallet.served.url}/v1/accounts/{customer}/debits"
    nobody = wallet.http.post(url, json={"amount": "lots"})
    assert nobody.status_code == 401 and nobody.json()["code"] == "unauthorized"
    ctx = wallet.ctx
    locked = wallet_app.create_app(ctx=ServiceContext(ctx.name, ctx.settings.with_changes(platform_token=""),
                                                      ctx.engine, ctx.sessions)).test_client()
    empty = locked.post(f"/v1/accounts/{customer}/debits", headers={"Authorization": "Bearer ",
                                                                     "Idempotency-Key": "k"},
                        json={"amount": 1, "currency": "EUR", "reference": "r", "description": "d"})
    assert empty.status_code == 401, "an empty secret lets nobody in"
