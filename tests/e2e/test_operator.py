"""A refund the gateway keeps refusing: the order is flagged for an operator, listed by the
operator API, and the money check names it. Money is never silently stuck."""

from __future__ import annotations

from deploy.check import run_checks
from tests.e2e.frontend import REFUND_REFUSED, Frontend
from tests.helpers import wait_for

LI_NA = "li.na-" + "k" * 40  # a named operator's token (OPERATOR_TOKENS)
SYSTEM_OVERRIDES = {"refund_max_attempts": 2, "operator_tokens": (("li.na", LI_NA),)}
CHECK_AT_END = False  # the scenario deliberately leaves an order waiting for an operator


def test_a_refund_the_gateway_refuses_waits_for_an_operator(frontend: Frontend) -> None:
    who = frontend.register()
    order = frontend.top_up(who, 4000)
    frozen = frontend.freeze(who, "suspected_fraud", token=LI_NA).json()
    assert (frozen["status"], frozen["status_changed_by"]) == ("frozen", "li.na"), "frozen under the name"
    frontend.pay(order, REFUND_REFUSED)

    def flagged() -> list[dict[str, object]]:
        listed = frontend.operator("order", "GET", "/v1/operator/orders?needs_operator=true").json()["orders"]
        return [o for o in listed if o["order_id"] == order["order_id"]]

    listed = wait_for(flagged, timeout=20, what="the order flagged for an operator")
    assert listed[0]["status"] == "paid"
    detail = frontend.operator("order", "GET", f"/v1/operator/orders/{order['order_id']}").json()
    assert detail["payment_detail"]["refund"] == "failed" and detail["receipt"] is None
    assert [s["event"] for s in listed[0]["timeline"]][-1] == "refund_failed"  # type: ignore[index]
    assert frontend.get(who, "/v1/balance").json()["amount"] == 0

    report = run_checks(frontend.system.settings)
    problems = report.about(order["order_id"])
    assert problems and "operator" in problems[0].message

    retried = frontend.operator("order", "POST", f"/v1/operator/orders/{order['order_id']}/retry-refund", token=LI_NA)
    assert retried.status_code == 202
    step = retried.json()["timeline"][-1]
    assert (step["event"], step["operator"]) == ("refund_retried", "li.na"), "recorded under the operator's name"
    seen = frontend.operator("order", "GET", f"/v1/operator/orders/{order['order_id']}").json()
    assert [s["operator"] for s in seen["timeline"] if s["event"] == "refund_retried"] == ["li.na"]
    assert seen["payment_detail"]["refund"] == "retried" and seen["wallet_entries"] == []
    assert "operator" not in frontend.order(who, order["order_id"])["timeline"][-1], "not shown to the customer"
    wrong = frontend.operator("order", "GET", "/v1/operator/orders", token="li.na-" + "x" * 40)
    assert wrong.status_code == 401

    # The gateway still refuses: the money goes back by hand, and the operator records it.
    wait_for(lambda: [s for s in frontend.operator("order", "GET", f"/v1/operator/orders/{order['order_id']}")
                      .json()["timeline"] if s["event"] == "refund_failed"][1:], timeout=20, what="refused again")
    payment_id = seen["payment"]["payment_id"]
    settle = f"/v1/payments/{payment_id}/refund/settled"
    body = {"gateway_reference": "re_manual_77", "reason": "refunded by hand in the gateway's dashboard"}
    settled = frontend.operator("payment", "POST", settle, json=body, token=LI_NA)
    assert settled.status_code == 200, settled.text
    assert settled.json()["status"] == "refunded"
    assert settled.json()["refund"]["settled_outside"] == {"reference": "re_manual_77", "by": "li.na",
                                                         "note": body["reason"]}
    assert frontend.operator("payment", "POST", settle, json=body).json()["status"] == "refunded", "again: the same"
    ended = frontend.wait_status(who, order["order_id"], "refunded")
    assert ended["timeline"][-1]["event"] == "payment_refunded"
    step = frontend.operator("order", "GET", f"/v1/operator/orders/{order['order_id']}").json()["timeline"][-1]
    assert (step["event"], step["operator"]) == ("payment_refunded", "li.na"), "on the timeline under the name"
    assert step["note"] == f"{body['reason']} (gateway reference re_manual_77)"
    assert not frontend.operator("order", "GET", f"/v1/operator/orders/{order['order_id']}").json()["needs_operator"]
    assert run_checks(frontend.system.settings).about(order["order_id"]) == [], "the books know it"

    completed = frontend.top_up(frontend.register(), 1000)
    frontend.pay(completed)
    def payment_of_completed() -> str | None:
        found = frontend.operator("payment", "GET", "/v1/payments", params={"order_id": completed["order_id"]})
        return found.json().get("payment_id") if found.ok else None

    other_payment = wait_for(payment_of_completed, what="its payment")
    refused = frontend.operator("payment", "POST", f"/v1/payments/{other_payment}/refund/settled", json=body)
    assert refused.status_code == 409 and refused.json()["code"] == "no_refund_waiting"
