"""Which gateway serves which payment method, decided once at start.

Today every gateway is a sandbox one (cards, PayPal, Alipay, WeChat Pay); a real provider's
connector takes the same name (`paypal`, ...) when it is integrated, so its webhooks arrive
at the same /v1/webhooks/<name>. A method with no gateway fails its payments with
`method_unavailable` rather than leaving the customer waiting.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from sqlalchemy.orm import Session

from services.payment.domain.gateway import Gateway
from services.payment.sandbox.gateway import Sandbox, SandboxGateway
from services.payment.sandbox.keys import SandboxKeys
from services.payment.sandbox.notifiers import METHOD_PROVIDERS
from services.payment.settings import PaymentSettings
from shared.service import ServiceContext

GatewayFactory = Callable[[Session], Gateway]


@dataclass(frozen=True)
class Gateways:
    factories: dict[str, GatewayFactory] = field(default_factory=dict)
    by_method: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of_sandbox(cls, sandbox: Sandbox | None) -> Gateways:
        if sandbox is None:
            return cls()
        factories: dict[str, GatewayFactory] = {
            name: partial(SandboxGateway, connector=connector, sandbox=sandbox)
            for name, connector in sandbox.connectors().items()
        }
        return cls(factories, dict(METHOD_PROVIDERS))

    @classmethod
    def from_context(cls, ctx: ServiceContext, options: PaymentSettings) -> Gateways:
        return cls.of_sandbox(start_sandbox(ctx, options))

    def named(self, name: str | None, session: Session) -> Gateway | None:
        """The gateway a payment was made with (for refunds, cancels and its webhooks)."""
        factory = self.factories.get(name or "")
        return factory(session) if factory else None

    def for_method(self, method: str, session: Session) -> Gateway | None:
        return self.named(self.by_method.get(method), session)


def start_sandbox(ctx: ServiceContext, options: PaymentSettings) -> Sandbox | None:
    """The sandbox gateways of this deployment, with their keys (made at the first start)."""
    if not ctx.settings.sandbox_enabled:
        return None
    return Sandbox.start(ctx.settings, options, SandboxKeys.ensure(ctx.sessions))
