"""Which gateway serves which payment method, decided once at start.

Today every gateway is a sandbox one (cards, PayPal, Alipay, WeChat Pay: services/sandbox,
reached over HTTP by connectors/sandbox.py); a real provider's adapter takes the same name
(`paypal`, ...) when it is integrated, so its webhooks arrive at the same
/v1/webhooks/<name>. A method with no gateway fails its payments with `method_unavailable`
rather than leaving the customer waiting.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from services.payment.connectors.sandbox import METHOD_PROVIDERS, SandboxConnection, SandboxGateway
from services.payment.domain.gateway import Gateway
from shared.config import Settings

GatewayFactory = Callable[[], Gateway]


@dataclass(frozen=True)
class Gateways:
    factories: dict[str, GatewayFactory] = field(default_factory=dict)
    by_method: dict[str, str] = field(default_factory=dict)
    #: the sandbox's connection, when the sandbox gateways are on (its settlement reports)
    sandbox: SandboxConnection | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Gateways:
        if not settings.sandbox_enabled:
            return cls()
        connection = SandboxConnection(settings)
        factories: dict[str, GatewayFactory] = {
            name: partial(SandboxGateway, name, connection) for name in set(METHOD_PROVIDERS.values())}
        return cls(factories, dict(METHOD_PROVIDERS), connection)

    def named(self, name: str | None) -> Gateway | None:
        """The gateway a payment was made with (for refunds, cancels and its webhooks)."""
        factory = self.factories.get(name or "")
        return factory() if factory else None

    def for_method(self, method: str) -> Gateway | None:
        return self.named(self.by_method.get(method))
