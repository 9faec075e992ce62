"""The sandbox providers' keys: PayPal's signing key and certificate, Alipay's RSA2 key,
WeChat Pay's platform key and certificate and the merchant's API v3 key, plus the ids the
providers give a merchant (PayPal webhook id, Alipay app id, WeChat Pay mchid and appid).

Made locally, never committed. The sandbox's web processes (several gunicorn workers) sign
and serve them, its worker signs the webhooks it sends, so all its processes must hold the
same keys: the first process to start generates them and stores them in the sandbox's own
database (`sandbox_keys`, insert-if-absent: a process that loses the race reads the
winner's), every later start reads them. The payment service learns only the public half
(and the ids), from the sandbox's merchant page, as a merchant from a provider's dashboard.
Loaded at start-up, before any request or message, so that no request ever waits on key generation or writes in another
transaction than its own (on SQLite that would wait on itself). Deriving RSA keys from
WEBHOOK_SECRET instead would need a deterministic key generation that `cryptography` does
not offer, and would make a leaked webhook secret a leaked signing key.
"""

from __future__ import annotations

import json
import secrets
import string
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from services.sandbox.models import SandboxKeyRow
from shared.clock import utcnow
from shared.db import unit_of_work

NAME = "providers-v1"
ALNUM_UPPER = string.ascii_uppercase + string.digits
ALNUM = string.ascii_letters + string.digits


def random_text(alphabet: str, length: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def new_private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def self_signed(key: rsa.RSAPrivateKey, common_name: str, now: datetime, serial: int | None = None) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "topup sandbox"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    return (x509.CertificateBuilder()
            .subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(serial or x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=3650))
            .sign(key, hashes.SHA256()))


def cert_serial(cert: x509.Certificate) -> str:
    """A certificate's serial as WeChat Pay writes it in `Wechatpay-Serial`: upper-case hex."""
    return f"{cert.serial_number:X}"


@dataclass(frozen=True)
class SandboxKeys:
    paypal_key: rsa.RSAPrivateKey
    paypal_cert: x509.Certificate
    paypal_cert_id: str
    paypal_webhook_id: str
    alipay_key: rsa.RSAPrivateKey
    alipay_app_id: str
    wechat_key: rsa.RSAPrivateKey
    wechat_cert: x509.Certificate
    wechat_api_v3_key: bytes
    wechat_mchid: str
    wechat_appid: str

    @property
    def wechat_serial(self) -> str:
        return cert_serial(self.wechat_cert)

    @classmethod
    def generate(cls, now: datetime) -> SandboxKeys:
        paypal_key, wechat_key = new_private_key(), new_private_key()
        return cls(
            paypal_key=paypal_key,
            paypal_cert=self_signed(paypal_key, "messageverificationcerts.sandbox.paypal.topup.example", now),
            paypal_cert_id="CERT-" + "-".join(secrets.token_hex(4) for _ in range(3)),
            paypal_webhook_id=random_text(ALNUM_UPPER, 17),
            alipay_key=new_private_key(),
            alipay_app_id="2021" + random_text(string.digits, 12),
            wechat_key=wechat_key,
            wechat_cert=self_signed(wechat_key, "Tenpay.com Root CA (topup sandbox)", now),
            wechat_api_v3_key=random_text(ALNUM, 32).encode(),
            wechat_mchid="19" + random_text(string.digits, 8),
            wechat_appid="wx" + secrets.token_hex(8),
        )

    def dump(self) -> str:
        def pem(key: rsa.RSAPrivateKey) -> str:
            return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption()).decode()

        def cert(value: x509.Certificate) -> str:
            return value.public_bytes(serialization.Encoding.PEM).decode()

        return json.dumps({
            "paypal_key": pem(self.paypal_key), "paypal_cert": cert(self.paypal_cert),
            "paypal_cert_id": self.paypal_cert_id, "paypal_webhook_id": self.paypal_webhook_id,
            "alipay_key": pem(self.alipay_key), "alipay_app_id": self.alipay_app_id,
            "wechat_key": pem(self.wechat_key), "wechat_cert": cert(self.wechat_cert),
            "wechat_api_v3_key": self.wechat_api_v3_key.decode(), "wechat_mchid": self.wechat_mchid,
            "wechat_appid": self.wechat_appid,
        })

    @classmethod
    def load(cls, material: str) -> SandboxKeys:
        data = json.loads(material)

        def key(name: str) -> rsa.RSAPrivateKey:
            loaded = serialization.load_pem_private_key(data[name].encode(), password=None)
            if not isinstance(loaded, rsa.RSAPrivateKey):
                raise TypeError(f"sandbox key {name} is not an RSA key")
            return loaded

        return cls(
            paypal_key=key("paypal_key"), paypal_cert=x509.load_pem_x509_certificate(data["paypal_cert"].encode()),
            paypal_cert_id=data["paypal_cert_id"], paypal_webhook_id=data["paypal_webhook_id"],
            alipay_key=key("alipay_key"), alipay_app_id=data["alipay_app_id"],
            wechat_key=key("wechat_key"), wechat_cert=x509.load_pem_x509_certificate(data["wechat_cert"].encode()),
            wechat_api_v3_key=data["wechat_api_v3_key"].encode(), wechat_mchid=data["wechat_mchid"],
            wechat_appid=data["wechat_appid"],
        )

    @classmethod
    def ensure(cls, sessions: sessionmaker[Session]) -> SandboxKeys:
        """This deployment's keys: read them, or make them if this is the first start."""
        with sessions() as session:
            row = session.get(SandboxKeyRow, NAME)
            if row is not None:
                return cls.load(row.material)
        try:
            with unit_of_work(sessions) as session:
                session.add(SandboxKeyRow(name=NAME, material=cls.generate(utcnow()).dump()))
        except IntegrityError:
            pass  # another process was first: use its keys
        with sessions() as session:
            stored = session.get(SandboxKeyRow, NAME)
            if stored is None:
                raise RuntimeError("sandbox keys were neither found nor stored")
            return cls.load(stored.material)
