"""PayPal, Alipay and WeChat Pay notifications, verified as each provider documents, without
I/O. Signatures and signed texts are built here by hand from the providers' rules (not with
the code under test), so a wrong scheme cannot agree with itself."""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from services.payment.connectors import alipay, paypal, wechat
from services.payment.connectors.alipay import AlipayConnector, AlipayTrust
from services.payment.connectors.common import Connector
from services.payment.connectors.paypal import PayPalConnector, PayPalTrust
from services.payment.connectors.sandbox import wallet_connectors
from services.payment.connectors.wechat import WechatConnector, WechatTrust
from services.payment.domain.amounts import InvalidAmountText, from_major, to_major
from services.payment.domain.errors import InvalidSignature, InvalidWebhookPayload
from services.payment.domain.gateway import GatewayEvent, GatewayEventKind
from services.sandbox.alipay import AlipayNotifier
from services.sandbox.gateway import Sandbox
from services.sandbox.keys import SandboxKeys, cert_serial, self_signed
from services.sandbox.models import SandboxSessionRow
from services.sandbox.notifiers import Notifier
from services.sandbox.paypal import PayPalNotifier
from services.sandbox.wechat import WechatNotifier
from shared.config import Settings
from shared.money import Money

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
CERT_URL = "http://sandbox.test/sandbox/paypal/v1/notifications/certs/CERT-1"
K = GatewayEventKind


@pytest.fixture(scope="module")
def keys() -> SandboxKeys:
    return SandboxKeys.generate(NOW - timedelta(days=1))


@pytest.fixture(scope="module")
def stranger() -> rsa.RSAPrivateKey:
    """Somebody else's key: signs perfectly, proves nothing."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def rsa_sign(key: rsa.RSAPrivateKey, message: bytes) -> str:
    return base64.b64encode(key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()


# -- amounts -------------------------------------------------------------------------------
@pytest.mark.parametrize(("money", "text"), [
    (Money(1250, "EUR"), "12.50"), (Money(5, "USD"), "0.05"), (Money(1000, "JPY"), "1000"), (Money(0, "CNY"), "0.00")])
def test_amounts_are_written_in_major_units(money: Money, text: str) -> None:
    assert to_major(money) == text
    assert from_major(text, money.currency) == money


def test_amounts_are_read_exactly_or_not_at_all() -> None:
    assert from_major("12.5", "EUR") == Money(1250, "EUR")
    for text, currency in [("12.505", "EUR"), ("1.5", "JPY"), ("-1", "EUR"), ("1e3", "EUR"), ("12.", "EUR"),
                           (" 12", "EUR"), ("12\n", "EUR"), ("\uff10", "EUR"), ("012", "EUR"), ("12", "XXX")]:
        with pytest.raises(InvalidAmountText):
            from_major(text, currency)


# -- PayPal --------------------------------------------------------------------------------
def paypal_trust(keys: SandboxKeys, **changes: object) -> PayPalTrust:
    values: dict[str, object] = {"webhook_id": keys.paypal_webhook_id, "cert_url": CERT_URL,
                                 "certificate": keys.paypal_cert, "tolerance_seconds": 300}
    return PayPalTrust(**{**values, **changes})  # type: ignore[arg-type]


def capture_event(event_type: str = paypal.CAPTURE_COMPLETED, value: str = "12.50") -> bytes:
    return json.dumps({
        "id": "WH-1", "event_version": "1.0", "create_time": "2026-11-24T11:59:58Z", "resource_type": "capture",
        "event_type": event_type, "resource": {
            "id": "CAP1", "status": "COMPLETED", "amount": {"currency_code": "EUR", "value": value},
            "custom_id": "pay_1", "supplementary_data": {"related_ids": {"order_id": "ORDER1"}},
            "update_time": "2026-11-24T11:59:57Z"}}).encode()


def paypal_headers(key: rsa.RSAPrivateKey, body: bytes, webhook_id: str, when: datetime = NOW,
                   **changes: str) -> dict[str, str]:
    transmission_id, transmission_time = "69cd13f0-d67a-11e5-baa3-778b53f4ae55", when.strftime("%Y-%m-%dT%H:%M:%SZ")
    signed = f"{transmission_id}|{transmission_time}|{webhook_id}|{zlib.crc32(body) & 0xFFFFFFFF}".encode()
    headers = {"PAYPAL-TRANSMISSION-ID": transmission_id, "PAYPAL-TRANSMISSION-TIME": transmission_time,
               "PAYPAL-TRANSMISSION-SIG": rsa_sign(key, signed), "PAYPAL-CERT-URL": CERT_URL,
               "PAYPAL-AUTH-ALGO": "SHA256withRSA"}
    return {**headers, **changes}


def test_a_paypal_webhook_signed_by_paypal_is_read(keys: SandboxKeys) -> None:
    body = capture_event()
    event = PayPalConnector(paypal_trust(keys)).read(paypal_headers(keys.paypal_key, body, keys.paypal_webhook_id),
                                                     body, NOW)
    assert (event.event_id, event.kind, event.payment_id, event.gateway_ref) == (
        "WH-1", K.PAYMENT_SUCCEEDED, "pay_1", "ORDER1")
    assert event.amount == Money(1250, "EUR") and event.occurred_at == datetime(2026, 11, 24, 11, 59, 57, tzinfo=UTC)


def test_the_paypal_crc32_is_the_unsigned_decimal() -> None:
    body = b"The quick brown fox jumps over the lazy dog"  # CRC32 0x414FA339: fits; try one above 2**31
    high = next(b for b in (f"{{\"n\":{i}}}".encode() for i in range(100)) if zlib.crc32(b) >= 2**31)
    assert paypal.signed_message("t", "2026", "WH", body) == b"t|2026|WH|1095738169"
    assert paypal.signed_message("t", "2026", "WH", high).endswith(str(zlib.crc32(high)).encode())


@pytest.mark.parametrize("case", ["tampered body", "wrong key", "other webhook", "wrong cert url", "other algo",
                                  "stale", "future", "other certificate", "no signature", "garbage signature"])
def test_a_paypal_webhook_that_does_not_verify_is_refused(keys: SandboxKeys, stranger: rsa.RSAPrivateKey,
                                                          case: str) -> None:
    body, trust = capture_event(), paypal_trust(keys)
    headers = paypal_headers(keys.paypal_key, body, keys.paypal_webhook_id)
    if case == "tampered body":
        body = capture_event(value="1250.00")
    elif case == "wrong key":
        headers = paypal_headers(stranger, body, keys.paypal_webhook_id)
    elif case == "other webhook":
        headers = paypal_headers(keys.paypal_key, body, "WH-SOMEONE-ELSE")
    elif case == "wrong cert url":
        headers["PAYPAL-CERT-URL"] = "https://evil.example/cert.pem"
    elif case == "other algo":
        headers["PAYPAL-AUTH-ALGO"] = "SHA1withRSA"
    elif case == "stale":
        headers = paypal_headers(keys.paypal_key, body, keys.paypal_webhook_id, NOW - timedelta(seconds=301))
    elif case == "future":
        headers = paypal_headers(keys.paypal_key, body, keys.paypal_webhook_id, NOW + timedelta(seconds=301))
    elif case == "other certificate":
        trust = paypal_trust(keys, certificate=self_signed(stranger, "not paypal", NOW))
    elif case == "no signature":
        del headers["PAYPAL-TRANSMISSION-SIG"]
    else:
        headers["PAYPAL-TRANSMISSION-SIG"] = "not base64!"
    with pytest.raises(InvalidSignature):
        PayPalConnector(trust).read(headers, body, NOW)


@pytest.mark.parametrize(("event_type", "kind", "failure"), [
    (paypal.CAPTURE_DENIED, K.PAYMENT_FAILED, "payment_declined"),
    (paypal.CAPTURE_COMPLETED, K.PAYMENT_SUCCEEDED, None),
])
def test_paypal_capture_events(event_type: str, kind: GatewayEventKind, failure: str | None) -> None:
    event = paypal.parse_event(capture_event(event_type))
    assert (event.kind, event.failure_code) == (kind, failure)


def test_a_voided_paypal_order_is_the_customers_cancel_and_a_refund_names_no_order() -> None:
    voided = json.dumps({"id": "WH-2", "create_time": "2026-11-24T12:00:00Z", "event_type": paypal.ORDER_VOIDED,
                         "resource": {"id": "ORDER1", "status": "VOIDED", "purchase_units": [
                             {"custom_id": "pay_1", "amount": {"currency_code": "JPY", "value": "1000"}}]}}).encode()
    event = paypal.parse_event(voided)
    assert (event.kind, event.failure_code, event.gateway_ref, event.amount) == (
        K.PAYMENT_FAILED, "cancelled_by_customer", "ORDER1", Money(1000, "JPY"))
    refunded = json.dumps({"id": "WH-3", "create_time": "2026-11-24T12:00:00Z", "event_type": paypal.CAPTURE_REFUNDED,
                           "resource": {"id": "REF1", "status": "COMPLETED", "custom_id": "pay_1",
                                        "amount": {"currency_code": "EUR", "value": "12.50"}}}).encode()
    event = paypal.parse_event(refunded)
    assert (event.kind, event.gateway_ref, event.payment_id) == (K.REFUND_SUCCEEDED, None, "pay_1")


@pytest.mark.parametrize("body", [
    capture_event("BILLING.SUBSCRIPTION.CREATED"), capture_event(value="12.505"), b"{", b"[]",
])
def test_unreadable_or_unexpected_paypal_events_are_refused(body: bytes) -> None:
    with pytest.raises(InvalidWebhookPayload):
        paypal.parse_event(body)


# -- Alipay --------------------------------------------------------------------------------
def test_alipay_signs_the_sorted_parameters_without_sign_sign_type_or_empty_ones() -> None:
    params = {"trade_no": "2", "app_id": "1", "sign": "x", "sign_type": "RSA2", "body": "", "subject": "充值 a&b"}
    assert alipay.signing_string(params) == "app_id=1&subject=充值 a&b&trade_no=2"


def alipay_params(keys: SandboxKeys, **changes: str) -> dict[str, str]:
    params = {"notify_time": "2026-11-24 20:00:01", "notify_type": "trade_status_sync", "notify_id": "ac05099524",
              "app_id": keys.alipay_app_id, "charset": "utf-8", "version": "1.0", "trade_no": "2026112422001",
              "out_trade_no": "pay_1", "trade_status": "TRADE_SUCCESS", "total_amount": "88.80",
              "gmt_payment": "2026-11-24 20:00:00", "subject": "话费 充值"}
    return {**params, **changes}


def alipay_form(params: dict[str, str], key: rsa.RSAPrivateKey, sign_type: str = "RSA2") -> bytes:
    text = "&".join(f"{k}={params[k]}" for k in sorted(params) if params[k])
    return urlencode({**params, "sign_type": sign_type, "sign": rsa_sign(key, text.encode())}).encode()


def read_alipay(keys: SandboxKeys, body: bytes) -> GatewayEvent:
    trust = AlipayTrust(keys.alipay_app_id, keys.alipay_key.public_key())
    return AlipayConnector(trust).read({}, body, NOW)


def test_an_alipay_notification_signed_by_alipay_is_read(keys: SandboxKeys) -> None:
    event = read_alipay(keys, alipay_form(alipay_params(keys), keys.alipay_key))
    assert event.kind is K.PAYMENT_SUCCEEDED
    assert (event.event_id, event.payment_id, event.gateway_ref) == ("ac05099524", "pay_1", "2026112422001")
    assert event.amount == Money(8880, "CNY"), "no trans_currency: CNY"
    assert event.occurred_at == datetime(2026, 11, 24, 12, 0, tzinfo=UTC), "Beijing time"
    foreign = read_alipay(keys, alipay_form(alipay_params(keys, trans_currency="EUR"), keys.alipay_key))
    assert foreign.amount == Money(8880, "EUR")


@pytest.mark.parametrize("case", ["tampered", "wrong key", "other app", "RSA1", "no sign", "twice", "not a form"])
def test_an_alipay_notification_that_does_not_verify_is_refused(keys: SandboxKeys, stranger: rsa.RSAPrivateKey,
                                                                case: str) -> None:
    params = alipay_params(keys)
    body = alipay_form(params, keys.alipay_key)
    if case == "tampered":
        body = body.replace(b"total_amount=88.80", b"total_amount=0.01")
    elif case == "wrong key":
        body = alipay_form(params, stranger)
    elif case == "other app":
        body = alipay_form(alipay_params(keys, app_id="2021000000000000"), keys.alipay_key)
    elif case == "RSA1":
        body = alipay_form(params, keys.alipay_key, sign_type="RSA")
    elif case == "no sign":
        body = urlencode({**params, "sign_type": "RSA2"}).encode()
    elif case == "twice":
        body += b"&trade_status=TRADE_CLOSED"
    else:
        body = b"\xff\xfe"
    with pytest.raises(InvalidSignature):
        read_alipay(keys, body)


def test_alipay_closed_trades_are_refunds_or_failures(keys: SandboxKeys) -> None:
    refunded = read_alipay(keys, alipay_form(alipay_params(
        keys, trade_status="TRADE_CLOSED", refund_fee="88.80", gmt_refund="2026-11-24 21:00:00"), keys.alipay_key))
    assert (refunded.kind, refunded.amount) == (K.REFUND_SUCCEEDED, Money(8880, "CNY"))
    closed = read_alipay(keys, alipay_form(alipay_params(keys, trade_status="TRADE_CLOSED"), keys.alipay_key))
    assert (closed.kind, closed.failure_code) == (K.PAYMENT_FAILED, "trade_closed")
    with pytest.raises(InvalidWebhookPayload):
        read_alipay(keys, alipay_form(alipay_params(keys, trade_status="WAIT_BUYER_PAY"), keys.alipay_key))


# -- WeChat Pay ----------------------------------------------------------------------------
API_V3_KEY = b"0123456789abcdefghijklmnopqrstuv"


def wechat_trust(keys: SandboxKeys) -> WechatTrust:
    return WechatTrust(keys.wechat_mchid, API_V3_KEY, {keys.wechat_serial: keys.wechat_cert}, 300)


def sealed(plain: Mapping[str, object], key: bytes = API_V3_KEY, nonce: str = "Xq8Lw2Mv0Zt5",
           associated_data: str = "transaction") -> dict[str, str]:
    data = AESGCM(key).encrypt(nonce.encode(), json.dumps(plain).encode(), associated_data.encode())
    return {"algorithm": "AEAD_AES_256_GCM", "ciphertext": base64.b64encode(data).decode(), "nonce": nonce,
            "associated_data": associated_data, "original_type": associated_data}


def transaction(keys: SandboxKeys, **changes: object) -> dict[str, object]:
    plain: dict[str, object] = {
        "mchid": keys.wechat_mchid, "appid": keys.wechat_appid, "out_trade_no": "pay_1", "transaction_id": "4200001",
        "trade_state": "SUCCESS", "success_time": "2026-11-24T20:00:00+08:00", "amount": {"total": 8880}}
    return {**plain, **changes}


def wechat_body(resource: dict[str, str]) -> bytes:
    return json.dumps({"id": "EV-2018022511223320873", "create_time": "2026-11-24T20:00:01+08:00",
                       "resource_type": "encrypt-resource", "event_type": "TRANSACTION.SUCCESS", "summary": "支付成功",
                       "resource": resource}, ensure_ascii=False).encode()


def wechat_headers(key: rsa.RSAPrivateKey, body: bytes, serial: str, when: datetime = NOW) -> dict[str, str]:
    timestamp, nonce = str(int(when.timestamp())), "593BEC0C930BF1AFEB40B4A08C8FB242"
    message = timestamp.encode() + b"\n" + nonce.encode() + b"\n" + body + b"\n"
    return {"Wechatpay-Timestamp": timestamp, "Wechatpay-Nonce": nonce, "Wechatpay-Serial": serial,
            "Wechatpay-Signature": rsa_sign(key, message), "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048"}


def test_the_wechat_resource_decrypts_with_the_api_v3_key_only() -> None:
    plain = {"out_trade_no": "pay_1", "amount": {"total": 1}}
    assert wechat.decrypt(sealed(plain), API_V3_KEY) == plain
    resource = sealed(plain)
    with pytest.raises(InvalidSignature):
        wechat.decrypt(resource, b"v" * 32)
    with pytest.raises(InvalidSignature):
        wechat.decrypt({**resource, "associated_data": "refund"}, API_V3_KEY)
    flipped = base64.b64decode(resource["ciphertext"])
    flipped = bytes([flipped[0] ^ 1]) + flipped[1:]
    with pytest.raises(InvalidSignature):
        wechat.decrypt({**resource, "ciphertext": base64.b64encode(flipped).decode()}, API_V3_KEY)
    with pytest.raises(InvalidWebhookPayload):
        wechat.decrypt({**resource, "algorithm": "AES_128_CBC"}, API_V3_KEY)


def test_a_wechat_notification_signed_by_the_platform_is_read(keys: SandboxKeys) -> None:
    body = wechat_body(sealed(transaction(keys)))
    event = WechatConnector(wechat_trust(keys)).read(wechat_headers(keys.wechat_key, body, keys.wechat_serial),
                                                     body, NOW)
    assert (event.event_id, event.kind, event.payment_id, event.gateway_ref, event.amount) == (
        "EV-2018022511223320873", K.PAYMENT_SUCCEEDED, "pay_1", "4200001", Money(8880, "CNY"))
    assert event.occurred_at == datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("case", ["tampered", "wrong key", "unknown serial", "stale", "future", "other api key",
                                  "no nonce"])
def test_a_wechat_notification_that_does_not_verify_is_refused(keys: SandboxKeys, stranger: rsa.RSAPrivateKey,
                                                               case: str) -> None:
    body = wechat_body(sealed(transaction(keys)))
    headers = wechat_headers(keys.wechat_key, body, keys.wechat_serial)
    if case == "tampered":
        body = body.replace("支付成功".encode(), "支付失败".encode())
    elif case == "wrong key":
        headers = wechat_headers(stranger, body, keys.wechat_serial)
    elif case == "unknown serial":
        headers = wechat_headers(keys.wechat_key, body, "5157F09EFDC096DE15EBE81A47057A7232F1B8E1")
    elif case == "stale":
        headers = wechat_headers(keys.wechat_key, body, keys.wechat_serial, NOW - timedelta(seconds=301))
    elif case == "future":
        headers = wechat_headers(keys.wechat_key, body, keys.wechat_serial, NOW + timedelta(seconds=301))
    elif case == "other api key":
        body = wechat_body(sealed(transaction(keys), key=b"k" * 32))
        headers = wechat_headers(keys.wechat_key, body, keys.wechat_serial)
    else:
        del headers["Wechatpay-Nonce"]
    with pytest.raises(InvalidSignature):
        WechatConnector(wechat_trust(keys)).read(headers, body, NOW)


def test_a_wechat_notification_for_another_merchant_is_refused(keys: SandboxKeys) -> None:
    body = wechat_body(sealed(transaction(keys, mchid="1900000109")))
    with pytest.raises(InvalidWebhookPayload):
        WechatConnector(wechat_trust(keys)).read(wechat_headers(keys.wechat_key, body, keys.wechat_serial), body, NOW)


def test_wechat_serials_are_upper_case_hex(keys: SandboxKeys) -> None:
    assert keys.wechat_serial == cert_serial(keys.wechat_cert) == f"{keys.wechat_cert.serial_number:X}"
    assert keys.wechat_serial.isupper() or keys.wechat_serial.isdigit()


# -- the sandbox's side agrees with ours -------------------------------------------------
@pytest.fixture
def session_row() -> Iterator[SandboxSessionRow]:
    yield SandboxSessionRow(id="4200000000000000000000000001", payment_reference="pay_1", amount=8880, currency="CNY",
                            method="wechat_pay", status="approved", provider_ref="CAPTUREID00000001", refunded=False,
                            created_at=NOW)


@pytest.mark.parametrize("kind", [K.PAYMENT_SUCCEEDED, K.REFUND_SUCCEEDED])
def test_what_the_sandbox_providers_send_is_what_we_verify(keys: SandboxKeys, session_row: SandboxSessionRow,
                                                           kind: GatewayEventKind) -> None:
    readers: dict[str, tuple[Notifier, Connector]] = {
        "paypal": (PayPalNotifier(keys, CERT_URL, "u"), PayPalConnector(paypal_trust(keys))),
        "alipay": (AlipayNotifier(keys, "u"),
                   AlipayConnector(AlipayTrust(keys.alipay_app_id, keys.alipay_key.public_key()))),
        "wechat_pay": (WechatNotifier(keys, "u"), WechatConnector(WechatTrust(
            keys.wechat_mchid, keys.wechat_api_v3_key, {keys.wechat_serial: keys.wechat_cert}))),
    }
    for name, (notifier, connector) in readers.items():
        notice = notifier.notice(kind, session_row, NOW)
        assert notice is not None, name
        body = notice.body.encode("utf-8")
        event = connector.read(notifier.headers(notice.body, NOW), body, NOW)
        assert (event.kind, event.payment_id, event.amount, event.event_id) == (
            kind, "pay_1", Money(8880, "CNY"), notice.event_id), name


@pytest.mark.parametrize("kind", [K.PAYMENT_SUCCEEDED, K.REFUND_SUCCEEDED])
def test_what_the_sandbox_sends_verifies_with_what_its_merchant_page_says(keys: SandboxKeys,
                                                                          session_row: SandboxSessionRow,
                                                                          kind: GatewayEventKind) -> None:
    """As deployed: the sandbox's own notifiers, and our connectors built the way the payment
    service builds them, from its merchant page (`GET /sandbox/api/merchant`, JSON)."""
    sandbox = Sandbox.start(Settings(database_urls={}), keys)
    page = json.dumps(sandbox.merchant())
    assert "PRIVATE KEY" not in page, "a merchant is shown public keys and certificates only"
    connectors = wallet_connectors(json.loads(page), 300)
    for name in ("paypal", "alipay", "wechat_pay"):
        notifier = sandbox.notifiers.for_method(name)
        notice = notifier.notice(kind, session_row, NOW)
        assert notice is not None, name
        event = connectors[name].read(notifier.headers(notice.body, NOW), notice.body.encode("utf-8"), NOW)
        assert (event.kind, event.payment_id, event.amount, event.event_id) == (
            kind, "pay_1", Money(8880, "CNY"), notice.event_id), name
    other = Sandbox.start(Settings(database_urls={}), SandboxKeys.generate(NOW - timedelta(days=1)))
    notice = other.notifiers.for_method("alipay").notice(kind, session_row, NOW)
    assert notice is not None
    with pytest.raises(InvalidSignature):  # another deployment's sandbox signs with other keys
        connectors["alipay"].read({}, notice.body.encode("utf-8"), NOW)


def test_qr_wallets_do_not_notify_failures_but_paypal_does(keys: SandboxKeys, session_row: SandboxSessionRow) -> None:
    session_row.failure_code = "payment_declined"
    assert AlipayNotifier(keys, "u").notice(K.PAYMENT_FAILED, session_row, NOW) is None
    assert WechatNotifier(keys, "u").notice(K.PAYMENT_FAILED, session_row, NOW) is None
    denied = PayPalNotifier(keys, CERT_URL, "u").notice(K.PAYMENT_FAILED, session_row, NOW)
    assert denied is not None and json.loads(denied.body)["event_type"] == "PAYMENT.CAPTURE.DENIED"
    session_row.failure_code = "cancelled_by_customer"
    voided = PayPalNotifier(keys, CERT_URL, "u").notice(K.PAYMENT_FAILED, session_row, NOW)
    assert voided is not None and json.loads(voided.body)["event_type"] == "CHECKOUT.ORDER.VOIDED"


def test_each_provider_is_retried_until_its_own_success_answer(keys: SandboxKeys) -> None:
    paypal_n, alipay_n = PayPalNotifier(keys, CERT_URL, "u"), AlipayNotifier(keys, "u")
    wechat_n = WechatNotifier(keys, "u")
    assert paypal_n.accepted(200, "") and paypal_n.accepted(202, "") and not paypal_n.accepted(400, "")
    assert alipay_n.accepted(200, "success") and alipay_n.accepted(200, "success\n")
    assert not alipay_n.accepted(200, "") and not alipay_n.accepted(200, "failure")
    assert not alipay_n.accepted(500, "success") and not alipay_n.accepted(200, '{"received": true}')
    assert wechat_n.accepted(204, "") and wechat_n.accepted(200, "") and not wechat_n.accepted(202, "")
    assert not wechat_n.accepted(401, '{"code": "FAIL"}')


def test_sandbox_keys_survive_storage(keys: SandboxKeys) -> None:
    again = SandboxKeys.load(keys.dump())
    assert again.dump() == keys.dump()
    assert again.wechat_serial == keys.wechat_serial and len(again.wechat_api_v3_key) == 32
