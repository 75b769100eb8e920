"""A reader's spent links open in their own language (README, "Languages"), in a real Chromium
whose browser asks for English: a confirmation link opened again (409), a used "download my
data" link and the "erase me" link it spent (410). A forged link stays in the browser's
language: it names no one, and nothing about any reader is read for it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from mailer.extensions import db
from mailer.models import MailingList, Subscriber, Subscription, SubscriptionStatus
from mailer.privacy import address_hash
from mailer.subscriptions import links
from tests.integration.test_browser import launched_chromium
from tests.integration.test_i18n_browser import new_page, page_direction

pytestmark = [pytest.mark.browser, pytest.mark.integration]

WORDS = {
    "fa": {
        "confirm_heading": "اشتراک خود را تأیید کنید",
        "confirm": "تأیید",
        "subscribed": "مشترک شدید",
        "used": "از این لینک قبلاً استفاده شده است",
        "download": "دریافت داده‌هایم",
        "spent": "این لینک منقضی شده یا قبلاً از آن استفاده شده است",
    },
    "ru": {
        "confirm_heading": "Подтвердите подписку",
        "confirm": "Подтвердить",
        "subscribed": "Вы подписаны",
        "used": "Эта ссылка уже использована",
        "download": "Скачать мои данные",
        "spent": "Срок действия ссылки истёк, или она уже использована",
    },
}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with launched_chromium() as browser:
        yield browser


def reader_links(app: Flask, language: str) -> dict[str, str]:
    """A reader who signed up in `language` and has not confirmed yet: their link paths."""
    with app.app_context():
        weekly = db.session.scalar(select(MailingList).where(MailingList.slug == "weekly"))
        assert weekly is not None
        email = f"{language}.reader@example.org"
        subscriber = Subscriber(email=email, address_hash=address_hash(email), language=language)
        subscriber.pending_language = language
        subscriber.subscriptions.append(
            Subscription(mailing_list=weekly, status=SubscriptionStatus.pending)
        )
        db.session.add(subscriber)
        db.session.flush()
        paths = {
            "confirm": f"/confirm/{links.confirm_token(subscriber, [weekly.id])}",
            "data": f"/data/{links.one_time_token(subscriber, 'data')}",
            "erase": f"/erase/{links.one_time_token(subscriber, 'erase')}",
        }
        db.session.commit()
        return paths


def assert_in_language(page: Page, language: str) -> None:
    direction = "rtl" if language == "fa" else "ltr"
    assert page_direction(page) == (language, direction, direction)


@pytest.mark.parametrize("language", ["fa", "ru"])
def test_spent_links_open_in_the_readers_language(
    live_app: Flask, live_server: str, browser: Browser, language: str
) -> None:
    words = WORDS[language]
    paths = reader_links(live_app, language)
    page = new_page(browser, "en-US")

    page.goto(live_server + paths["confirm"])
    expect(page.get_by_role("heading", name=words["confirm_heading"])).to_be_visible()
    page.get_by_role("button", name=words["confirm"], exact=True).click()
    expect(page.get_by_role("heading", name=words["subscribed"])).to_be_visible()
    again = page.goto(live_server + paths["confirm"])  # the mail's link, opened once more
    assert again is not None and again.status == 409
    expect(page.get_by_role("heading", name=words["used"])).to_be_visible()
    assert_in_language(page, language)

    page.goto(live_server + paths["data"])
    with page.expect_download():
        page.get_by_role("button", name=words["download"]).click()
    for kind in ("data", "erase"):  # the download spent both one-time links
        spent = page.goto(live_server + paths[kind])
        assert spent is not None and spent.status == 410
        expect(page.get_by_role("heading", name=words["spent"])).to_be_visible()
        assert_in_language(page, language)

    forged = page.goto(live_server + paths["confirm"][:-4] + "AAAA")
    assert forged is not None and forged.status == 404
    expect(page.get_by_role("heading", name="This link is not valid")).to_be_visible()
    assert_in_language(page, "en")
    page.context.close()
