"""A real headless Chromium, as each role: allowed and refused pages, editor management
(invite by mail, disable, change role), one's own password, and the audit log's filters."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import dkim
import pyotp
import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from mailer.accounts import totp
from mailer.extensions import db
from mailer.models import AuditEvent, Editor, EditorInvite, Role
from mailer.tasks.accounts import send_editor_invite, send_editor_notice
from tests.conftest import SmtpServer, queued_tasks
from tests.integration.test_browser import launched_chromium
from tests.live_server import serving
from tests.role_helpers import PASSWORD, ROLES, make_editors
from tests.test_dkim import DOMAIN, SELECTOR, DnsFunc, rsa_key
from tests.test_sending import add_subscribers, make_digest

pytestmark = pytest.mark.browser
NEW_PASSWORD = "seven otters under a bridge"


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    with launched_chromium() as browser:
        yield browser


@pytest.fixture
def desk(app: Flask) -> Iterator[str]:
    """The unit-test app over real HTTP, with an editor of each role and a digest to send."""
    make_editors(app)
    add_subscribers(app, 2)
    make_digest(app)
    with serving(app) as base:  # links in mail point at this server
        yield base


def new_tab(chromium: Browser) -> Page:
    return chromium.new_context(accept_downloads=True).new_page()


@pytest.fixture
def tab(chromium: Browser) -> Iterator[Page]:
    page = new_tab(chromium)
    yield page
    page.context.close()


def log_in(tab: Page, desk: str, email: str, password: str = PASSWORD) -> None:
    tab.goto(f"{desk}/admin/login")
    tab.get_by_label("Email address").fill(email)
    tab.get_by_label("Password").fill(password)
    tab.get_by_role("button", name="Log in").click()
    expect(tab.get_by_role("heading", name="Dashboard")).to_be_visible(timeout=20_000)


def refused(tab: Page, url: str) -> None:
    response = tab.goto(url)
    assert response is not None and response.status == 403, url
    expect(tab.get_by_role("heading", name="Not allowed")).to_be_visible()


def test_a_viewer_follows_dashboards_and_progress_but_changes_nothing(desk: str, tab: Page) -> None:
    log_in(tab, desk, ROLES["viewer"])
    nav = tab.get_by_role("navigation", name="Admin")
    expect(nav.get_by_role("link", name="Subscribers")).to_have_count(0)
    expect(nav.get_by_role("link", name="Editors")).to_have_count(0)
    expect(tab.get_by_role("button", name="New digest")).to_have_count(0)
    nav.get_by_role("link", name="Digests").click()
    tab.get_by_role("link", name="This week").click()  # the preview, not the editor
    expect(tab).to_have_url(re.compile(r"/admin/digests/\d+/preview$"))
    preview = tab.url
    frame = tab.goto(preview + ".html")  # the HTML the preview's frame shows
    assert frame is not None and frame.status == 200
    response = tab.goto(preview.replace("/preview", "/progress.json"))
    assert response is not None and response.status == 200 and "status" in response.json()
    refused(tab, preview.replace("/preview", "/send"))  # "Send now" asks editors only
    refused(tab, f"{desk}/admin/subscribers/export")
    refused(tab, f"{desk}/admin/lists/new")
    refused(tab, f"{desk}/admin/subscribers")


def test_an_editor_sends_a_digest_but_cannot_export(app: Flask, desk: str, tab: Page) -> None:
    log_in(tab, desk, ROLES["editor"])
    tab.get_by_role("navigation", name="Admin").get_by_role("link", name="Digests").click()
    tab.get_by_role("link", name="This week").click()
    tab.get_by_role("button", name=re.compile(r"Send now to 2 subscribers")).click()
    tab.get_by_role("button", name="Not now").click()  # asked once more: nothing is sent
    expect(tab.get_by_role("button", name="Save digest")).to_be_visible(timeout=20_000)
    assert queued_tasks(app, "celery") == []
    tab.get_by_role("button", name=re.compile(r"Send now to 2 subscribers")).click()
    expect(tab.get_by_role("heading", name="Send this digest now?")).to_be_visible()
    tab.get_by_role("button", name="Send now to 2 subscribers", exact=True).click()
    expect(tab.get_by_text("Sending is starting")).to_be_visible(timeout=20_000)
    assert [name for name, _ in queued_tasks(app, "celery")] == ["mailer.start_digest"]
    tab.get_by_role("navigation", name="Admin").get_by_role("link", name="Subscribers").click()
    expect(tab.get_by_role("link", name="Export CSV")).to_have_count(0)
    refused(tab, f"{desk}/admin/subscribers/export")
    refused(tab, f"{desk}/admin/editors")
    refused(tab, f"{desk}/admin/audit")


def test_an_owner_exports(desk: str, tab: Page) -> None:
    log_in(tab, desk, ROLES["owner"])
    tab.get_by_role("navigation", name="Admin").get_by_role("link", name="Subscribers").click()
    with tab.expect_download() as info:
        tab.get_by_role("link", name="Export CSV").click()
    download = info.value
    assert download.suggested_filename.startswith("subscribers-all-")
    assert "reader0@example.org" in Path(download.path()).read_text()


@pytest.fixture
def dnsfunc(app: Flask, tmp_path: Path) -> DnsFunc:
    pem, dnsfunc = rsa_key(1024)
    key_file = tmp_path / "dkim.pem"
    key_file.write_bytes(pem)
    app.config.update(
        DKIM_SELECTOR=SELECTOR, DKIM_DOMAIN=DOMAIN, DKIM_PRIVATE_KEY_PATH=str(key_file)
    )
    return dnsfunc


def test_an_owner_invites_and_the_invitee_sets_a_password_and_logs_in(
    app: Flask, desk: str, tab: Page, chromium: Browser, smtp_server: SmtpServer, dnsfunc: DnsFunc
) -> None:
    smtp_server.clear()
    log_in(tab, desk, ROLES["owner"])
    tab.get_by_role("link", name="Editors").click()
    tab.get_by_label("Email address").fill("reporter@example.org")
    tab.get_by_label("Role", exact=True).select_option("editor")
    tab.get_by_role("button", name="Send invitation").click()
    expect(tab.get_by_text("Invitation sent to reporter@example.org")).to_be_visible()
    expect(tab.locator("#invites")).to_contain_text("reporter@example.org as editor")
    ((name, (invite_id,)),) = queued_tasks(app)
    assert name == "mailer.send_editor_invite"
    with app.app_context():
        send_editor_invite(invite_id)  # what the worker does with it
    (received,) = smtp_server.wait_for(1)
    assert dkim.verify(received.raw, dnsfunc=dnsfunc)
    assert received.rcpt_tos == ["reporter@example.org"]
    body = received.message.get_body(("plain",))
    assert body is not None
    link = re.search(r"(http://127\.0\.0\.1:\d+/admin/invite/\S+)", body.get_content())
    assert link, body.get_content()

    invitee = new_tab(chromium)
    invitee.goto(link.group(1))
    expect(invitee.get_by_role("heading", name="Choose your password")).to_be_visible()
    invitee.get_by_label("New password", exact=True).fill("password123456")
    invitee.get_by_label("Repeat the new password").fill("password123456")
    invitee.get_by_role("button", name="Create my account").click()
    expect(invitee.get_by_text("list of common, breached passwords")).to_be_visible()
    invitee.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    invitee.get_by_label("Repeat the new password").fill(NEW_PASSWORD)
    invitee.get_by_role("button", name="Create my account").click()
    expect(invitee.get_by_text("Your account is ready")).to_be_visible()
    log_in(invitee, desk, "reporter@example.org", NEW_PASSWORD)
    expect(invitee.get_by_role("link", name="Subscribers")).to_be_visible()  # an editor
    response = invitee.goto(link.group(1))  # the link worked once
    assert response is not None and response.status == 410
    invitee.context.close()
    with app.app_context():
        invitation = db.session.get(EditorInvite, invite_id)
        assert invitation is not None and invitation.accepted_at is not None


def test_an_owner_disables_an_editor_whose_open_session_ends(
    app: Flask, desk: str, tab: Page, chromium: Browser
) -> None:
    victim = new_tab(chromium)
    log_in(victim, desk, ROLES["editor"])
    log_in(tab, desk, ROLES["owner"])
    tab.get_by_role("link", name="Editors").click()
    tab.get_by_role("button", name=f"Disable {ROLES['editor']}").click()
    expect(tab.get_by_text(f"{ROLES['editor']} is disabled")).to_be_visible()
    expect(tab.locator("#editors")).to_contain_text("disabled")
    victim.get_by_role("navigation", name="Admin").get_by_role("link", name="Lists").click()
    expect(victim.get_by_role("heading", name="Editor login")).to_be_visible()
    victim.get_by_label("Email address").fill(ROLES["editor"])
    victim.get_by_label("Password").fill(PASSWORD)
    victim.get_by_role("button", name="Log in").click()
    expect(victim.get_by_text("do not match an editor")).to_be_visible()
    victim.context.close()
    tab.get_by_role("button", name=f"Enable {ROLES['editor']}").click()
    expect(tab.get_by_text(f"{ROLES['editor']} can log in again")).to_be_visible()


def test_an_owner_changes_a_role_and_cannot_demote_the_last_owner(
    app: Flask, desk: str, tab: Page, chromium: Browser
) -> None:
    viewer = new_tab(chromium)
    log_in(viewer, desk, ROLES["viewer"])
    log_in(tab, desk, ROLES["owner"])
    tab.get_by_role("link", name="Editors").click()
    tab.get_by_label(f"Role of {ROLES['viewer']}", exact=True).select_option("editor")
    tab.get_by_role("button", name=f"Change the role of {ROLES['viewer']}").click()
    expect(tab.get_by_text(f"{ROLES['viewer']} is now editor")).to_be_visible()
    viewer.get_by_role("navigation", name="Admin").get_by_role("link", name="Lists").click()
    expect(viewer.get_by_role("link", name="New list")).to_be_visible()  # at its next click
    viewer.context.close()
    tab.get_by_label(f"Role of {ROLES['owner']}", exact=True).select_option("viewer")
    tab.get_by_role("button", name=f"Change the role of {ROLES['owner']}").click()
    expect(tab.get_by_role("alert")).to_contain_text("last active owner")
    with app.app_context():
        owner = db.session.scalar(select(Editor).where(Editor.email == ROLES["owner"]))
        assert owner is not None and owner.role == Role.owner


def test_an_editor_changes_their_password_and_a_common_one_is_refused(
    app: Flask,
    desk: str,
    tab: Page,
    chromium: Browser,
    smtp_server: SmtpServer,
    dnsfunc: DnsFunc,
) -> None:
    before = new_tab(chromium)
    log_in(before, desk, ROLES["viewer"])
    log_in(tab, desk, ROLES["viewer"])
    tab.get_by_role("link", name="Account").click()
    tab.get_by_role("link", name="Change your password").click()
    tab.get_by_label("Current password").fill(PASSWORD)
    tab.get_by_label("New password", exact=True).fill("iloveyou2026!")
    tab.get_by_label("Repeat the new password").fill("iloveyou2026!")
    tab.get_by_role("button", name="Change password").click()
    expect(tab.get_by_text("list of common, breached passwords")).to_be_visible()
    tab.get_by_label("Current password").fill(PASSWORD)
    tab.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    tab.get_by_label("Repeat the new password").fill(NEW_PASSWORD)
    tab.get_by_role("button", name="Change password").click()
    expect(tab.get_by_text("Your password is changed")).to_be_visible()
    # This browser goes on; the one signed in before the change is thrown out.
    tab.get_by_role("navigation", name="Admin").get_by_role("link", name="Lists").click()
    expect(tab.get_by_role("heading", name="Lists")).to_be_visible()
    before.get_by_role("navigation", name="Admin").get_by_role("link", name="Lists").click()
    expect(before.get_by_role("heading", name="Editor login")).to_be_visible()
    before.context.close()
    other = new_tab(chromium)
    log_in(other, desk, ROLES["viewer"], NEW_PASSWORD)
    other.context.close()
    # The editor is told by mail, in case it was not them.
    ((name, args),) = queued_tasks(app)
    assert name == "mailer.send_editor_notice"
    smtp_server.clear()
    with app.app_context():
        send_editor_notice(*args)  # what the worker does with it
    (received,) = smtp_server.wait_for(1)
    assert dkim.verify(received.raw, dnsfunc=dnsfunc)
    assert received.rcpt_tos == [ROLES["viewer"]]
    assert received.message["Subject"] == "Your editor password was changed"
    body = received.message.get_body(("plain",))
    assert body is not None and "If this was not you, tell an owner" in body.get_content()
    assert NEW_PASSWORD not in received.raw.decode() and "127.0.0.1" not in received.raw.decode()


def test_an_owner_filters_the_audit_log(app: Flask, desk: str, tab: Page) -> None:
    log_in(tab, desk, ROLES["owner"])
    tab.get_by_role("link", name="Editors").click()
    tab.get_by_label(f"Role of {ROLES['viewer']}", exact=True).select_option("editor")
    tab.get_by_role("button", name=f"Change the role of {ROLES['viewer']}").click()
    expect(tab.get_by_text("is now editor")).to_be_visible()
    tab.get_by_role("link", name="Audit log").click()
    rows = tab.locator("#audit-events tbody tr")
    expect(rows).to_have_count(2)  # the login, the role change
    tab.get_by_label("Action").select_option("change_role")
    tab.get_by_label("Editor").select_option(label=ROLES["owner"])
    tab.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("change_role")
    expect(rows.first).to_contain_text("from=viewer, to=editor")
    tab.get_by_label("From (UTC)").fill("2001-01-01")
    tab.get_by_label("To (UTC)").fill("2001-01-02")
    tab.get_by_role("button", name="Filter").click()
    expect(rows.first).to_contain_text("No events match")
    with app.app_context():
        assert db.session.scalar(select(AuditEvent.id).where(AuditEvent.action == "change_role"))


def test_an_owner_resets_an_editors_second_factor(app: Flask, desk: str, tab: Page) -> None:
    with app.app_context():
        viewer = db.session.scalar(select(Editor).where(Editor.email == ROLES["viewer"]))
        assert viewer is not None
        secret = totp.new_secret()
        assert totp.enrol(viewer, secret, pyotp.TOTP(secret).now()) is not None
        db.session.commit()
        viewer_id = viewer.id
    log_in(tab, desk, ROLES["owner"])
    tab.get_by_role("link", name="Editors").click()
    expect(tab.locator(f"#editor-{viewer_id}")).to_contain_text("on")
    # Signed in a moment ago: no re-authentication asked (tests/test_accounts_sessions.py).
    tab.get_by_role("button", name=f"Reset two-factor authentication of {ROLES['viewer']}").click()
    expect(tab.get_by_text("two-factor authentication removed")).to_be_visible()
    with app.app_context():
        viewer = db.session.get(Editor, viewer_id)
        assert viewer is not None and not viewer.has_second_factor
        assert (
            db.session.scalar(select(AuditEvent).where(AuditEvent.action == "reset_2fa"))
            is not None
        )


def test_an_editors_test_sends_are_capped_with_a_clear_refusal(
    app: Flask, desk: str, tab: Page, chromium: Browser
) -> None:
    app.config.update(RATELIMIT_ENABLED=True, RATELIMIT_TEST_SEND="2 per hour")
    log_in(tab, desk, ROLES["editor"])
    tab.get_by_role("navigation", name="Admin").get_by_role("link", name="Digests").click()
    tab.get_by_role("link", name="This week").click()
    digest_page = tab.url
    for address in ("me@example.org", "someone@example.net"):
        tab.get_by_label("Send a test to").fill(address)
        tab.get_by_role("button", name="Send test").click()
        expect(tab.get_by_text("Test sent")).to_be_visible()
    tab.get_by_label("Send a test to").fill("third@example.net")
    with tab.expect_response(lambda r: r.url.endswith("/test")) as answer:
        tab.get_by_role("button", name="Send test").click()
    assert answer.value.status == 429
    expect(tab.get_by_text("You have sent as many tests as allowed (2 per hour")).to_be_visible()
    assert [n for n, _ in queued_tasks(app)].count("mailer.send_test_digest") == 2
    tab.goto(digest_page)  # the digest itself is untouched
    expect(tab.get_by_role("button", name="Send test")).to_be_visible()

    owner = new_tab(chromium)  # an owner sees where each test went; the refused one is not there
    try:
        log_in(owner, desk, ROLES["owner"])
        owner.get_by_role("link", name="Audit log").click()
        owner.get_by_label("Action").select_option("test_digest")
        owner.get_by_role("button", name="Filter").click()
        rows = owner.locator("#audit-events tbody tr")
        expect(rows).to_have_count(2)
        for row, address in zip(rows.all(), ("someone@example.net", "me@example.org"), strict=True):
            expect(row).to_contain_text(ROLES["editor"])
            expect(row).to_contain_text(f"to={address}")
    finally:
        owner.context.close()
