"""Gateways' webhooks: `POST /v1/webhooks/<gateway>` (the sandbox posts to /v1/webhooks/sandbox).

Thin on purpose: the gateway adapter authenticates and reads the request, the handler
changes the payment. A request that fails verification changes nothing and answers 400,
so a misconfigured secret is visible at the gateway's side; anything we accepted answers
200, including redeliveries, so the gateway stops retrying.
"""

from __future__ import annotations

from typing import Any

from flask import request
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from services.payment import handlers
from services.payment.domain.errors import InvalidSignature, InvalidWebhookPayload
from services.payment.gateways import Gateways
from shared.clock import utcnow
from shared.db import unit_of_work
from shared.problems import Problem
from shared.service import ServiceContext


class ReceivedSchema(Schema):
    received = fields.Boolean()
    duplicate = fields.Boolean(metadata={"description": "present (true) when this event was already received"})


def build_blueprint(ctx: ServiceContext, gateways: Gateways) -> Blueprint:
    blp = Blueprint("webhooks", __name__, url_prefix="/v1/webhooks",
                    description="Gateway notifications, signed by the gateway")

    @blp.route("/<gateway_name>", methods=["POST"])
    @blp.response(200, ReceivedSchema)
    def receive(gateway_name: str) -> dict[str, Any]:
        raw_body = request.get_data()
        with unit_of_work(ctx.sessions) as session:
            gateway = gateways.named(gateway_name, session)
            if gateway is None:
                raise Problem(404, "unknown_gateway", "No such gateway.", f"No gateway named {gateway_name!r}.")
            try:
                event = gateway.verify(dict(request.headers), raw_body, utcnow())
            except InvalidSignature as exc:
                raise Problem(400, exc.code, "Invalid webhook signature.", str(exc)) from exc
            except InvalidWebhookPayload as exc:
                raise Problem(400, exc.code, "Unreadable webhook event.", str(exc)) from exc
            fresh = handlers.gateway_event(session, gateway.name, event, raw_body)
        return {"received": True} if fresh else {"received": True, "duplicate": True}

    return blp
