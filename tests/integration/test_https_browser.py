"""A real Chromium over HTTPS against the production server: gunicorn with the repo's config,
serving TLS itself, and once more behind a TLS-terminating reverse proxy (TRUSTED_PROXIES=1).

The whole reader's path (sign-up with the proof of work, the confirmation link from a real mail,
confirm, preferences, unsubscribe from all) and an editor's login and one admin form, each a
POST that must pass the CSRF token and the same-origin check over https; and a form on another
site, posted at the admin by the logged-in editor's browser, refused.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyotp
import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from flask import Flask
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from mailer import create_app
from mailer.admin.auth import create_editor
from mailer.extensions import db
from mailer.models import (
    Article,
    ConsentRecord,
    MailingList,
    Subscriber,
    Subscription,
    SubscriptionStatus,
)
from mailer.privacy import address_hash, ip_hash
from tests.conftest import (
    TEST_SECRET,
    SmtpServer,
    base_config,
    clear_redis,
    dispose,
    redis_db,
    reset_database,
)
from tests.integration.conftest import Worker
from tests.integration.servers import Gunicorn, TlsProxy, free_port
from tests.integration.test_browser import launched_chromium

pytestmark = [pytest.mark.browser, pytest.mark.integration]

PASSWORD = "correct horse battery staple"
PROXY_SOURCE = "127.0.1.1"  # the proxy's side of its upstream connection: another /24


@dataclass
class Site:
    base: str  # BASE_URL, what the browser opens
    app: Flask  # the same settings, in the test process, to look at the database
    proxy: TlsProxy | None


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[trustme.CA, Path, Path]:
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    folder = tmp_path_factory.mktemp("tls")
    cert.cert_chain_pems[0].write_to_path(folder / "cert.pem")
    for blob in cert.cert_chain_pems[1:]:
        blob.write_to_path(folder / "cert.pem", append=True)
    cert.private_key_pem.write_to_path(folder / "key.pem")
    return ca, folder / "cert.pem", folder / "key.pem"


def spki_hash(cert_pem: Path) -> str:
    """What Chromium's --ignore-certificate-errors-spki-list wants: base64 SHA-256 of the SPKI."""
    cert = x509.load_pem_x509_certificate(cert_pem.read_bytes())
    spki = cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


@pytest.fixture(scope="module")
def browser(tls: tuple[trustme.CA, Path, Path]) -> Iterator[Browser]:
    """Chromium that trusts our self-signed server certificate (and no other bad one)."""
    trust = f"--ignore-certificate-errors-spki-list={spki_hash(tls[1])}"
    with launched_chromium(trust) as browser:
        yield browser


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()
    page = context.new_page()
    yield page
    context.close()


def process_env(settings: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAILER_", "FLASK_"))}
    env.update({"MAILER_ENV": "production", "MAILER_DOTENV": "/nonexistent", **settings})
    return env


@pytest.fixture(params=["gunicorn-tls", "behind-proxy"])
def site(
    request: pytest.FixtureRequest,
    tls: tuple[trustme.CA, Path, Path],
    database_url: str,
    redis_base_url: str,
    smtp_server: SmtpServer,
    tmp_path: Path,
) -> Iterator[Site]:
    """gunicorn (and the proxy) plus a Celery worker, all with BASE_URL = the https address."""
    ca, cert, key = tls
    behind_proxy = request.param == "behind-proxy"
    redis_url = redis_db(redis_base_url, 6)  # not the session worker's queue: our BASE_URL
    clear_redis(redis_url)
    smtp_server.clear()
    web_port = free_port()
    proxy = None
    if behind_proxy:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        proxy = TlsProxy(context, web_port, PROXY_SOURCE)
    public_port = proxy.port if proxy else web_port
    base = f"https://localhost:{public_port}"
    cfg = base_config(database_url, redis_url, smtp_server.url)
    settings = {
        "SECRET_KEY": TEST_SECRET,
        "DATABASE_URL": str(cfg["DATABASE_URL"]),
        "REDIS_URL": redis_url,
        "SMTP_URL": smtp_server.url,
        "SMTP_TIMEOUT": "5",
        # The reader signs up twice in a minute (the second time for an "already subscribed"
        # mail with an unsubscribe link); the default cap is one such mail a day.
        "RATELIMIT_SIGNUP_ADDRESS": "3 per day",
        "BASE_URL": base,
        "MAIL_FROM": str(cfg["MAIL_FROM"]),
        "SIGNUP_CHALLENGE": "on",
        "SIGNUP_CHALLENGE_MAX_NUMBER": "20000",
        "RATELIMIT_ENABLED": "on",
        "TRUSTED_PROXIES": "1" if behind_proxy else "0",
        "WEB_CONCURRENCY": "2",
        "WEB_THREADS": "8",
    }
    app = create_app({**cfg, "BASE_URL": base, "TRUSTED_PROXIES": settings["TRUSTED_PROXIES"]})
    reset_database(app)
    worker = Worker(process_env(settings), tmp_path / "worker.log")
    extra = [] if behind_proxy else ["--certfile", str(cert), "--keyfile", str(key)]
    web = Gunicorn(process_env(settings), tmp_path / "gunicorn.log", web_port, extra)
    try:
        worker.start()
        web.start()
        if proxy:
            proxy.start()
        yield Site(base, app, proxy)
    finally:
        if proxy:
            proxy.stop()
        web.stop()
        worker.stop()
        smtp_server.clear()
        dispose(app)
    assert "Traceback" not in web.output(), web.output()[-3000:]


def statuses(app: Flask) -> dict[str, str]:
    with app.app_context():
        return {
            s.mailing_list.slug: s.status.value for s in db.session.scalars(select(Subscription))
        }


def link_in(smtp_server: SmtpServer, count: int, base: str, path: str) -> str:
    """The `path` link of the `count`-th mail received, which must start with BASE_URL."""
    received = smtp_server.wait_for(count, timeout=60)[count - 1]
    body = received.message.get_body(("plain",))
    assert body is not None
    found = re.search(re.escape(base) + re.escape(path) + r"\S+", body.get_content())
    assert found, body.get_content()
    return found.group(0)


def sign_up(page: Page, base: str) -> None:
    page.goto(f"{base}/subscribe")
    assert page.evaluate("window.isSecureContext")
    page.get_by_label("Email address").fill("tls.reader@example.org")
    page.get_by_label("Name (optional)").fill("Reader")
    page.get_by_label("I agree to receive these emails").check()
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("heading", name="Check your inbox")).to_be_visible(timeout=60_000)


def test_reader_signs_up_confirms_changes_preferences_and_unsubscribes_over_https(
    site: Site, smtp_server: SmtpServer, page: Page
) -> None:
    seen: list[str] = []
    page.on("response", lambda r: seen.append(r.headers.get("strict-transport-security", "")))
    sign_up(page, site.base)
    assert set(seen) == {"max-age=63072000; includeSubDomains"}

    page.goto(link_in(smtp_server, 1, site.base, "/confirm/"))
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("heading", name="You are subscribed")).to_be_visible()
    assert statuses(site.app) == {"weekly": "confirmed"}

    page.get_by_role("link", name="Manage your preferences").click()
    page.get_by_label("Press freedom alerts", exact=True).check()
    page.get_by_role("button", name="Save preferences").click()
    expect(page.get_by_text("Your preferences are saved")).to_be_visible()
    assert statuses(site.app) == {"weekly": "confirmed", "alerts": "confirmed"}

    page.get_by_role("button", name="Unsubscribe from all lists").click()
    expect(page.get_by_text("You are unsubscribed from every list")).to_be_visible()
    assert statuses(site.app) == {"weekly": "unsubscribed", "alerts": "unsubscribed"}

    if site.proxy:  # the app saw the browser's address, not the proxy's
        assert site.proxy.forwarded > 0
        with site.app.app_context():
            hashes = set(db.session.scalars(select(ConsentRecord.ip_hash)))
            assert hashes == {ip_hash("127.0.0.1")} and ip_hash(PROXY_SOURCE) not in hashes


def log_in_and_enrol(site: Site, page: Page) -> None:
    """A new editor's first sign-in: password, then the second factor production requires."""
    with site.app.app_context():
        create_editor("editor@example.org", PASSWORD)
        db.session.commit()
    page.goto(f"{site.base}/admin/")
    page.get_by_label("Email address").fill("editor@example.org")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    # Production requires a second factor (ADMIN_2FA unset): the first sign-in enrols.
    expect(page.get_by_role("heading", name="Set up two-factor authentication")).to_be_visible()
    secret = page.locator("#totp-secret").inner_text().replace(" ", "")
    page.get_by_label("Code shown by the app").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Turn on two-factor authentication").click()
    expect(page.get_by_role("heading", name="Your recovery codes")).to_be_visible()
    page.get_by_role("link", name="I have saved them, continue").click()
    expect(page.get_by_role("link", name="Articles")).to_be_visible()


def test_editor_logs_in_and_saves_an_article_over_https(site: Site, page: Page) -> None:
    log_in_and_enrol(site, page)
    # The browser is trusted: its device cookie is __Host- (Secure, Path=/, this host only).
    cookies = {c["name"]: c for c in page.context.cookies()}
    device = cookies["__Host-editor_device"]
    assert device["secure"] and device["httpOnly"] and device["path"] == "/"
    assert device["sameSite"] == "Strict" and not device["domain"].startswith(".")
    assert "editor_device" not in cookies
    page.get_by_role("link", name="Account").click()
    trusted = page.locator("#trusted-browsers tbody tr")
    expect(trusted).to_have_count(1)
    expect(trusted).to_contain_text("Chrome on Linux (this browser)")
    icon = page.goto(f"{site.base}/favicon.ico")  # over TLS, with the site's headers
    assert icon is not None and icon.ok
    assert icon.headers["content-type"].startswith("image/svg+xml")
    assert icon.headers["strict-transport-security"].startswith("max-age=")

    page.goto(f"{site.base}/admin/articles/new")
    page.get_by_label("Title").fill("A landmark ruling")
    page.get_by_label("Link", exact=True).fill("https://news.example.org/ruling")
    page.get_by_role("button", name="Save article").click()
    expect(page.get_by_text("A landmark ruling").first).to_be_visible()
    assert titles(site.app) == ["A landmark ruling"]

    # Another site's page posts a form to the admin while the editor is logged in: refused.
    forged = (
        f'<form method="post" action="{site.base}/admin/articles/new">'
        '<input name="title" value="Forged"><input name="link" value="https://evil.example/">'
        "<button>Win a prize</button></form>"
    )
    page.route(
        "https://evil.example/**",
        lambda route: route.fulfill(body=forged, content_type="text/html"),
    )
    page.goto("https://evil.example/")
    page.get_by_role("button", name="Win a prize").click()
    expect(page.get_by_text("This form was sent from another site")).to_be_visible()
    assert titles(site.app) == ["A landmark ruling"]


def titles(app: Flask) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(Article.title)))


def test_editor_searches_and_forgets_this_browser_over_https(site: Site, page: Page) -> None:
    # The two forms this work added, posted over TLS and behind the proxy: the search (the
    # address in no URL) and Forget (this browser's __Host- cookie dropped, signed out).
    wanted = "tls.found@example.net"
    with site.app.app_context():
        weekly = db.session.scalar(select(MailingList).where(MailingList.slug == "weekly"))
        subscriber = Subscriber(email=wanted, address_hash=address_hash(wanted))
        subscriber.subscriptions.append(
            Subscription(mailing_list=weekly, status=SubscriptionStatus.confirmed)
        )
        db.session.add(subscriber)
        db.session.commit()
    log_in_and_enrol(site, page)
    page.get_by_role("link", name="Subscribers").first.click()
    page.get_by_label("Search").fill(wanted)
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_text(f"1 subscriber matching “{wanted}”.")).to_be_visible()
    assert page.url.startswith(f"{site.base}/admin/subscribers?search=")
    assert "tls.found" not in page.url and "@" not in page.url and "%40" not in page.url

    page.get_by_role("link", name="Account").click()
    rows = page.locator("#trusted-browsers tbody tr")
    expect(rows).to_have_count(1)
    rows.get_by_role("button", name="Forget").click()
    expect(
        page.get_by_text("This browser is no longer trusted, and you are signed out.")
    ).to_be_visible()
    expect(page.get_by_role("heading", name="Editor login")).to_be_visible()
    assert "__Host-editor_device" not in {c["name"] for c in page.context.cookies()}
