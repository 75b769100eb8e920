"""The subscriber search in a real headless Chromium: no address, nor any part of one, in
a URL the browser asks for or the server sees (README: never an address in a URL).

An editor searches for one address, then for a domain, pages through the results, reloads,
goes back and forward; an owner also exports the search. Every request URL the browser
makes (page.on("request") on the whole context), every page.url and every URL the server
receives are checked. The old GET form's ?q= no longer searches and is not kept.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import unquote_plus

import pytest
from flask import Flask
from playwright.sync_api import Browser, BrowserContext, Page, Request, expect
from sqlalchemy import select

from mailer.extensions import db
from mailer.models import MailingList, Subscriber, Subscription, SubscriptionStatus
from mailer.privacy import address_hash
from tests.integration.test_browser import launched_chromium
from tests.live_server import serving
from tests.role_helpers import PASSWORD, ROLES, make_editors

pytestmark = pytest.mark.browser
WAIT = 20_000  # ms: generous, the machine is shared

TARGET = "fa-reader@example.net"
OTHERS = [f"dissident-{i:02d}@example.net" for i in range(54)]  # 55 at example.net in all
ELSEWHERE = [f"reader{i}@example.org" for i in range(5)]
# Nothing of these may appear in a URL, however encoded: addresses, local parts, the domain.
SECRETS = ["fa-reader", "dissident-", "example.net", "@", "%40"]


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    with launched_chromium() as browser:
        yield browser


class Desk:
    """The app over real HTTP on loopback, recording every URL it receives."""

    def __init__(self, app: Flask) -> None:
        self.seen: list[str] = []
        inner = app.wsgi_app

        def recording(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
            query = environ.get("QUERY_STRING", "")
            self.seen.append(environ.get("PATH_INFO", "") + (f"?{query}" if query else ""))
            return inner(environ, start_response)

        app.wsgi_app = recording  # type: ignore[method-assign]
        self.base = ""


@pytest.fixture
def desk(app: Flask) -> Iterator[Desk]:
    make_editors(app)
    with app.app_context():
        weekly = db.session.scalar(select(MailingList).where(MailingList.slug == "weekly"))
        for email in [TARGET, *OTHERS, *ELSEWHERE]:
            subscriber = Subscriber(email=email, address_hash=address_hash(email))
            subscriber.subscriptions.append(
                Subscription(mailing_list=weekly, status=SubscriptionStatus.confirmed)
            )
            db.session.add(subscriber)
        db.session.commit()
    served = Desk(app)
    with serving(app) as served.base:
        yield served


class Watched:
    """A tab whose context's every request URL is kept."""

    def __init__(self, context: BrowserContext) -> None:
        self.requested: list[str] = []
        context.on("request", self._seen)
        self.tab = context.new_page()
        self.urls: list[str] = []

    def _seen(self, request: Request) -> None:
        self.requested.append(request.url)

    def at(self) -> Page:
        """The tab, its current URL noted."""
        self.urls.append(self.tab.url)
        return self.tab


@pytest.fixture
def watched(chromium: Browser) -> Iterator[Watched]:
    context = chromium.new_context(accept_downloads=True)
    yield Watched(context)
    context.close()


def leaks(urls: list[str]) -> list[str]:
    """The URLs that carry an address or a part of one, plain or percent-encoded."""
    return [
        url
        for url in urls
        if any(s in url.lower() or s in unquote_plus(url).lower() for s in SECRETS)
    ]


def log_in(tab: Page, base: str, role: str) -> None:
    tab.goto(f"{base}/admin/login")
    tab.get_by_label("Email address").fill(ROLES[role])
    tab.get_by_label("Password").fill(PASSWORD)
    tab.get_by_role("button", name="Log in").click()
    expect(tab.get_by_role("heading", name="Dashboard")).to_be_visible(timeout=WAIT)


def search(tab: Page, text: str) -> None:
    tab.get_by_label("Search").fill(text)
    tab.get_by_role("button", name="Search").click()
    expect(tab.get_by_text(f"matching “{text}”")).to_be_visible(timeout=WAIT)


def shown(tab: Page) -> list[str]:
    return tab.locator("table.data tbody td:first-child a").all_inner_texts()


def on_page(tab: Page, page: int, pages: int) -> list[str]:
    expect(tab.get_by_text(f"Page {page} of {pages}")).to_be_visible(timeout=WAIT)
    return shown(tab)


@pytest.mark.parametrize("role", ["editor", "owner"])
def test_search_paging_and_export_never_put_an_address_in_a_url(
    desk: Desk, watched: Watched, role: str
) -> None:
    tab = watched.tab
    log_in(tab, desk.base, role)
    tab.get_by_role("link", name="Subscribers").first.click()
    expect(tab.get_by_role("heading", name="Subscribers")).to_be_visible(timeout=WAIT)

    search(tab, TARGET)
    assert shown(watched.at()) == [TARGET]
    expect(tab.get_by_text("1 subscriber matching “fa-reader@example.net”.")).to_be_visible()

    search(tab, "example.net")
    expect(tab.get_by_text("55 subscribers matching “example.net”.")).to_be_visible()
    first = on_page(watched.at(), 1, 2)
    tab.get_by_role("link", name="Older →").click()
    second = on_page(watched.at(), 2, 2)
    assert len(first) == 50 and len(second) == 5
    assert sorted(first + second) == sorted([TARGET, *OTHERS])

    tab.reload()  # the same search, the same page
    assert on_page(watched.at(), 2, 2) == second
    tab.go_back()
    assert on_page(watched.at(), 1, 2) == first
    tab.go_forward()
    assert on_page(watched.at(), 2, 2) == second
    tab.get_by_role("link", name="← Newer").click()
    assert on_page(watched.at(), 1, 2) == first

    export = tab.get_by_role("link", name="Export CSV (this search)")
    if role == "owner":
        with tab.expect_download(timeout=WAIT) as info:
            export.click()
        with open(info.value.path(), newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        assert sorted(r["email"] for r in rows) == sorted([TARGET, *OTHERS])
        assert {r["list"] for r in rows} == {"weekly"}
    else:
        expect(export).to_have_count(0)  # exports are an owner's

    assert watched.requested and watched.urls and desk.seen
    assert leaks(watched.requested) == []
    assert leaks(watched.urls) == []
    assert leaks(desk.seen) == []


def test_the_old_get_search_no_longer_searches_nor_keeps_the_address(
    desk: Desk, watched: Watched
) -> None:
    tab = watched.tab
    log_in(tab, desk.base, "owner")
    typed = f"{desk.base}/admin/subscribers?q=fa-reader%40example.net&list=weekly"
    tab.goto(typed)
    expect(tab.get_by_text("type your search in the search box")).to_be_visible(timeout=WAIT)
    assert leaks([tab.url]) == [] and tab.url.endswith("/admin/subscribers?list=weekly")
    expect(tab.get_by_text("60 subscribers.")).to_be_visible()  # not searched
    expect(tab.get_by_label("Search")).to_have_value("")
    assert "fa-reader" not in tab.locator("form[role=search]").inner_html()

    typed_export = f"{desk.base}/admin/subscribers/export?q=example.net"
    tab.goto(typed_export)  # no export either
    expect(tab.get_by_text("type your search in the search box")).to_be_visible(timeout=WAIT)
    assert tab.url == f"{desk.base}/admin/subscribers"

    # Logged out, the login page's ?next= does not keep it either.
    watched.tab.context.clear_cookies()
    tab.goto(typed)
    expect(tab.get_by_label("Password")).to_be_visible(timeout=WAIT)
    assert "/admin/login" in tab.url and leaks([tab.url]) == []

    # Only the two URLs typed above carried the address, on their way in.
    assert leaks(watched.requested) == [
        typed,
        f"{desk.base}/admin/subscribers/export?q=example.net",
        typed,
    ]
    assert len(leaks(desk.seen)) == 3


def test_a_viewer_is_refused_the_subscribers_and_their_search(desk: Desk, watched: Watched) -> None:
    """Addresses are not for viewers: no Subscribers link, the page and the search are 403."""
    tab = watched.tab
    log_in(tab, desk.base, "viewer")
    expect(tab.get_by_role("link", name="Subscribers")).to_have_count(0)
    page = tab.goto(f"{desk.base}/admin/subscribers")
    assert page is not None and page.status == 403
    tab.goto(f"{desk.base}/admin/account")  # a page of the viewer's own, with a form's token
    token = tab.locator("input[name=csrf_token]").first.get_attribute("value")
    with tab.expect_navigation(timeout=WAIT) as posted:
        tab.evaluate(
            """([action, token, text]) => {
                const form = document.createElement("form");
                form.method = "post";
                form.action = action;
                for (const [name, value] of [["csrf_token", token], ["q", text]]) {
                    const field = document.createElement("input");
                    field.name = name;
                    field.value = value;
                    form.appendChild(field);
                }
                document.body.appendChild(form);
                form.submit();
            }""",
            ["/admin/subscribers/search", token, TARGET],
        )
    response = posted.value
    assert response is not None and response.status == 403
    expect(tab.get_by_text(TARGET)).to_have_count(0)
    assert leaks(desk.seen) == []
