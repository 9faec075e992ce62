"""Gateways' webhooks: `POST /v1/webhooks/<gateway>` (`sandbox` for the card processor,
`paypal`, `alipay`, `wechat_pay`).

Thin on purpose: the gateway's connector authenticates and reads the request, the handler
changes the payment. Whatever failed verification changes nothing. Each provider is
answered the way it expects, because its answer decides whether it retries:

| gateway | received (also a redelivery) | refused (forged, stale, unreadable) |
|---|---|---|
| sandbox, paypal | 200 JSON `{"received": true}` | 400 problem+json |
| alipay | 200 text `success`, only after the notification is stored | 400 text `failure` |
| wechat_pay | 204, no body | 401 (signature) / 400 JSON `{"code": "FAIL", "message": ...}` |

A refused notification is retried by the provider, so a misconfigured key shows at its side.
"""

from __future__ import annotations

from typing import Any

from flask import Response, json, request
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from services.payment import handlers
from services.payment.domain.errors import InvalidSignature, InvalidWebhookPayload, PaymentError
from services.payment.gateways import Gateways
from services.payment.texts import _
from shared.clock import utcnow
from shared.db import unit_of_work
from shared.problems import Problem
from shared.service import ServiceContext


class ReceivedSchema(Schema):
    received = fields.Boolean()
    duplicate = fields.Boolean(metadata={"description": "present (true) when this event was already received"})


def received(gateway: str, fresh: bool) -> Response | dict[str, Any]:
    if gateway == "alipay":
        return Response("success", content_type="text/plain; charset=utf-8")
    if gateway == "wechat_pay":
        return Response(status=204)
    return {"received": True} if fresh else {"received": True, "duplicate": True}


def refused(gateway: str, exc: PaymentError) -> Exception | Response:
    invalid = isinstance(exc, InvalidSignature)
    if gateway == "alipay":
        return Response("failure", status=400, content_type="text/plain; charset=utf-8")
    if gateway == "wechat_pay":
        body = {"code": "FAIL", "message": "签名错误" if invalid else "报文无法解析"}
        return Response(json.dumps(body, ensure_ascii=False), status=401 if invalid else 400,
                        content_type="application/json; charset=utf-8")
    title = _("Invalid webhook signature.") if invalid else _("Unreadable webhook event.")
    return Problem(400, exc.code, title, str(exc))


def build_blueprint(ctx: ServiceContext, gateways: Gateways) -> Blueprint:
    blp = Blueprint("webhooks", __name__, url_prefix="/v1/webhooks",
                    description="Gateway notifications, signed by the gateway")

    @blp.route("/<gateway_name>", methods=["POST"])
    @blp.response(200, ReceivedSchema)
    def receive(gateway_name: str) -> Response | dict[str, Any]:
        raw_body = request.get_data()
        with unit_of_work(ctx.sessions) as session:
            gateway = gateways.named(gateway_name, session)
            if gateway is None:
                raise Problem(404, "unknown_gateway", _("No such gateway."),
                              _("There is no gateway named {name}.", name=gateway_name))
            try:
                event = gateway.verify(dict(request.headers), raw_body, utcnow())
            except (InvalidSignature, InvalidWebhookPayload) as exc:
                answer = refused(gateway_name, exc)
                if isinstance(answer, Exception):
                    raise answer from exc
                return answer
            fresh = handlers.gateway_event(session, gateway.name, event, raw_body)
        return received(gateway_name, fresh)

    return blp
