"""The promotions file (TOML), read and checked once at start: a campaign with a typo must
stop the order service with a message naming it, not quietly price top-ups wrong.

The checks: known kinds and currencies only, whole positive amounts, a discount smaller
than what it applies to, a window that ends after it starts, unique codes and promo codes,
and a name and a description in every language we speak, using only the placeholders the
campaign's kind fills.
"""

from __future__ import annotations

import string
import tomllib
from pathlib import Path
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from services.order.domain.promotions import Campaign, PercentageOff, SpendThreshold, Wording
from shared.i18n import LANGUAGES
from shared.money import CURRENCY_EXPONENTS

DEFAULT_FILE = Path(__file__).parent / "promotions.toml"
PLACEHOLDERS = {"spend_threshold": {"threshold", "off"}, "percentage": {"percent", "minimum"}}
CODE = validate.Regexp(r"^[A-Z0-9_]{2,40}$", error="Use 2 to 40 of A-Z, 0-9 and _.")


class CampaignFileError(ValueError):
    """The promotions file cannot be used; the message says where and why."""


class Amounts(fields.Dict):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(keys=fields.String(validate=validate.OneOf(sorted(CURRENCY_EXPONENTS))),
                         values=fields.Integer(strict=True, validate=validate.Range(min=1)), **kwargs)


class Words(fields.Dict):
    def __init__(self) -> None:
        super().__init__(keys=fields.String(validate=validate.OneOf(LANGUAGES)),
                         values=fields.String(validate=validate.Length(min=1, max=300)), required=True)


class CampaignSchema(Schema):
    class Meta:
        unknown = RAISE

    code = fields.String(required=True, validate=CODE)
    kind = fields.String(required=True, validate=validate.OneOf(sorted(PLACEHOLDERS)))
    name = Words()
    description = Words()
    promo_code = fields.String(load_default=None, validate=CODE)
    starts_at = fields.Raw(load_default=None)
    ends_at = fields.Raw(load_default=None)
    threshold = Amounts(load_default=None)
    off = Amounts(load_default=None)
    percent = fields.Integer(strict=True, load_default=None, validate=validate.Range(min=1, max=90))
    minimum = Amounts(load_default=None)

    @validates_schema
    def _consistent(self, data: dict[str, Any], **_: Any) -> None:
        kind = data.get("kind")
        needed = {"spend_threshold": ("threshold", "off"), "percentage": ("percent", "minimum")}.get(kind or "", ())
        for name in needed:
            if data.get(name) is None:
                raise ValidationError(f"a {kind} campaign needs `{name}`", name)
        if kind == "spend_threshold":
            if set(data["threshold"]) != set(data["off"]):
                raise ValidationError("`threshold` and `off` must name the same currencies", "off")
            for currency, off in data["off"].items():
                if off >= data["threshold"][currency]:
                    raise ValidationError(f"{currency}: the discount must be smaller than the threshold", "off")
        for moment in ("starts_at", "ends_at"):
            value = data.get(moment)
            if value is not None and (not hasattr(value, "tzinfo") or value.tzinfo is None):
                raise ValidationError("a moment with its offset, e.g. 2027-03-01T00:00:00Z", moment)
        if data.get("starts_at") and data.get("ends_at") and data["ends_at"] <= data["starts_at"]:
            raise ValidationError("the window must end after it starts", "ends_at")
        for words in ("name", "description"):
            self._check_words(words, data.get(words) or {}, PLACEHOLDERS.get(kind or "", set()))

    @staticmethod
    def _check_words(field: str, words: dict[str, str], allowed: set[str]) -> None:
        missing = [language for language in LANGUAGES if language not in words]
        if missing:
            raise ValidationError(f"missing the words in {', '.join(missing)}", field)
        for language, text in words.items():
            try:
                used = {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
            except ValueError as exc:
                raise ValidationError(f"{language}: {exc}", field) from None
            if used - allowed:
                raise ValidationError(f"{language}: unknown placeholder(s) {sorted(used - allowed)}; "
                                      f"this kind knows {sorted(allowed)}", field)


def load_campaigns(path: str | Path | None = None) -> tuple[Campaign, ...]:
    source = Path(path) if path else DEFAULT_FILE
    try:
        with source.open("rb") as handle:
            document = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CampaignFileError(f"promotions file {source}: {exc}") from None
    entries = document.get("campaign", [])
    if set(document) - {"campaign"} or not isinstance(entries, list):
        raise CampaignFileError(f"promotions file {source}: only [[campaign]] tables are allowed")
    campaigns = []
    for index, entry in enumerate(entries, start=1):
        try:
            data = CampaignSchema().load(entry)
        except ValidationError as exc:
            label = entry.get("code", f"#{index}") if isinstance(entry, dict) else f"#{index}"
            raise CampaignFileError(f"promotions file {source}, campaign {label}: {exc.messages}") from None
        campaigns.append(build(data))
    for attribute in ("code", "promo_code"):
        values = [getattr(c, attribute) for c in campaigns if getattr(c, attribute)]
        if len(values) != len(set(values)):
            raise CampaignFileError(f"promotions file {source}: two campaigns share a {attribute}")
    return tuple(campaigns)


def build(data: dict[str, Any]) -> Campaign:
    common = {"code": data["code"], "name": Wording(data["name"]), "description": Wording(data["description"]),
              "promo_code": data["promo_code"], "starts_at": data["starts_at"], "ends_at": data["ends_at"]}
    if data["kind"] == "spend_threshold":
        return SpendThreshold(**common, currencies=frozenset(data["threshold"]),
                              threshold_major=data["threshold"], off_major=data["off"])
    return PercentageOff(**common, currencies=frozenset(data["minimum"]), basis_points=data["percent"] * 100,
                         minimum_major=data["minimum"])
