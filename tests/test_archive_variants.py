"""The archive has each language's version of an issue at its own URL, linked by hreflang."""

from __future__ import annotations

import html as html_lib
import re

from flask import Flask
from flask.testing import FlaskClient

from mailer.extensions import db
from mailer.models import Digest, DigestStatus, utcnow
from tests.variant_helpers import make_story_digest


def _sent_story_digest(app: Flask) -> str:
    made = make_story_digest(app, {})
    with app.app_context():
        digest = db.session.get(Digest, made.digest_id)
        assert digest is not None
        digest.status, digest.sent_at = DigestStatus.sent, utcnow()
        db.session.commit()
        return digest.slug


def _alternates(page: str) -> dict[str, str]:
    found = re.findall(r'<link rel="alternate" hreflang="([\w-]+)" href="([^"]+)">', page)
    return {code: html_lib.unescape(href) for code, href in found}


def test_each_language_has_its_url_and_they_link_each_other(
    app: Flask, client: FlaskClient
) -> None:
    slug = _sent_story_digest(app)
    english = client.get(f"/archive/{slug}")
    assert english.status_code == 200
    page = english.get_data(as_text=True)
    alternates = _alternates(page)
    assert alternates == {
        "en": f"http://localhost/archive/{slug}",
        "fr": f"http://localhost/archive/{slug}?lang=fr",
        "ru": f"http://localhost/archive/{slug}?lang=ru",
        "x-default": f"http://localhost/archive/{slug}",
    }
    assert "The river bridge reopens" in page and 'hreflang="fr" lang="fr">Français</a>' in page

    french = client.get(f"/archive/{slug}", query_string={"lang": "fr"})
    assert french.status_code == 200
    page = french.get_data(as_text=True)
    assert _alternates(page) == alternates  # the same set from every version
    assert '<div lang="fr" dir="ltr">' in page and "<h1>Cette semaine</h1>" in page
    assert "Le pont sur la rivière rouvre" in page and "(en anglais)" in page
    assert "Hello" not in page  # no per-reader parts in the archive

    russian = client.get(f"/archive/{slug}", query_string={"lang": "ru"}).get_data(as_text=True)
    assert "Мост через реку снова открыт" in russian
    assert '<h1 lang="en" dir="ltr">This week</h1>' in russian  # the English subject, marked

    # A language the issue has nothing in: the originals, marked, in a Turkish page (what a
    # Turkish reader got by mail, and where its "view in browser" link leads); not listed
    # among the versions. No language at all: no page.
    turkish = client.get(f"/archive/{slug}", query_string={"lang": "tr"})
    assert turkish.status_code == 200
    page = turkish.get_data(as_text=True)
    assert '<div lang="tr" dir="ltr">' in page and "(İngilizce)" in page
    assert _alternates(page) == alternates
    assert client.get(f"/archive/{slug}", query_string={"lang": "<x>"}).status_code == 404
    # The list's own language has one URL: ?lang=en goes there.
    again = client.get(f"/archive/{slug}", query_string={"lang": "en"})
    assert again.status_code == 301 and again.headers["Location"].endswith(f"/archive/{slug}")


def test_a_draft_has_no_version_in_any_language(app: Flask, client: FlaskClient) -> None:
    made = make_story_digest(app, {})
    with app.app_context():
        digest = db.session.get(Digest, made.digest_id)
        assert digest is not None
        slug = digest.slug
    assert client.get(f"/archive/{slug}", query_string={"lang": "fr"}).status_code == 404


def test_the_index_shows_each_issue_in_the_chosen_language(app: Flask, client: FlaskClient) -> None:
    """/archive?lang=fr lists the French subject, linked to the French version; where the issue
    has no subject in the language (Russian), the list's, marked as English, still linked to
    the Russian version (its Russian stories); the list's own language links to the plain URL.
    """
    slug = _sent_story_digest(app)

    def item(page: str) -> tuple[str, str]:
        found = re.search(r'<ul class="archive">\s*<li><a href="([^"]+)"([^>]*)>([^<]+)</a>', page)
        assert found, page
        return html_lib.unescape(found.group(1)), found.group(2) + ">" + found.group(3)

    french = client.get("/archive", query_string={"lang": "fr"}).get_data(as_text=True)
    assert item(french) == (f"/archive/{slug}?lang=fr", ">Cette semaine")
    opened = client.get(item(french)[0]).get_data(as_text=True)
    assert "<h1>Cette semaine</h1>" in opened

    russian = client.get("/archive", query_string={"lang": "ru"}).get_data(as_text=True)
    assert item(russian) == (f"/archive/{slug}?lang=ru", ' lang="en" dir="ltr">This week')
    assert "Мост через реку снова открыт" in client.get(item(russian)[0]).get_data(as_text=True)

    # The browser's language chooses as well as ?lang= does.
    browser_fr = client.get("/archive", headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert item(browser_fr) == (f"/archive/{slug}?lang=fr", ">Cette semaine")

    english = client.get("/archive", query_string={"lang": "en"}).get_data(as_text=True)
    assert item(english) == (f"/archive/{slug}", ">This week")
    # The list's name, from the database, carries its own language in every page.
    assert '<span lang="en" dir="ltr">Weekly updates</span>' in russian
