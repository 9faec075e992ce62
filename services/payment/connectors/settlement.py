"""Reading each provider's daily settlement report into `SettlementLine`s
(domain/settlement.py), as a real connector reads what its provider gives merchants:

- alipay: the trade bill's detail file (业务明细), GBK; our payment in 商户订单号, our refund in
  退款批次号/请求号; yuan, refunds negative; the fee in 服务费.
- wechat_pay: the v3 trade bill (ALL), every value after a backtick; 商户订单号, 商户退款单号;
  yuan, 应结订单金额 for a payment, 退款金额 for a refund; the fee in 手续费.
- paypal: the Settlement Report (STL), SB rows under the CH row; Invoice ID, and a refund's
  Custom Field; minor units with CR/DR; T0006 (or T0003) a capture, T1107 a refund.
- sandbox (cards): balance transactions by `reporting_category`; payment_reference,
  refund_reference; decimal, refunds negative.

A row that cannot be read is an error naming the row (a report is read whole or not at all:
a reconciliation on half a report would report the other half as missing).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from services.payment.domain.settlement import LineKind, SettlementLine
from shared.money import CURRENCY_EXPONENTS, Money


class UnreadableReport(ValueError):
    """The report is not the provider's format, or a row of it cannot be read."""


def read(provider: str, raw: bytes) -> list[SettlementLine]:
    reader = READERS.get(provider)
    if reader is None:
        raise UnreadableReport(f"no settlement report reader for {provider}")
    try:
        return list(reader(raw))
    except UnreadableReport:
        raise
    except (ValueError, KeyError, IndexError, InvalidOperation, UnicodeDecodeError) as exc:
        raise UnreadableReport(f"{provider}: {exc!r}") from exc


def money(figure: str, currency: str) -> Money:
    """A decimal figure in major units ('45.00', '-45.00') as money, exactly or not at all."""
    minor = Decimal(figure.strip()).scaleb(CURRENCY_EXPONENTS[currency])
    if minor != minor.to_integral_value():
        raise UnreadableReport(f"{figure!r} is not a whole number of {currency} minor units")
    return Money(int(minor), currency)


def moment(text: str, pattern: str) -> datetime:
    parsed = datetime.strptime(text.strip(), pattern)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _rows(text: str, header_first: str) -> Iterator[dict[str, str]]:
    """The rows under the header row that starts with `header_first`, as dicts, up to the
    first row of another shape (a footer or a totals section)."""
    rows = csv.reader(io.StringIO(text))
    for header in rows:
        if header and header[0].strip() == header_first:
            break
    else:
        raise UnreadableReport(f"no header row starting with {header_first!r}")
    for row in rows:
        if len(row) != len(header):
            return
        yield {name.strip(): value for name, value in zip(header, row, strict=True)}


def _alipay(raw: bytes) -> Iterator[SettlementLine]:
    body = "\n".join(line for line in raw.decode("gbk").splitlines() if not line.startswith("#"))
    for row in _rows(body, "支付宝交易号"):
        refund = row["业务类型"].strip() == "退款"
        currency = row["备注"].strip() or "CNY"  # the sandbox notes a cross-border trade's currency there
        gross = money(row["订单金额（元）"], currency)
        yield SettlementLine("alipay", LineKind.REFUND if refund else LineKind.CAPTURE, row["支付宝交易号"].strip(),
                             row["商户订单号"].strip(), row["退款批次号/请求号"].strip() or None,
                             -gross if refund else gross, -money(row["服务费（元）"], currency),
                             moment(row["完成时间"], "%Y-%m-%d %H:%M:%S"))


def _wechat(raw: bytes) -> Iterator[SettlementLine]:
    for row in _rows(raw.decode("utf-8"), "交易时间"):
        value = {name: text.removeprefix("`") for name, text in row.items()}
        refund = value["交易状态"] == "REFUND"
        currency = value["货币种类"]
        fee = Decimal(value["手续费"]).scaleb(CURRENCY_EXPONENTS[currency]).quantize(Decimal(1))
        yield SettlementLine("wechat_pay", LineKind.REFUND if refund else LineKind.CAPTURE, value["微信订单号"],
                             value["商户订单号"], value["商户退款单号"] or None,
                             money(value["退款金额" if refund else "应结订单金额"], currency),
                             Money(int(fee), currency), moment(value["交易时间"], "%Y-%m-%d %H:%M:%S"))


def _paypal(raw: bytes) -> Iterator[SettlementLine]:
    columns: list[str] = []
    for row in csv.reader(io.StringIO(raw.decode("utf-8"))):
        if row and row[0] == "CH":
            columns = row[1:]
        elif row and row[0] == "SB":
            if not columns:
                raise UnreadableReport("an SB row before any CH row")
            value = dict(zip(columns, row[1:], strict=False))
            code = value["Transaction Event Code"]
            if code not in ("T0006", "T0003", "T1107"):
                continue  # not a capture or a merchant's refund (holds, transfers...)
            refund = code == "T1107"
            gross = Money(int(value["Gross Transaction Amount"]), value["Gross Transaction Currency"])
            fee = Money(int(value["Fee Amount"] or 0), value["Fee Currency"] or gross.currency)
            yield SettlementLine("paypal", LineKind.REFUND if refund else LineKind.CAPTURE, value["Transaction ID"],
                                 value["Invoice ID"], (value["Custom Field"] or None) if refund else None, gross,
                                 fee if value["Fee Debit or Credit"] == "DR" else -fee,
                                 moment(value["Transaction Completion Date"], "%Y/%m/%d %H:%M:%S %z"))


def _card(raw: bytes) -> Iterator[SettlementLine]:
    for row in _rows(raw.decode("utf-8"), "balance_transaction_id"):
        refund = row["reporting_category"] == "refund"
        currency = row["currency"].upper()
        gross = money(row["gross"], currency)
        yield SettlementLine("sandbox", LineKind.REFUND if refund else LineKind.CAPTURE, row["source_id"],
                             row["payment_reference"], row["refund_reference"] or None, -gross if refund else gross,
                             money(row["fee"], currency), moment(row["created_utc"], "%Y-%m-%d %H:%M:%S"))


READERS: dict[str, Callable[[bytes], Iterator[SettlementLine]]] = {
    "alipay": _alipay, "wechat_pay": _wechat, "paypal": _paypal, "sandbox": _card}
