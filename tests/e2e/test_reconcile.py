"""Reconciliation on both backends (issue 13's settlement report, over the sandbox's API as
it stands today): each provider's report of today, in its own format, against our payments,
through the operator API and `make reconcile`. A day of completed, refunded and failed
top-ups is clean; a payment we failed while the provider took the money is told in words."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import text

from deploy import reconcile as make_reconcile
from tests.e2e.frontend import Frontend, decide
from tests.helpers import wait_for

CHECK_AT_END = False  # the last scenario makes our records disagree with the provider's on purpose
TODAY = datetime.now(UTC).date().isoformat()


def reconciled(frontend: Frontend, provider: str, day: str = TODAY) -> Any:
    answer = frontend.operator("payment", "GET", f"/v1/reconciliations/{provider}/{day}")
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_a_day_of_top_ups_refunds_and_failures_is_clean(frontend: Frontend) -> None:
    who, china = frontend.register(), frontend.register("CN")
    card = frontend.top_up(who, 4200)
    frontend.pay(card)
    alipay = frontend.top_up(china, 30000, method="alipay")
    assert decide(frontend, alipay, "approve").status_code == 200
    frozen = frontend.register()
    refunded = frontend.top_up(frozen, 5000)
    assert frontend.freeze(frozen, "overdue_payment").status_code == 200
    frontend.pay(refunded)
    declined = frontend.top_up(who, 1000, method="paypal")
    assert decide(frontend, declined, "decline").status_code == 200
    frontend.wait_status(who, card["order_id"], "completed")
    frontend.wait_status(china, alipay["order_id"], "completed", timeout=20)
    wait_for(lambda: frontend.operator("payment", "GET", f"/v1/payments?order_id={refunded['order_id']}")
             .json()["status"] == "refunded", what="the refund")

    for provider in ("sandbox", "alipay", "paypal", "wechat_pay"):
        day = reconciled(frontend, provider)
        assert day["clean"], day
        assert "clean" in day["summary"]
    assert reconciled(frontend, "sandbox")["lines"] >= 3, "two card captures and a refund at least"
    assert reconciled(frontend, "alipay")["lines"] >= 1


def test_money_the_provider_took_that_we_never_credited_is_told(frontend: Frontend,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    who = frontend.register()
    order = frontend.top_up(who, 2300)
    frontend.pay(order)
    frontend.wait_status(who, order["order_id"], "completed")
    payment = frontend.operator("payment", "GET", f"/v1/payments?order_id={order['order_id']}").json()
    with frontend.system.contexts["payment"].engine.begin() as conn:  # our records lose the capture
        conn.execute(text("UPDATE payments SET status = 'failed', captured_at = NULL WHERE id = :id"),
                     {"id": payment["payment_id"]})
    day = reconciled(frontend, "sandbox")
    assert not day["clean"]
    [taken] = [d for d in day["differences"] if d["payment_id"] == payment["payment_id"]]
    assert taken["kind"] == "taken_not_credited"
    assert taken["words"].startswith("sandbox took €23.00 for " + payment["payment_id"])
    assert taken["words"].endswith("that we never credited: our payment is failed")

    env = {"PAYMENT_URL": frontend.system.url("payment"), "OPERATOR_TOKEN": frontend.system.settings.operator_token}
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        assert make_reconcile.main(["--day", TODAY, "sandbox", "alipay"]) == 1
    printed = capsys.readouterr().out
    assert "sandbox " + TODAY + ": 1 difference(s)" in printed and taken["words"] in printed
    assert "alipay " + TODAY + ": clean" in printed


def test_an_unknown_provider_or_day_has_no_report(frontend: Frontend) -> None:
    for path in ("/v1/reconciliations/visa/" + TODAY, "/v1/reconciliations/alipay/yesterday"):
        answer = frontend.operator("payment", "GET", path)
        assert answer.status_code == 404 and answer.json()["code"] == "no_such_report"
    assert frontend.http.get(frontend.system.url("payment") + "/v1/reconciliations/alipay/" + TODAY).status_code == 401
