"""What the connectors share: a connector's shape, header lookup, SHA256withRSA checks."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from datetime import datetime
from typing import Protocol

from cryptography.exceptions import InvalidSignature as BadSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from services.payment.domain.errors import InvalidSignature
from services.payment.domain.gateway import GatewayEvent


class Connector(Protocol):
    name: str

    def read(self, headers: Mapping[str, str], raw_body: bytes, now: datetime) -> GatewayEvent:
        """Authenticate a notification and read it; InvalidSignature / InvalidWebhookPayload if not."""
        ...


def header(headers: Mapping[str, str], name: str) -> str:
    """A required header, whatever its case on the wire."""
    wanted = name.lower()
    value = next((v for k, v in headers.items() if k.lower() == wanted), None)
    if not value:
        raise InvalidSignature(f"missing header {name}")
    return value


def b64decode(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidSignature(f"{what} is not base64") from exc


def verify_sha256_rsa(public_key: object, signature_b64: str, message: bytes) -> None:
    """SHA256withRSA (RSASSA-PKCS1-v1_5 over SHA-256), the scheme of all three providers."""
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise InvalidSignature("the trusted key is not an RSA key")
    try:
        public_key.verify(b64decode(signature_b64, "the signature"), message, padding.PKCS1v15(), hashes.SHA256())
    except BadSignature as exc:
        raise InvalidSignature("signature does not match") from exc


def sign_sha256_rsa(private_key: rsa.RSAPrivateKey, message: bytes) -> str:
    """The providers' side (the sandbox signs with it): base64 of the SHA256withRSA signature."""
    return base64.b64encode(private_key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()
