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

import structlog
from flask import Response, json, request
from marshmallow import Schema, fields

from services.payment import handlers
from services.payment.domain.errors import GatewayError, InvalidSignature, InvalidWebhookPayload, PaymentError
from services.payment.gateways import Gateways
from services.payment.handlers import GATEWAY_UNAVAILABLE
from services.payment.texts import _
from shared.clock import utcnow
from shared.db import unit_of_work
from shared.openapi import MALFORMED_JSON, PAYLOAD_TOO_LARGE, Blueprint, problem_responses, refusal
from shared.problems import Problem, problem_response
from shared.service import ServiceContext

log = structlog.get_logger(__name__)
#: when a provider whose keys could not be read yet is asked to notify again
RETRY_SECONDS = 30


class ReceivedSchema(Schema):
    received = fields.Boolean()
    duplicate = fields.Boolean(metadata={"description": "present (true) when this event was already received"})


WECHAT_FAIL = {"type": "object", "required": ["code", "message"],
               "properties": {"code": {"type": "string", "enum": ["FAIL"]},
                              "message": {"type": "string", "description": "why, in Chinese, as WeChat Pay expects"}}}


def webhook_responses() -> dict[int, Any]:
    """Each provider's answers, as the table above says: problem+json for ours, and the
    plain text or JSON Alipay and WeChat Pay expect from a merchant."""
    responses: dict[int, Any] = dict(problem_responses([
        MALFORMED_JSON, PAYLOAD_TOO_LARGE,
        refusal(400, InvalidSignature.code, _("Invalid webhook signature."),
                note="sandbox, paypal: the signature is missing, wrong or outside its time window."),
        refusal(400, InvalidWebhookPayload.code, _("Unreadable webhook event."),
                note="sandbox, paypal: a correctly signed event we cannot read."),
        refusal(404, "unknown_gateway", _("No such gateway."), note="No gateway has this name here."),
        refusal(503, GATEWAY_UNAVAILABLE, _("This notification cannot be checked now."),
                note="paypal, alipay, wechat_pay: what we trust about the provider (its keys and certificates) "
                     "could not be read from it yet; it sends the notification again.", retry_after=True),
    ]))
    failure = {"schema": {"type": "string", "enum": ["failure"]}, "example": "failure"}
    wechat = {"schema": WECHAT_FAIL, "example": {"code": "FAIL", "message": "签名错误"}}
    responses[400]["description"] += ("\n- alipay: the text `failure` (Alipay notifies again)"
                                      "\n- wechat_pay: `{\"code\": \"FAIL\", \"message\": ...}` for an unreadable one")
    responses[400]["content"].update({"text/plain": failure, "application/json": wechat})
    responses[401] = {"description": "wechat_pay: the signature is wrong (WeChat Pay notifies again)",
                      "content": {"application/json": wechat}}
    responses[200] = {"description": "Received (also a redelivery): JSON for sandbox and paypal; the text `success` "
                                     "for alipay, once the notification is stored",
                      "content": {"text/plain": {"schema": {"type": "string", "enum": ["success"]},
                                                 "example": "success"}}}
    return responses


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


def gateway_name(gateways: Gateways) -> dict[str, Any]:
    """The path parameter: the gateways this deployment has, by name (any other: 404)."""
    names = sorted(gateways.factories)
    return {"in": "path", "name": "gateway_name", "required": True,
            "description": "`sandbox` (cards), `paypal`, `alipay` or `wechat_pay`, where configured",
            "schema": {"type": "string", **({"enum": names} if names else {"minLength": 1})}}


WEBHOOK_BODY = {
    "description": "the gateway's event as it sends it, signed (the table above); at most WEBHOOK_MAX_BODY_BYTES",
    "required": True,
    "content": {
        "application/json": {"schema": {"type": "object"}, "example": {
            "id": "evt_7f3a", "type": "payment.succeeded", "created": 1740821520,
            "data": {"session_id": "cs_9b1e", "payment_reference": "pay_2d9e41", "amount": 9000, "currency": "EUR",
                     "card": {"brand": "visa", "last4": "4242"}, "failure_code": None}}},
        "application/x-www-form-urlencoded": {"schema": {"type": "object"}},
    },
}


def build_blueprint(ctx: ServiceContext, gateways: Gateways) -> Blueprint:
    blp = Blueprint("webhooks", __name__, url_prefix="/v1/webhooks",
                    description="Gateway notifications, signed by the gateway")

    @blp.route("/<gateway_name>", methods=["POST"])
    @blp.response(200, ReceivedSchema, example={"received": True})
    @blp.alt_response(204, description="Received: wechat_pay (also a redelivery)", success=True)
    @blp.doc(requestBody=WEBHOOK_BODY, responses=webhook_responses(),
             parameters=[gateway_name(gateways)])
    def receive(gateway_name: str) -> Response | dict[str, Any]:
        """A gateway's notification of a payment or refund.

        Verified the gateway's way (signature and time window) before anything changes; a
        duplicate changes nothing twice."""
        raw_body = request.get_data()
        with unit_of_work(ctx.sessions) as session:
            gateway = gateways.named(gateway_name)
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
            except GatewayError:  # what we trust about the gateway cannot be read now: it sends again
                log.warning("webhook_not_checked", gateway=gateway_name, reason="trust unreadable")
                return problem_response(503, GATEWAY_UNAVAILABLE, _("This notification cannot be checked now."),
                                        _("Send it again later."), headers={"Retry-After": str(RETRY_SECONDS)})
            applied = handlers.gateway_event(session, gateway.name, event, raw_body)
        return received(gateway_name, applied.fresh)

    return blp
