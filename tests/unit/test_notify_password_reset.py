"""The password-reset email as the customer reads it, in English and Simplified Chinese: what
happened, the link (or the code), how long it works, that it works once, and what to do
if it was not them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.notify.domain.password_reset import PasswordReset, reset_link

NOW = datetime(2026, 11, 29, 2, 0, tzinfo=UTC)
TOKEN = "q7J-2b_Xk9+/Zr8=Lm4TwY3vNc5"  # characters that must be encoded in a URL


def test_the_english_email_links_to_the_reset_page_with_the_token_encoded() -> None:
    email = PasswordReset(TOKEN, NOW + timedelta(minutes=15), "Europe/Berlin",
                          "https://app.example/reset").email(NOW).render("en")
    link = "https://app.example/reset?token=q7J-2b_Xk9%2B%2FZr8%3DLm4TwY3vNc5"
    assert email.subject == "Reset your password" and email.language == "en"
    assert email.text_body.startswith("Someone asked to reset the password of your account.\n"
                                      "To choose a new password, open this link:\n\n" + link + "\n")
    assert "The link works for 15 minutes and only once." in email.text_body
    assert "If it was not you, ignore this email: your password has not been changed." in email.text_body
    assert "Valid until: November 29, 2026, 3:15:00" in email.text_body.replace("\u202f", " ")
    assert f'<a href="{link}">{link}</a>' in email.html_body
    assert TOKEN not in email.text_body, "only in its encoded form"


def test_the_chinese_email_says_the_same_in_chinese() -> None:
    email = PasswordReset(TOKEN, NOW + timedelta(minutes=15), "Asia/Shanghai",
                          "https://app.example/reset?from=mail").email(NOW).render("zh-CN")
    link = "https://app.example/reset?from=mail&token=q7J-2b_Xk9%2B%2FZr8%3DLm4TwY3vNc5"
    assert email.subject == "重置您的密码"
    for body in (email.text_body, email.html_body.replace("&amp;", "&")):
        assert "有人申请重置您账户的密码。" in body and link in body
        assert "该链接的有效期为 15分钟，且仅可使用一次。" in body
        assert "如果这不是您本人的操作，请忽略此邮件，您的密码保持不变。" in body
    assert "有效期至：2026年11月29日 中国标准时间 10:15:00" in email.text_body
    assert '<html lang="zh-CN">' in email.html_body


def test_without_a_reset_page_the_customer_gets_the_code_to_type() -> None:
    for language, words in (("en", ("Reset code: " + TOKEN, "The code works for 15 minutes and only once.")),
                            ("zh-CN", ("重置码：" + TOKEN, "该重置码的有效期为 15分钟，且仅可使用一次。"))):
        email = PasswordReset(TOKEN, NOW + timedelta(minutes=15)).email(NOW).render(language)
        for expected in words:
            assert expected in email.text_body
        assert "href" not in email.html_body


def test_how_long_it_works_is_read_from_the_expiry_not_assumed() -> None:
    reset = PasswordReset(TOKEN, NOW + timedelta(minutes=15))
    assert "works for 15 minutes" in reset.email(NOW + timedelta(seconds=1)).render("en").text_body
    assert "works for 10 minutes" in reset.email(NOW + timedelta(minutes=5)).render("en").text_body
    assert "works for 1 hour" in PasswordReset(TOKEN, NOW + timedelta(hours=1)).email(NOW).render("en").text_body
    assert "有效期为 30分钟" in PasswordReset(TOKEN, NOW + timedelta(minutes=30)).email(NOW).render("zh-CN").text_body
    assert reset.expired(NOW + timedelta(minutes=15)) and not reset.expired(NOW)


def test_a_reset_page_cannot_inject_markup_into_the_html() -> None:
    email = PasswordReset(TOKEN, NOW + timedelta(minutes=15), page='https://x.example/"><script>').email(NOW)
    html = email.render("en").html_body
    assert "<script>" not in html and "&quot;&gt;&lt;script&gt;" in html
    assert reset_link("https://x.example/r", "a b&c") == "https://x.example/r?token=a+b%26c"
