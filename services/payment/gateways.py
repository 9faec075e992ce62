"""Which gateway serves which payment method, decided once from the settings.

Today only cards have a gateway, and only the sandbox one; PayPal, Alipay and WeChat Pay
get theirs here when they are integrated. A method with no gateway fails its payments with
`method_unavailable` rather than leaving the customer waiting.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from sqlalchemy.orm import Session

from services.payment.domain.gateway import Gateway
from services.payment.sandbox.gateway import NAME as SANDBOX
from services.payment.sandbox.gateway import SandboxCardGateway
from shared.config import Settings

GatewayFactory = Callable[[Session], Gateway]


@dataclass(frozen=True)
class Gateways:
    factories: dict[str, GatewayFactory] = field(default_factory=dict)
    by_method: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Settings) -> Gateways:
        if not settings.sandbox_enabled:
            return cls()
        return cls({SANDBOX: partial(SandboxCardGateway, settings=settings)}, {"card": SANDBOX})

    def named(self, name: str | None, session: Session) -> Gateway | None:
        """The gateway a payment was made with (for refunds, cancels and its webhooks)."""
        factory = self.factories.get(name or "")
        return factory(session) if factory else None

    def for_method(self, method: str, session: Session) -> Gateway | None:
        return self.named(self.by_method.get(method), session)
