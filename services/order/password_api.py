"""The customer's password over HTTP: ask for a reset, complete it with the emailed token,
or change it while signed in. Each ends every access token issued before it."""

from __future__ import annotations

from typing import Any

from flask import Response, g
from marshmallow import Schema, fields, validate

from services.order.customer_api import TOO_MANY_ATTEMPTS
from services.order.domain.errors import WeakPassword
from services.order.limits import AddressLimits
from services.order.passwords import MIN_LENGTH, ResetTokenInvalid, WrongPassword
from services.order.signin import SignIn
from services.order.web import BEARER, customer_required
from shared.clock import utcnow
from shared.openapi import JSON_BODY, SIGNED_IN, Blueprint, problems
from shared.service import ServiceContext


def new_password() -> fields.String:
    return fields.String(required=True, load_only=True, validate=validate.Length(min=MIN_LENGTH, max=128))


class ResetIn(Schema):
    email = fields.Email(required=True, validate=validate.Length(max=254),
                         metadata={"example": "li.wei@example.com"})


class ResetConfirmIn(Schema):
    token = fields.String(required=True, load_only=True, validate=validate.Length(min=1, max=128),
                          metadata={"description": "the token from the email"})
    password = new_password()


class PasswordChangeIn(Schema):
    current_password = fields.String(required=True, load_only=True, validate=validate.Length(max=128))
    password = new_password()


def build_blueprint(ctx: ServiceContext, limits: AddressLimits, doors: SignIn) -> Blueprint:
    blp = Blueprint("passwords", __name__, url_prefix="/v1/auth", description="Reset or change the password")
    customer_only = customer_required(ctx)

    @blp.route("/password-reset", methods=["POST"])
    @limits.every_try()
    @blp.arguments(ResetIn, example={"email": "li.wei@example.com"})
    @blp.response(202, description="Recorded; an account's owner is emailed a token (nothing in the body).")
    @problems(*JSON_BODY, TOO_MANY_ATTEMPTS)
    def request_reset(body: dict[str, Any]) -> Response:
        """Ask for a password reset by email.

        The owner of an account with this email gets a single-use token, valid 15 minutes,
        in their language. 202 whether or not the email has an account, in the same time:
        the answer tells nobody who is registered."""
        doors.request_reset(body["email"], utcnow())
        return Response(status=202)

    @blp.route("/password-reset/confirm", methods=["POST"])
    @limits.every_try()
    @blp.arguments(ResetConfirmIn, example={"token": "q9Zb3kVwYx0rT2sL8mN4pA6cE1gH5jK7uI0oP3dF2hB",
                                            "password": "a new horse staple"})
    @blp.response(204, description="The new password is set; every earlier access token has ended.")
    @problems(*JSON_BODY, ResetTokenInvalid, WeakPassword, TOO_MANY_ATTEMPTS)
    def confirm_reset(body: dict[str, Any]) -> Response:
        """Set a new password with the emailed token.

        Once: 400 reset_token_invalid if the token is unknown, used or expired. Every access
        token issued before ends, and the customer's other reset tokens too."""
        doors.confirm_reset(body["token"], body["password"], utcnow())
        return Response(status=204)

    @blp.route("/password", methods=["POST"])
    @customer_only
    @limits.failed_tries()
    @blp.arguments(PasswordChangeIn, example={"current_password": "correct horse battery",
                                              "password": "a new horse staple"})
    @blp.response(204, description="Changed; every earlier access token has ended, this one too.")
    @blp.doc(security=BEARER)
    @problems(*JSON_BODY, SIGNED_IN, WrongPassword, WeakPassword, TOO_MANY_ATTEMPTS)
    def change(body: dict[str, Any]) -> Response:
        """Change the password.

        403 wrong_password if the current one is wrong (it counts as a failed login). Every
        access token issued before ends, this one too: log in again."""
        doors.change_password(g.customer_id, body["current_password"], body["password"], utcnow())
        return Response(status=204)

    return blp
