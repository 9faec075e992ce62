"""The promotions file is checked at start: a mistake stops the service with a message that
names the campaign and the field, instead of pricing top-ups wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.order.campaigns import DEFAULT_FILE, CampaignFileError, load_campaigns

GOOD = '''
[[campaign]]
code = "TEN"
kind = "spend_threshold"
promo_code = "TEN"
starts_at = 2027-01-01T00:00:00Z
ends_at = 2027-02-01T00:00:00Z
name = { en = "Spend {threshold}, get {off} off", "zh-CN" = "满{threshold}减{off}" }
description = { en = "Spend {threshold}.", "zh-CN" = "满{threshold}。" }
threshold = { EUR = 100 }
off = { EUR = 10 }
'''


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "promotions.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_shipped_file_is_valid_and_loaded_by_default() -> None:
    codes = {c.code for c in load_campaigns()}
    assert {"SPEND100GET10", "BIG5", "WELCOME10", "SPRING2027"} <= codes
    assert load_campaigns(DEFAULT_FILE) == load_campaigns(None)


def test_a_good_file_gives_its_campaigns(tmp_path: Path) -> None:
    [campaign] = load_campaigns(write(tmp_path, GOOD))
    assert campaign.promo_code == "TEN" and campaign.currencies == frozenset({"EUR"})
    assert campaign.starts_at is not None and campaign.starts_at.year == 2027


@pytest.mark.parametrize(("change", "complaint"), [
    (('kind = "spend_threshold"', 'kind = "buy_one_get_one"'), "kind"),
    (("off = { EUR = 10 }", "off = { EUR = 100 }"), "smaller than the threshold"),
    (("threshold = { EUR = 100 }", "threshold = { EUR = 100, XXX = 5 }"), "threshold"),
    (("threshold = { EUR = 100 }", "threshold = { EUR = 100.5 }"), "threshold"),
    (('"zh-CN" = "满{threshold}减{off}" ', ""), "missing the words in zh-CN"),
    (("get {off} off", "get {percent} off"), "unknown placeholder"),
    (("ends_at = 2027-02-01T00:00:00Z", "ends_at = 2026-12-01T00:00:00Z"), "end after it starts"),
    (("starts_at = 2027-01-01T00:00:00Z", "starts_at = 2027-01-01T00:00:00"), "offset"),
    (('code = "TEN"', 'code = "ten percent"'), "code"),
    (('promo_code = "TEN"', 'promo_code = "TEN"\nsurprise = 1'), "surprise"),
])
def test_a_mistake_is_named_with_its_campaign(tmp_path: Path, change: tuple[str, str], complaint: str) -> None:
    broken = GOOD.replace(*change).replace(', }', ' }')
    assert broken != GOOD
    with pytest.raises(CampaignFileError) as error:
        load_campaigns(write(tmp_path, broken))
    assert complaint in str(error.value) and "campaign" in str(error.value)


def test_two_campaigns_may_not_share_a_code_nor_a_promo_code(tmp_path: Path) -> None:
    with pytest.raises(CampaignFileError, match="share a code"):
        load_campaigns(write(tmp_path, GOOD + GOOD))


def test_a_missing_or_unreadable_file_is_said_so(tmp_path: Path) -> None:
    with pytest.raises(CampaignFileError, match="promotions file"):
        load_campaigns(tmp_path / "nowhere.toml")
    with pytest.raises(CampaignFileError, match="promotions file"):
        load_campaigns(write(tmp_path, "[[campaign]\nbroken"))
