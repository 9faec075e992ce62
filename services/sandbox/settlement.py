"""The sandbox providers' daily settlement reports, in the shape each real provider gives
its merchants (what our connectors read: connectors/settlement.py):

- **alipay**: the trade bill's detail file (业务明细), GBK, `#` header and footer lines, a
  row per trade (交易) or refund (退款), amounts in yuan, refunds negative, ids with a
  trailing tab;
- **wechat_pay**: the v3 trade bill (`ALL`), a header row, every value after a backtick,
  a refund row with its 商户退款单号 and 退款金额, the totals after;
- **paypal**: the Settlement Report (STL): RH/FH/SH/CH/SB/SF/SC/RF/RC/FF rows, amounts in
  minor units with CR/DR, T0006 for a checkout capture, T1107 for a merchant's refund;
- **sandbox** (the card processor): a balance-transactions report as card processors give
  (Stripe's itemized balance report): `reporting_category` charge or refund, decimal
  amounts, the merchant's references.

The fees are the sandbox's own schedule (`FEES`), kept on captures; a refund gives no fee
back. Plain Python: the entries come in, the file's bytes go out.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

from shared.money import CURRENCY_EXPONENTS, Money

#: provider -> (proportional fee, fixed fee in minor units) on each capture
FEES: dict[str, tuple[Decimal, int]] = {
    "sandbox": (Decimal("0.014"), 25),
    "paypal": (Decimal("0.0349"), 49),
    "alipay": (Decimal("0.006"), 0),
    "wechat_pay": (Decimal("0.006"), 0),
}


@dataclass(frozen=True)
class SettledEntry:
    """A capture or a refund the sandbox settled."""

    kind: str  # "capture" or "refund"
    provider_ref: str
    payment_reference: str  # the merchant's payment id
    refund_reference: str | None  # the merchant's refund id
    amount: Money
    at: datetime


def fee_of(provider: str, entry: SettledEntry) -> Money:
    if entry.kind != "capture":
        return Money.zero(entry.amount.currency)
    rate, fixed = FEES[provider]
    fee = (Decimal(entry.amount.amount_minor) * rate).quantize(Decimal(1), ROUND_HALF_UP)
    return Money(int(fee) + fixed, entry.amount.currency)


def major(money: Money) -> str:
    """'45.00', '-45.00', '4500' (JPY): the decimal figure reports print."""
    places = CURRENCY_EXPONENTS[money.currency]
    return f"{Decimal(money.amount_minor).scaleb(-places):.{places}f}"


def report(provider: str, day: date, entries: list[SettledEntry], account: str) -> bytes:
    """The provider's settlement report of `day` for the merchant `account`."""
    return {"alipay": _alipay, "wechat_pay": _wechat, "paypal": _paypal, "sandbox": _card}[provider](
        day, entries, account)


def _csv(rows: list[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue()


ALIPAY_COLUMNS = ["支付宝交易号", "商户订单号", "业务类型", "商品名称", "创建时间", "完成时间", "门店编号",
                  "门店名称", "操作员", "终端号", "对方账户", "订单金额（元）", "商家实收（元）", "支付宝红包（元）",
                  "集分宝（元）",
                  "支付宝优惠（元）", "商家优惠（元）", "券核销金额（元）", "券名称", "商家红包消费金额（元）",
                  "卡消费金额（元）", "退款批次号/请求号", "服务费（元）", "分润（元）", "备注"]


def _alipay(day: date, entries: list[SettledEntry], account: str) -> bytes:
    rows, trades, refunds, taken, back = [], 0, 0, 0, 0
    for e in entries:
        refund = e.kind == "refund"
        signed = -e.amount if refund else e.amount
        fee = fee_of("alipay", e)
        row = [f"{e.provider_ref}\t", f"{e.payment_reference}\t", "退款" if refund else "交易", "余额充值",
               f"{e.at:%Y-%m-%d %H:%M:%S}", f"{e.at:%Y-%m-%d %H:%M:%S}", "", "", "", "", "", major(signed),
               major(signed), "0.00", "0.00", "0.00", "0.00", "0.00", "", "0.00", "0.00",
               f"{e.refund_reference}\t" if refund else "", major(-fee), "0.00",
               "" if e.amount.currency == "CNY" else e.amount.currency]  # 备注: a cross-border trade's currency
        rows.append(row)
        refunds, trades = refunds + refund, trades + (not refund)
        back, taken = (back + e.amount.amount_minor, taken) if refund else (back, taken + e.amount.amount_minor)
    lines = ["#支付宝业务明细查询", f"#账号：[{account}]",
             f"#起始日期：[{day:%Y年%m月%d日} 00:00:00]   终止日期：[{day:%Y年%m月%d日} 23:59:59]",
             "#-----------------------------------------业务明细列表----------------------------------------"]
    body = _csv([ALIPAY_COLUMNS, *rows])
    cny = "CNY"
    footer = ["#-----------------------------------------业务明细列表结束------------------------------------",
              f"#交易合计：{trades}笔，商家实收共{major(Money(taken, cny))}元，商家优惠共0.00元",
              f"#退款合计：{refunds}笔，商家实收退款共{major(Money(-back, cny))}元，商家优惠退款共0.00元",
              f"#导出时间：[{day:%Y年%m月%d日} 23:59:59]"]
    return ("\r\n".join(lines) + "\r\n" + body + "\r\n".join(footer) + "\r\n").encode("gbk")


WECHAT_COLUMNS = ["交易时间", "公众账号ID", "商户号", "特约商户号", "设备号", "微信订单号", "商户订单号", "用户标识",
                  "交易类型", "交易状态", "付款银行", "货币种类", "应结订单金额", "代金券金额", "微信退款单号",
                  "商户退款单号", "退款金额", "充值券退款金额", "退款类型", "退款状态", "商品名称", "商户数据包",
                  "手续费", "费率", "订单金额", "申请退款金额", "费率备注"]
WECHAT_TOTALS = ["总交易单数", "应结订单总金额", "退款总金额", "充值券退款总金额", "手续费总金额", "订单总金额",
                 "申请退款总金额"]


def _wechat(day: date, entries: list[SettledEntry], account: str) -> bytes:
    rows, settled, back, fees = [], 0, 0, Decimal(0)
    rate = FEES["wechat_pay"][0]
    for e in entries:
        refund = e.kind == "refund"
        fee = fee_of("wechat_pay", e)
        amount, none = major(e.amount), major(Money.zero(e.amount.currency))
        fee_yuan = Decimal(fee.amount_minor).scaleb(-CURRENCY_EXPONENTS[fee.currency])
        row = [f"{e.at:%Y-%m-%d %H:%M:%S}", "wx_sandbox_app", account, "", "", e.provider_ref, e.payment_reference,
               "", "NATIVE", "REFUND" if refund else "SUCCESS", "OTHERS", e.amount.currency,
               none if refund else amount, "0.00", e.provider_ref if refund else "", e.refund_reference or "",
               amount if refund else none, "0.00", "ORIGINAL" if refund else "", "SUCCESS" if refund else "",
               "余额充值", "", f"{fee_yuan:.5f}", f"{rate * 100:.2f}%", none if refund else amount,
               amount if refund else none, ""]
        rows.append(["`" + value for value in row])
        settled += 0 if refund else e.amount.amount_minor
        back += e.amount.amount_minor if refund else 0
        fees += fee_yuan
    cny = "CNY"
    totals = [str(len(entries)), major(Money(settled, cny)), major(Money(back, cny)), "0.00", f"{fees:.5f}",
              major(Money(settled, cny)), major(Money(back, cny))]
    return _csv([WECHAT_COLUMNS, *rows, WECHAT_TOTALS, ["`" + value for value in totals]]).encode("utf-8")


PAYPAL_COLUMNS = ["Transaction ID", "Invoice ID", "PayPal Reference ID", "PayPal Reference ID Type",
                  "Transaction Event Code", "Transaction Initiation Date", "Transaction Completion Date",
                  "Transaction Debit or Credit", "Gross Transaction Amount", "Gross Transaction Currency",
                  "Fee Debit or Credit", "Fee Amount", "Fee Currency", "Custom Field", "Consumer ID"]


def _paypal(day: date, entries: list[SettledEntry], account: str) -> bytes:
    stamp = f"{day:%Y/%m/%d}"
    rows: list[list[str]] = [["RH", f"{stamp} 23:59:59 +0000", "A", account, "011"], ["FH", "01"],
                             ["SH", f"{stamp} 00:00:00 +0000", f"{stamp} 23:59:59 +0000", "", account, ""],
                             ["CH", *PAYPAL_COLUMNS]]
    for e in entries:
        refund = e.kind == "refund"
        fee = fee_of("paypal", e)
        moment = f"{e.at:%Y/%m/%d %H:%M:%S} +0000"
        # a refund names the payment in its invoice_id and our refund in its custom_id, as
        # PayPal's refund call takes them; a capture carries the payment in both
        rows.append(["SB", e.provider_ref, e.payment_reference, "", "", "T1107" if refund else "T0006", moment,
                     moment, "DR" if refund else "CR", str(e.amount.amount_minor), e.amount.currency,
                     "DR", str(fee.amount_minor), fee.currency,
                     (e.refund_reference or "") if refund else e.payment_reference, ""])
    count = str(len(entries))
    rows += [["SF", count], ["SC", count], ["RF", count], ["RC", count], ["FF", count]]
    return _csv(rows).encode("utf-8")


CARD_COLUMNS = ["balance_transaction_id", "created_utc", "currency", "gross", "fee", "net", "reporting_category",
                "source_id", "payment_reference", "refund_reference"]


def _card(day: date, entries: list[SettledEntry], account: str) -> bytes:
    rows = []
    for e in entries:
        refund = e.kind == "refund"
        fee = fee_of("sandbox", e)
        gross = -e.amount if refund else e.amount
        rows.append([f"txn_{e.provider_ref}", f"{e.at:%Y-%m-%d %H:%M:%S}", e.amount.currency.lower(), major(gross),
                     major(fee), major(gross - fee), "refund" if refund else "charge", e.provider_ref,
                     e.payment_reference, e.refund_reference or ""])
    return _csv([CARD_COLUMNS, *rows]).encode("utf-8")
