"""Settlement reports (issue 13, its plain-Python part): each sandbox provider's daily report
in its real provider's shape, read back by our connector for that provider, and reconciled
with our payments, every difference told in words."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime

import pytest

from services.payment.connectors import settlement as connectors
from services.payment.domain.settlement import DifferenceKind, LineKind, OurPayment, reconcile, summary
from services.sandbox import settlement as sandbox
from shared.money import Money

DAY = date(2026, 11, 28)
AT = datetime(2026, 11, 28, 9, 30, 5, tzinfo=UTC)
CURRENCY = {"alipay": "CNY", "wechat_pay": "CNY", "paypal": "EUR", "sandbox": "EUR"}


def entries(provider: str) -> list[sandbox.SettledEntry]:
    currency = CURRENCY[provider]
    return [sandbox.SettledEntry("capture", "2026112822001", "pay_a", None, Money(45000, currency), AT),
            sandbox.SettledEntry("capture", "2026112822002", "pay_b", None, Money(1999, currency), AT),
            sandbox.SettledEntry("refund", "2026112822003", "pay_b", "rfd_b", Money(1999, currency), AT)]


@pytest.mark.parametrize("provider", ["alipay", "wechat_pay", "paypal", "sandbox"])
def test_each_providers_report_is_read_back_line_for_line(provider: str) -> None:
    raw = sandbox.report(provider, DAY, entries(provider), "2088102147948060")
    lines = connectors.read(provider, raw)
    currency = CURRENCY[provider]
    assert [(line.kind, line.payment_id, line.refund_id, line.gross, line.provider_ref) for line in lines] == [
        (LineKind.CAPTURE, "pay_a", None, Money(45000, currency), "2026112822001"),
        (LineKind.CAPTURE, "pay_b", None, Money(1999, currency), "2026112822002"),
        (LineKind.REFUND, "pay_b", "rfd_b", Money(1999, currency), "2026112822003")]
    capture_fee = sandbox.fee_of(provider, entries(provider)[0])
    assert lines[0].fee == capture_fee and lines[0].fee.amount_minor > 0, "the provider's fee is read"
    assert lines[0].net == Money(45000, currency) - capture_fee
    assert lines[2].fee == Money.zero(currency) and lines[2].net == Money(-1999, currency)
    assert all(line.settled_at == AT for line in lines)


def test_the_reports_have_their_providers_shapes() -> None:
    alipay = sandbox.report("alipay", DAY, entries("alipay"), "2088102147948060").decode("gbk")
    assert alipay.startswith("#支付宝业务明细查询") and "#交易合计：2笔" in alipay and "#退款合计：1笔" in alipay
    assert "\n支付宝交易号,商户订单号,业务类型," in alipay and "-19.99" in alipay
    wechat = list(csv.reader(io.StringIO(sandbox.report("wechat_pay", DAY, entries("wechat_pay"), "1900000109")
                                         .decode())))
    assert wechat[0][:3] == ["交易时间", "公众账号ID", "商户号"] and all(v.startswith("`") for v in wechat[1])
    assert wechat[-2][0] == "总交易单数" and wechat[-1][0] == "`3"
    paypal = [row[0] for row in csv.reader(io.StringIO(sandbox.report("paypal", DAY, entries("paypal"), "M1")
                                                        .decode()))]
    assert paypal == ["RH", "FH", "SH", "CH", "SB", "SB", "SB", "SF", "SC", "RF", "RC", "FF"]
    card = sandbox.report("sandbox", DAY, entries("sandbox"), "acct_1").decode()
    assert card.splitlines()[0].startswith("balance_transaction_id,") and ",refund," in card


@pytest.mark.parametrize("raw", [b"", b"not,a,report\r\n1,2,3\r\n", "#支付宝\r\n".encode("gbk")])
@pytest.mark.parametrize("provider", ["alipay", "wechat_pay", "sandbox"])
def test_a_report_not_in_its_providers_shape_is_refused(provider: str, raw: bytes) -> None:
    with pytest.raises(connectors.UnreadableReport):
        connectors.read(provider, raw)


def test_a_row_that_cannot_be_read_refuses_the_whole_report() -> None:
    raw = sandbox.report("sandbox", DAY, entries("sandbox"), "acct_1").decode().replace("450.00", "4.5.0", 1)
    with pytest.raises(connectors.UnreadableReport, match="sandbox"):
        connectors.read("sandbox", raw.encode())
    assert connectors.read("paypal", b'"RH",x\r\n"FF",0\r\n') == [], "an STL file of no transactions"


def ours(payment_id: str, status: str, amount: int = 45000, refunded: bool = False,
         captured_on: date | None = DAY) -> OurPayment:
    return OurPayment(payment_id, "alipay", Money(amount, "CNY"), status, captured_on, DAY if refunded else None)


def lines() -> list[connectors.SettlementLine]:
    return connectors.read("alipay", sandbox.report("alipay", DAY, entries("alipay"), "2088"))


def test_a_clean_day_says_so() -> None:
    found = reconcile("alipay", DAY, lines(), [ours("pay_a", "captured"), ours("pay_b", "refunded", 1999, True)])
    assert found == []
    assert "clean" in summary("alipay", DAY, lines(), found)


def test_every_difference_is_found_and_told_in_words() -> None:
    settled = [*lines(), lines()[0]]  # pay_a's capture twice
    found = reconcile("alipay", DAY, settled, [
        ours("pay_a", "failed"),  # the provider took it; we failed the order
        ours("pay_b", "captured", 1999),  # the provider refunded it; we did not record that
        ours("pay_c", "captured", 500),  # we captured it; the provider settled nothing
        ours("pay_d", "refunded", 700, refunded=True, captured_on=date(2026, 11, 27)),  # refund never settled
    ])
    kinds = {(d.kind, d.payment_id) for d in found}
    assert kinds == {(DifferenceKind.SETTLED_TWICE, "pay_a"), (DifferenceKind.TAKEN_NOT_CREDITED, "pay_a"),
                     (DifferenceKind.REFUND_NOT_RECORDED, "pay_b"), (DifferenceKind.CAPTURE_NOT_SETTLED, "pay_c"),
                     (DifferenceKind.REFUND_NOT_SETTLED, "pay_d")}
    taken = next(d for d in found if d.kind is DifferenceKind.TAKEN_NOT_CREDITED)
    assert taken.words == ("alipay took CN¥450.00 for pay_a (2026112822001) that we never credited: "
                           "our payment is failed")
    assert "difference" in summary("alipay", DAY, settled, found)


def test_an_amount_that_disagrees_is_a_difference() -> None:
    found = reconcile("alipay", DAY, lines(), [ours("pay_a", "captured", 40000), ours("pay_b", "refunded", 1999, True)])
    [disagrees] = found
    assert disagrees.kind is DifferenceKind.AMOUNT_DISAGREES and "we recorded CN¥400.00" in disagrees.words
