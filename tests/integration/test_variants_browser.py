"""A real headless Chromium: an editor links a translation, writes a French subject, previews."""

from __future__ import annotations

import pytest
from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import select

from mailer.digests import service, testsend
from mailer.extensions import db
from mailer.models import Article, DigestText
from tests.conftest import queued_tasks
from tests.integration.test_admin_lists_browser import PASSWORD, chromium, desk, tab  # noqa: F401
from tests.variant_helpers import article, weekly

pytestmark = pytest.mark.browser


def _seed(app: Flask) -> tuple[int, int]:
    with app.app_context():
        bridge = article("bridge", "The river bridge reopens", "en")
        pont = article("pont", "Le pont sur la rivière rouvre", "fr")
        harvest = article("harvest", "An early harvest in the valley", "en")
        digest = service.create_digest(weekly(), [bridge, harvest], subject="This week")
        db.session.commit()
        return pont.id, digest.id


def test_editor_links_a_translation_writes_french_texts_and_previews_french(
    app: Flask,
    desk: str,  # noqa: F811
    tab: Page,  # noqa: F811
) -> None:
    pont_id, digest_id = _seed(app)
    tab.goto(f"{desk}/admin/articles/{pont_id}")
    tab.get_by_label("Email address").fill("editor@example.org")
    tab.get_by_label("Password").fill(PASSWORD)
    tab.get_by_role("button", name="Log in").click()
    expect(tab.get_by_role("heading", name="Le pont sur la rivière rouvre")).to_be_visible(
        timeout=20_000
    )

    # The French article becomes the translation of the English one.
    tab.get_by_label("Translation of").select_option(label="The river bridge reopens (English)")
    tab.get_by_role("button", name="Save article").click()
    expect(tab.get_by_text("Article saved.")).to_be_visible(timeout=20_000)
    versions = tab.locator("#versions")
    expect(versions).to_contain_text("Français")
    expect(versions.get_by_role("link", name="English")).to_be_visible()
    with app.app_context():
        linked = db.session.scalar(select(Article.story_id).where(Article.guid == "bridge"))
        assert linked is not None

    # The digest page: French falls back until its subject and intro are written.
    tab.goto(f"{desk}/admin/digests/{digest_id}")
    french = tab.locator("#text-fr")
    tab.get_by_text("Subject and introduction in other languages").click()
    expect(french).to_contain_text("falls back to English")
    tab.get_by_label("Subject (Français)").fill("Cette semaine")
    tab.get_by_label("Introduction (Français)").fill("Deux histoires cette semaine.")
    tab.get_by_role("button", name="Save digest").click()
    expect(tab.get_by_text("Digest saved.")).to_be_visible(timeout=20_000)
    expect(tab.locator("#text-fr")).to_contain_text("written")
    expect(tab.locator("#text-es")).to_contain_text("falls back to English")
    with app.app_context():
        text = db.session.scalar(select(DigestText))
        assert text is not None and (text.language, text.subject) == ("fr", "Cette semaine")

    # Preview as French readers get it: their subject, the French story, the English one marked.
    tab.get_by_role("link", name="Preview", exact=True).click()
    tab.get_by_label("As readers of").select_option("fr")
    tab.get_by_role("button", name="Preview").click()
    expect(tab.get_by_text("Subject: Cette semaine")).to_be_visible(timeout=20_000)
    frame = tab.frame_locator("iframe.preview")
    expect(frame.get_by_role("heading", name="Le pont sur la rivière rouvre")).to_be_visible(
        timeout=20_000
    )
    expect(frame.get_by_text("(en anglais)")).to_be_visible()
    assert frame.locator("html").get_attribute("lang") == "fr"
    expect(tab.locator("pre.mailtext")).to_contain_text("Deux histoires cette semaine.")

    # A test send in Russian: the Russian readers' message (no Russian text: English subject).
    tab.get_by_role("link", name="← Back to the digest").click()
    tab.get_by_label("Send a test to").fill("me@example.org")
    tab.get_by_label("in", exact=True).select_option("ru")
    tab.get_by_role("button", name="Send test").click()
    expect(tab.get_by_text("Test sent")).to_be_visible(timeout=20_000)
    ((_name, args),) = queued_tasks(app)
    with app.app_context():
        test = testsend.message(args[1])
    assert test is not None and b"[Test] This week" in test.data
    assert b'lang=3D"ru"' in test.data or b'lang="ru"' in test.data
