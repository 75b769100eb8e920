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
    assert "Мост через реку снова открыт" in russian and "<h1>This week</h1>" in russian

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
