"""Readers in their own language in a real Chromium (issue 12): the whole path in Arabic and in
Russian (sign-up, confirmation mail, digest, unsubscribe), and right-to-left layout.

Screenshots of the Arabic and Persian pages and digest go to $SCREENSHOT_DIR if set, else to a
pytest temporary directory (printed); they are artefacts, not committed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from mailer.digests.content import render_digest
from mailer.digests.service import create_digest
from mailer.digests.slots import fill_slots, sample_slots
from mailer.extensions import db
from mailer.models import (
    Article,
    MailingList,
    Subscriber,
    Subscription,
    SubscriptionStatus,
)
from mailer.privacy import address_hash
from mailer.subscriptions import links
from tests.conftest import SmtpServer
from tests.integration.test_browser import launched_chromium

pytestmark = [pytest.mark.browser, pytest.mark.integration]

# What a reader sees at each step, in the catalogue's words.
PATH = {
    "ar": {
        "signup": "اشترك في التحديثات الأسبوعية",
        "email": "عنوان البريد الإلكتروني",
        "consent": "أوافق على تلقي هذه الرسائل",
        "button": "اشترك",
        "inbox": "تحقّق من بريدك الوارد",
        "subject": "أكّد اشتراكك في",
        "mail_text": "يُرجى تأكيد رغبتك في تلقي:",
        "confirm_heading": "أكّد اشتراكك",
        "confirm": "تأكيد",
        "subscribed": "أنت مشترك الآن",
        "digest_text": "تصلك هذه الرسالة لأنك اشتركت في",
        "unsubscribe_label": "إلغاء الاشتراك",
        "unsubscribed": "أُلغي اشتراكك",
    },
    "ru": {
        "signup": "Подпишитесь на еженедельную рассылку",
        "email": "Адрес электронной почты",
        "consent": "Соглашаюсь получать эти письма",
        "button": "Подписаться",
        "inbox": "Проверьте почту",
        "subject": "Подтвердите подписку на",
        "mail_text": "Подтвердите, пожалуйста, что хотите получать:",
        "confirm_heading": "Подтвердите подписку",
        "confirm": "Подтвердить",
        "subscribed": "Вы подписаны",
        "digest_text": "Вы получаете это письмо, потому что подписались на",
        "unsubscribe_label": "Отписаться",
        "unsubscribed": "Вы отписались",
    },
}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with launched_chromium() as browser:
        yield browser


@pytest.fixture
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = Path(os.environ.get("SCREENSHOT_DIR") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"screenshots in {folder}")
    return folder


def new_page(browser: Browser, locale: str = "en-US") -> Page:
    """A page whose browser asks for `locale` (Accept-Language)."""
    return browser.new_context(locale=locale).new_page()


def text_of(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


def html_of(message: EmailMessage) -> str:
    body = message.get_body(("html",))
    assert body is not None
    return str(body.get_content())


def page_direction(page: Page) -> tuple[str, str, str]:
    """The root's lang and dir attributes, and the direction the browser computed."""
    lang, attr, computed = page.evaluate(
        "[document.documentElement.lang, document.documentElement.dir,"
        " getComputedStyle(document.body).direction]"
    )
    return lang, attr, computed


def seed_stories(app: Flask, language: str) -> None:
    """Stories to send, and the list's language (the digest's chrome) set to the reader's."""
    with app.app_context():
        weekly = db.session.scalar(select(MailingList).where(MailingList.slug == "weekly"))
        assert weekly is not None
        weekly.language = language
        now = datetime.now(UTC)
        for i in range(2):
            db.session.add(
                Article(
                    guid=f"story-{i}",
                    link=f"https://news.example.org/story-{i}",
                    title=f"Story number {i}",
                    summary=f"What happened in story {i}.",
                    author="Nadia Writer",
                    published_at=now - timedelta(hours=i + 1),
                )
            )
        db.session.commit()


def status(app: Flask) -> str:
    with app.app_context():
        return str(db.session.scalars(select(Subscription.status)).one().value)


@pytest.mark.parametrize("language", ["ar", "ru"])
def test_whole_path_in_the_readers_language(
    live_app: Flask, live_server: str, smtp_server: SmtpServer, browser: Browser, language: str
) -> None:
    words = PATH[language]
    seed_stories(live_app, language)
    if language == "ar":  # the browser asks for Arabic
        page = new_page(browser, "ar")
        page.goto(f"{live_server}/subscribe")
    else:  # an English browser picks Russian in the switcher
        page = new_page(browser, "en-US")
        page.goto(f"{live_server}/subscribe")
        expect(page.get_by_role("heading", name="Sign up for weekly updates")).to_be_visible()
        page.get_by_role("link", name="Русский").click()
        expect(page).to_have_url(re.compile(r"lang=ru"))
    expect(page.get_by_role("heading", name=words["signup"])).to_be_visible()
    direction = "rtl" if language == "ar" else "ltr"
    assert page_direction(page) == (language, direction, direction)
    expect(page.locator("select[name=language]")).to_have_value(language)

    page.get_by_label(words["email"]).fill(f"{language}.reader@example.org")
    page.get_by_label(words["consent"]).check()
    page.get_by_role("button", name=words["button"], exact=True).click()
    expect(page.get_by_role("heading", name=words["inbox"])).to_be_visible(timeout=20_000)

    (confirmation,) = smtp_server.wait_for(1)
    mail = confirmation.message
    assert str(mail["Subject"]).startswith(words["subject"])
    assert words["mail_text"] in text_of(mail)
    assert f'<html lang="{language}" dir="{direction}">' in html_of(mail)
    found = re.search(r"http://localhost(/confirm/\S+)", text_of(mail))
    assert found
    page.goto(live_server + found.group(1))
    expect(page.get_by_role("heading", name=words["confirm_heading"])).to_be_visible()
    page.get_by_role("button", name=words["confirm"], exact=True).click()
    expect(page.get_by_role("heading", name=words["subscribed"])).to_be_visible()
    assert status(live_app) == "confirmed"

    sent = live_app.test_cli_runner().invoke(args=["digest", "send", "--list", "weekly"])
    assert sent.exit_code == 0, sent.output
    digest = smtp_server.wait_for(2, timeout=60.0)[1].message
    digest_text = text_of(digest)
    assert words["digest_text"] in digest_text
    assert f'<html lang="{language}" dir="{direction}">' in html_of(digest)
    found = re.search(
        rf"{words['unsubscribe_label']}: http://localhost(/unsubscribe/\S+)", digest_text
    )
    assert found, digest_text
    page.goto(live_server + found.group(1))
    expect(page.get_by_role("heading", name=words["unsubscribe_label"])).to_be_visible()
    assert page_direction(page)[2] == direction
    page.get_by_role("button", name=words["unsubscribe_label"]).click()
    expect(page.get_by_role("heading", name=words["unsubscribed"])).to_be_visible()
    assert status(live_app) == "unsubscribed"
    page.context.close()


def reader(app: Flask, language: str) -> str:
    """A confirmed reader whose saved language is `language`; their preferences path."""
    with app.app_context():
        weekly = db.session.scalar(select(MailingList).where(MailingList.slug == "weekly"))
        email = f"{language}.rtl@example.org"
        subscriber = Subscriber(email=email, address_hash=address_hash(email), language=language)
        subscriber.subscriptions.append(
            Subscription(mailing_list=weekly, status=SubscriptionStatus.confirmed)
        )
        db.session.add(subscriber)
        db.session.commit()
        return f"/preferences/{links.preferences_token(subscriber)}"


def digest_html(app: Flask, language: str) -> str:
    with app.app_context():
        weekly = db.session.scalar(select(MailingList).where(MailingList.slug == "weekly"))
        assert weekly is not None
        digest = create_digest(
            weekly,
            list(db.session.scalars(select(Article))),
            subject="This week: freed voices, banned books",
            intro="A short week, and good news for once.",
        )
        db.session.flush()
        html, _text = fill_slots(render_digest(digest, language=language), sample_slots(language))
        db.session.rollback()
        return html


def assert_mirrored(page: Page) -> None:
    """Right to left: the masthead's name sits at the right, a checkbox right of its label."""
    width = page.viewport_size["width"] if page.viewport_size else 1280
    brand = page.locator("a.brand").bounding_box()
    assert brand is not None and brand["x"] > width / 2
    box = page.locator("input[type=checkbox]").first.bounding_box()
    label = page.locator("input[type=checkbox] + label").first.bounding_box()
    assert box is not None and label is not None and box["x"] > label["x"]


@pytest.mark.parametrize("language", ["ar", "fa"])
def test_right_to_left_pages_and_digest(
    live_app: Flask, live_server: str, browser: Browser, screenshots: Path, language: str
) -> None:
    seed_stories(live_app, "en")
    page = new_page(browser, "en-US")
    page.goto(f"{live_server}/subscribe?lang={language}")
    assert page_direction(page) == (language, "rtl", "rtl")
    assert_mirrored(page)
    page.screenshot(path=screenshots / f"{language}-signup.png", full_page=True)

    page.goto(live_server + reader(live_app, language))  # the saved language, no ?lang=
    assert page_direction(page) == (language, "rtl", "rtl")
    assert_mirrored(page)
    page.screenshot(path=screenshots / f"{language}-preferences.png", full_page=True)

    page.context.close()
    # A fresh page: one opened from our site would keep the site's CSP, which blocks the mail's
    # inline styles (the archive shows issues in a sandboxed frame for that reason).
    page = new_page(browser)
    page.set_content(digest_html(live_app, language))
    assert page_direction(page) == (language, "rtl", "rtl")
    layout = page.evaluate(
        "Array.from(document.querySelectorAll('table.outer, table.inner'))"
        ".map(t => getComputedStyle(t).direction)"
    )
    assert layout and set(layout) == {"rtl"}
    # The stories exist in English only: each keeps its own direction, marked as English.
    stories = page.evaluate(
        "Array.from(document.querySelectorAll('table.article'))"
        ".map(t => [t.lang, getComputedStyle(t).direction])"
    )
    assert stories and all(story == ["en", "ltr"] for story in stories)
    # The "view in your browser" link moves to the start edge: the left in a right-to-left mail.
    link = page.locator("p.view a").bounding_box()
    table = page.locator("table.inner").bounding_box()
    assert link is not None and table is not None
    assert link["x"] - table["x"] < table["width"] / 2
    page.screenshot(path=screenshots / f"{language}-digest.png", full_page=True)
    page.context.close()
    for name in ("signup", "preferences", "digest"):
        assert (screenshots / f"{language}-{name}.png").stat().st_size > 1000


# For each list on the page: its label's text, lang, dir attribute and computed direction; the
# same for its description (if any); and whether the description's last character (its full
# stop) is drawn right of its first one, as left-to-right text has it.
LIST_TEXTS = """
Array.from(document.querySelectorAll("fieldset .check")).map(check => {
  const label = check.querySelector("label"), hint = check.querySelector(".hint");
  const info = el => el && [el.textContent.trim(), el.lang, el.dir, getComputedStyle(el).direction];
  let stopRight = null;
  if (hint) {
    const text = hint.firstChild, range = document.createRange();
    range.setStart(text, 0); range.setEnd(text, 1);
    const first = range.getBoundingClientRect();
    range.setStart(text, text.length - 1); range.setEnd(text, text.length);
    const last = range.getBoundingClientRect();
    stopRight = last.x > first.x;
  }
  return {label: info(label), hint: info(hint), stopRight};
})
"""


def test_list_names_and_descriptions_keep_their_own_direction(
    live_app: Flask, live_server: str, browser: Browser
) -> None:
    """On a Persian page the English lists' names and descriptions stay English, left to right
    (not ".The weekly digest"); a Persian list's stay right to left on an English page."""
    with live_app.app_context():
        alerts = db.session.scalar(select(MailingList).where(MailingList.slug == "alerts"))
        assert alerts is not None
        alerts.name, alerts.language = "هشدارهای آزادی مطبوعات", "fa"
        alerts.description = "اقدام‌های فوری (۲ بار در ماه)."
        db.session.commit()
    page = new_page(browser)
    page.goto(live_server + reader(live_app, "fa"))
    assert page_direction(page) == ("fa", "rtl", "rtl")
    weekly, alerts_seen = page.evaluate(LIST_TEXTS)
    assert weekly["label"] == ["Weekly updates", "en", "ltr", "ltr"]
    assert weekly["hint"] == ["The weekly digest.", "en", "ltr", "ltr"]
    assert weekly["stopRight"] is True
    assert alerts_seen["label"][1:] == ["fa", "rtl", "rtl"]
    assert alerts_seen["stopRight"] is False

    page.goto(f"{live_server}/subscribe?lang=en")  # the sign-up form: names, no descriptions
    assert page_direction(page) == ("en", "ltr", "ltr")
    labels = [seen["label"] for seen in page.evaluate(LIST_TEXTS)]
    assert labels == [
        ["Weekly updates", "en", "ltr", "ltr"],
        ["هشدارهای آزادی مطبوعات", "fa", "rtl", "rtl"],
    ]
    page.context.close()


def test_archive_index_opens_each_issue_in_the_chosen_language(
    live_app: Flask, live_server: str, browser: Browser
) -> None:
    """/archive?lang=fr shows the French subject and opens the French version; in Russian
    (no Russian subject) the English one, marked English, opens the Russian stories."""
    from mailer.models import Digest, DigestStatus, utcnow
    from tests.variant_helpers import make_story_digest

    made = make_story_digest(live_app, {})
    with live_app.app_context():
        digest = db.session.get(Digest, made.digest_id)
        assert digest is not None
        digest.status, digest.sent_at = DigestStatus.sent, utcnow()
        db.session.commit()
    page = new_page(browser)
    page.goto(f"{live_server}/archive?lang=fr")
    page.get_by_role("link", name="Cette semaine").click()
    expect(page).to_have_url(re.compile(r"/archive/[\w-]+\?lang=fr$"))
    expect(page.get_by_role("heading", name="Cette semaine")).to_be_visible()

    page.goto(f"{live_server}/archive?lang=ru")
    issue = page.locator("ul.archive a").first
    expect(issue).to_have_text("This week")
    assert issue.evaluate("a => [a.lang, getComputedStyle(a).direction]") == ["en", "ltr"]
    issue.click()
    expect(page).to_have_url(re.compile(r"/archive/[\w-]+\?lang=ru$"))
    frame = page.frame_locator("iframe.preview")
    expect(frame.get_by_role("link", name="Мост через реку снова открыт")).to_be_visible()
    page.context.close()
