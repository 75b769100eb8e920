"""Digest rendering: once per digest with slot markers, filled per reader, safe to read."""

from __future__ import annotations

import html
import os
import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from sqlalchemy import select

from mailer.digests import service, testsend
from mailer.digests.content import RenderedDigest, render_digest
from mailer.digests.slots import SLOT, SLOTS, fill_slots, greeting, recipient_slots, sample_slots
from mailer.extensions import db
from mailer.models import Article, Digest, DigestStatus, MailingList, Subscriber
from mailer.privacy import address_hash
from mailer.subscriptions.links import subscriber_from_token
from mailer.tasks import send_test_digest
from mailer.tokens import read_token
from tests.conftest import SmtpServer

SNAPSHOTS = Path(__file__).parent / "snapshots" / "email"
ISSUE_DAY = datetime(2026, 5, 11, 8, 0, tzinfo=UTC)
NETWORK = "The Free Expression Network"
CONTACT = "The Free Expression Network, 1 Example Street, London, United Kingdom"
TITLES = [
    "Blogger freed after two years in pre-trial detention",
    "Translators build a network to keep banned books in print",
    "Annual report: press freedom fell in 31 countries",
]
HOSTILE = {
    "guid": "hostile",
    "link": "javascript:alert(1)",
    "title": "<img src=x onerror=alert(1)>Hostile title",
    "summary": '<script>alert(2)</script><a href="javascript:alert(3)" onclick="x()">click</a>',
    "body_html": "<script>alert('body')</script><p onmouseover=alert(4)>body</p>",
    "image_url": 'https://news.example.org/x.jpg" onerror="alert(5)',
    "image_alt": '" onerror="alert(6)',
    "image_credit": "<svg onload=alert(7)>",
    "author": "<script>alert(8)</script>",
    "region": "<b onmouseover=alert(9)>Region</b>",
}


@pytest.fixture
def config_overrides() -> dict[str, Any]:
    return {"NETWORK_NAME": NETWORK, "CONTACT_LINE": CONTACT}


# --- building data ----------------------------------------------------------------------------


def mailing_list(slug: str) -> MailingList:
    found = db.session.scalar(select(MailingList).where(MailingList.slug == slug))
    assert found is not None
    return found


def add_articles(prefix: str = "a") -> list[Article]:
    """Three articles: with image and alt, with image and no alt, without image or author."""
    articles = [
        Article(
            guid=f"{prefix}{i}",
            link=f"https://news.example.org/{prefix}/{i}",
            title=title,
            summary=f"Summary of story {i}: what happened, and why it matters.",
            image_url=f"https://news.example.org/img/{prefix}{i}.jpg" if i < 2 else None,
            image_alt="A man waves from a prison gate" if i == 0 else None,
            image_credit="Photo: A. Photographer" if i < 2 else None,
            author="Nadia Writer" if i < 2 else None,
            region=["Türkiye", None, "Global"][i],
            published_at=ISSUE_DAY - timedelta(days=3 - i),
        )
        for i, title in enumerate(TITLES)
    ]
    db.session.add_all(articles)
    db.session.flush()
    return articles


def make_digest(
    app: Flask,
    *,
    list_slug: str = "weekly",
    slug: str = "weekly-2026-05-11",
    status: DigestStatus = DigestStatus.draft,
    sent_at: datetime | None = None,
    subject: str = "This week: freed voices, banned books",
    articles: bool = True,
    hostile: bool = False,
) -> int:
    """A digest with fixed dates and slug, committed; returns its id."""
    with app.app_context():
        chosen = add_articles(slug) if articles else []
        if hostile:
            evil = Article(**HOSTILE, published_at=ISSUE_DAY)  # bypasses the sanitizer
            db.session.add(evil)
            chosen.append(evil)
        digest = service.create_digest(
            mailing_list(list_slug),
            chosen,
            subject=subject,
            intro="A short week, and good news for once.\nRead on.\n\nThank you for reading.",
        )
        digest.slug, digest.created_at = slug, ISSUE_DAY
        digest.status, digest.sent_at = status, sent_at
        db.session.commit()
        return digest.id


def rendered(
    app: Flask, digest_id: int, *, archive: bool = False, language: str | None = None
) -> RenderedDigest:
    with app.app_context():
        digest = db.session.get(Digest, digest_id)
        assert digest is not None
        return render_digest(digest, archive=archive, language=language)


class Parsed(HTMLParser):
    """Start tags with their attributes, and links with their text."""

    def __init__(self, markup: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.links: list[tuple[str, str]] = []
        self._href: str | None = None
        self._text: list[str] = []
        self.feed(markup)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        self.tags.append((tag, values))
        if tag == "a":
            self._href, self._text = values.get("href", ""), []

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._href is not None:
            self.links.append((self._href, " ".join("".join(self._text).split())))
            self._href = None

    def all(self, name: str) -> list[dict[str, str]]:
        return [attrs for tag, attrs in self.tags if tag == name]


def assert_inert(markup: str) -> None:
    """No element or attribute in `markup` can run code."""
    parsed = Parsed(markup)
    for tag, attrs in parsed.tags:
        assert tag not in ("script", "svg", "object", "embed"), tag
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name)
            if name in ("href", "src", "srcdoc", "action"):
                assert not value.strip().lower().startswith(("javascript:", "data:")), value


def cell(markup: str, css_class: str) -> str:
    match = re.search(rf'<td class="{css_class}"[^>]*>(.*?)</td>', markup, re.S)
    assert match, css_class
    return match.group(1)


# --- the HTML part ----------------------------------------------------------------------------


def test_html_links_each_title_and_has_masthead_and_footer(app: Flask) -> None:
    out = rendered(app, make_digest(app))
    links = Parsed(out.html).links
    for i, title in enumerate(TITLES):
        assert (f"https://news.example.org/weekly-2026-05-11/{i}", title) in links
    assert NETWORK in cell(out.html, "masthead")
    assert ("http://localhost/archive/weekly-2026-05-11", "View in your browser") in links
    footer = cell(out.html, "footer")
    assert (
        "You receive this because you subscribed to"
        ' <span lang="en" dir="ltr">Weekly updates</span>' in footer
    )
    assert CONTACT in footer
    assert out.subject == "This week: freed voices, banned books"
    assert "A short week, and good news for once.<br>Read on.</p>" in out.html


def test_every_image_has_alt_text_and_a_fixed_width(app: Flask) -> None:
    images = Parsed(rendered(app, make_digest(app)).html).all("img")
    assert [i["alt"] for i in images] == ["A man waves from a prison gate", TITLES[1]]
    assert all(i["width"] == "544" and i["src"].startswith("https://") for i in images)


def test_markers_stand_exactly_for_the_slots(app: Flask) -> None:
    out = rendered(app, make_digest(app))
    for part in (out.html, out.text):
        assert sorted(SLOT.findall(part)) == sorted(SLOTS)


def test_css_is_inlined_once_and_filling_only_substitutes(app: Flask) -> None:
    out = rendered(app, make_digest(app))
    assert re.search(r'<h1 style="[^"]*Georgia', out.html)
    assert "prefers-color-scheme: dark" in out.html  # the <style> block stays for dark mode
    assert 'role="presentation"' in out.html and 'width="600"' in out.html
    values = {
        "unsubscribe_url": "https://x/u?a=1&b=2",
        "preferences_url": "https://x/p",
        "greeting": 'Hello "Bo",',
        "name": ' "Bo"',
    }
    html, text = fill_slots(out, values)
    expected_html, expected_text = out.html, out.text
    for slot, value in values.items():
        expected_html = expected_html.replace(f"%%mailer:{slot}%%", html_escape(value))
        expected_text = expected_text.replace(f"%%mailer:{slot}%%", value)
    assert (html, text) == (expected_html, expected_text)  # no re-rendering, no re-inlining
    assert 'href="https://x/u?a=1&amp;b=2"' in html and "Hello &quot;Bo&quot;," in html


def html_escape(value: str) -> str:
    return html.escape(value, quote=True)


def test_greeting_reads_well_with_and_without_a_name(app: Flask) -> None:
    out = rendered(app, make_digest(app))
    with app.app_context():
        named = fill_slots(out, sample_slots())
        nameless = fill_slots(out, {**sample_slots(), "greeting": greeting("en").to("")})
    assert "Hello Sam," in named[0] and "Hello Sam,\n" in named[1]
    assert "Hello," in nameless[0] and "Hello,\n" in nameless[1]


def test_unknown_or_missing_slot_is_a_key_error(app: Flask) -> None:
    with pytest.raises(KeyError):
        fill_slots(RenderedDigest("s", "<p>%%mailer:nope%%</p>", ""), {"nope2": "x"})
    out = rendered(app, make_digest(app))
    with pytest.raises(KeyError):
        fill_slots(out, {"name": ""})


def test_a_marker_typed_into_content_is_not_a_slot(app: Flask) -> None:
    with app.app_context():
        digest = db.session.get(Digest, make_digest(app))
        assert digest is not None
        digest.intro = "Type %%mailer:unsubscribe_url%% or %%mailer:nope%% here."
        out = render_digest(digest)
        html, text = fill_slots(out, sample_slots())
    assert sorted(SLOT.findall(out.html)) == sorted(SLOTS)
    assert "Type %%mailer:unsubscribe_url%% or %%mailer:nope%% here." in html_text(html)
    assert "/unsubscribe/sample or" not in text


def html_text(markup: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", markup))


# --- the text part ----------------------------------------------------------------------------


def test_text_part_is_written_for_text(app: Flask) -> None:
    text = rendered(app, make_digest(app)).text
    assert not re.search(r"<[a-zA-Z/][^>]*>", text)
    for i, title in enumerate(TITLES):
        assert f"{i + 1}. {title}" in text
        assert f"Read: https://news.example.org/weekly-2026-05-11/{i}" in text
    assert "By Nadia Writer · Türkiye" in text
    assert "-" * 72 in text
    assert "http://localhost/archive/weekly-2026-05-11" in text
    assert "Unsubscribe: %%mailer:unsubscribe_url%%" in text
    assert text.rstrip().endswith(CONTACT)
    assert max(len(line) for line in text.splitlines() if "http" not in line) <= 80


# --- slot values ------------------------------------------------------------------------------


def test_recipient_slots_are_the_readers_real_links(app: Flask) -> None:
    with app.app_context():
        weekly = mailing_list("weekly")
        ada = Subscriber(email="ada@example.org", address_hash=address_hash("ada@example.org"))
        ada.name = "  Ada   Lovelace "
        nameless = Subscriber(email="no@example.org", address_hash=address_hash("no@example.org"))
        db.session.add_all([ada, nameless])
        db.session.commit()
        slots = recipient_slots(ada, weekly)
        assert slots["greeting"] == "Hello Ada Lovelace,"
        assert recipient_slots(nameless, weekly)["greeting"] == "Hello,"
        for slot, path, purpose in [
            ("unsubscribe_url", "/unsubscribe/", "unsubscribe"),
            ("preferences_url", "/preferences/", "preferences"),
        ]:
            url = urlsplit(slots[slot])
            assert url.netloc == "localhost" and url.path.startswith(path)
            token = url.path.removeprefix(path)
            assert subscriber_from_token(purpose, token).id == ada.id
        unsubscribe = urlsplit(slots["unsubscribe_url"]).path.removeprefix("/unsubscribe/")
        assert read_token("unsubscribe", unsubscribe, None)["l"] == weekly.id


def test_sample_slots_are_clearly_fake(app: Flask) -> None:
    with app.app_context():
        slots, russian = sample_slots(), sample_slots("ru")
    assert russian["greeting"] == "Здравствуйте, Sam!"
    assert slots == {
        "unsubscribe_url": "http://localhost/unsubscribe/sample",
        "preferences_url": "http://localhost/preferences/sample",
        "greeting": "Hello Sam,",
        "name": " Sam",
    }


# --- archive rendering and hostile content ----------------------------------------------------


def test_archive_rendering_has_no_per_recipient_parts(app: Flask) -> None:
    out = rendered(app, make_digest(app), archive=True)
    for part in (out.html, out.text):
        assert not SLOT.search(part) and "%%" not in part
        assert "/unsubscribe/" not in part and "/preferences/" not in part
        assert "Hello" not in part and "You receive this" not in part
    links = Parsed(out.html).links
    assert ("https://news.example.org/weekly-2026-05-11/0", TITLES[0]) in links
    assert "View in your browser" not in out.html
    anchors = Parsed(out.html).all("a")
    assert anchors and all(a["target"] == "_blank" and "noopener" in a["rel"] for a in anchors)


def test_private_list_mail_has_no_view_in_browser_link(app: Flask) -> None:
    out = rendered(app, make_digest(app, list_slug="members", slug="members-1"))
    assert "/archive/" not in out.html and "/archive/" not in out.text


@pytest.mark.parametrize("archive", [False, True])
def test_hostile_article_never_becomes_markup(app: Flask, archive: bool) -> None:
    out = rendered(app, make_digest(app, hostile=True), archive=archive)
    with app.app_context():
        html = out.html if archive else fill_slots(out, sample_slots())[0]
    assert_inert(html)
    assert "alert('body')" not in html and "body</p>" not in html  # body_html is never used
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in html  # the summary is shown as text
    assert "&lt;img src=x onerror=alert(1)&gt;Hostile title" in html
    image = Parsed(html).all("img")[-1]
    assert image["src"] == HOSTILE["image_url"] and image["alt"] == HOSTILE["image_alt"]


# --- test send over SMTP ----------------------------------------------------------------------


def test_send_test_digest_goes_out_over_smtp(app: Flask, smtp_server: SmtpServer) -> None:
    digest_id = make_digest(app)
    smtp_server.clear()
    with app.app_context():
        send_test_digest.run(digest_id, testsend.remember(digest_id, "me@example.org"))
    received = smtp_server.wait_for(1)
    assert len(received) == 1 and received[0].rcpt_tos == ["me@example.org"]
    msg = received[0].message
    assert msg.get_content_type() == "multipart/alternative"
    assert msg["Subject"] == "[Test] This week: freed voices, banned books"
    # The sample reader's links, and the mailto every digest message carries (RFC 2369).
    https, mailto = msg["List-Unsubscribe"].split(", ")
    assert https.startswith("<http://localhost/unsubscribe/") and mailto.startswith("<mailto:")
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg["List-Id"] == "Weekly updates <weekly.example.org>"
    text, body = msg.get_body(("plain",)), msg.get_body(("html",))
    assert text is not None and body is not None
    for title in TITLES:
        assert title in text.get_content() and title in body.get_content()
    assert "Hello Sam," in text.get_content() and "%%mailer" not in body.get_content()


def test_send_test_digest_of_a_deleted_digest_sends_nothing(
    app: Flask, smtp_server: SmtpServer
) -> None:
    smtp_server.clear()
    with app.app_context():
        send_test_digest.run(999, testsend.remember(999, "me@example.org"))
        send_test_digest.run(1, "expired-or-never-there")
    assert smtp_server.received == []


# --- snapshot ---------------------------------------------------------------------------------


def test_rendered_digest_matches_snapshot(app: Flask) -> None:
    out = rendered(app, make_digest(app))
    parts = {
        "digest.subject.txt": out.subject + "\n",
        "digest.txt": out.text,
        "digest.html": out.html,
    }
    update = os.environ.get("UPDATE_SNAPSHOTS") == "1"
    for name, content in parts.items():
        path = SNAPSHOTS / name
        if update:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content, encoding="utf-8")
        assert path.is_file(), f"{path} is missing: run the tests with UPDATE_SNAPSHOTS=1"
        assert content == path.read_text(encoding="utf-8"), f"{name} changed: review, then update"


@pytest.mark.parametrize(
    "language",
    sorted(p.parent.parent.name for p in (SNAPSHOTS.parents[2] / "translations").glob("*/*/*.po")),
)
def test_digest_chrome_in_each_language_matches_snapshot(app: Flask, language: str) -> None:
    """The digest's chrome (greeting, buttons, footer, date) in each language, mail and web."""
    digest_id = make_digest(app)
    out = rendered(app, digest_id, language=language)
    web = rendered(app, digest_id, archive=True, language=language)
    direction = "rtl" if language in ("ar", "fa") else "ltr"
    assert f'<html lang="{language}" dir="{direction}">' in out.html
    assert out.html.count(f'dir="{direction}"') >= 4  # html, body and the two layout tables
    if language != "en":  # the stories exist in English only: each is marked as English
        assert out.html.count('lang="en" dir="ltr"') >= len(TITLES)
    assert "Read the full article" not in out.html + out.text + web.html
    parts = {
        "digest.subject.txt": out.subject + "\n",
        "digest.txt": out.text,
        "digest.html": out.html,
        "digest.web.txt": web.text,
        "digest.web.html": web.html,
    }
    update = os.environ.get("UPDATE_SNAPSHOTS") == "1"
    for name, content in parts.items():
        path = SNAPSHOTS / language / name
        if update:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content, encoding="utf-8")
        assert path.is_file(), f"{path} is missing: run the tests with UPDATE_SNAPSHOTS=1"
        assert content == path.read_text(encoding="utf-8"), f"{path} changed: review, then update"


def test_digest_follows_its_list_language_and_dates_are_written_for_it(app: Flask) -> None:
    with app.app_context():
        mailing_list("weekly").language = "ru"
        db.session.commit()
    out = rendered(app, make_digest(app))
    assert "11 мая 2026" in out.text  # the genitive month, as Russian writes a date
    assert "Читать статью полностью" in out.html
    assert '<html lang="ru" dir="ltr">' in out.html
