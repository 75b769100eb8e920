"""Editors link translations, write a digest's subject and intro per language, preview each."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from mailer.digests import testsend, variants
from mailer.extensions import db
from mailer.models import Article, Digest, DigestText
from mailer.tasks import send_test_digest
from tests.conftest import SmtpServer, queued_tasks
from tests.test_admin import admin, editor, post  # noqa: F401  (fixtures)
from tests.variant_helpers import article, make_story_digest


def _article_data(a: Article, **changes: str) -> dict[str, str]:
    return {
        "title": a.title,
        "link": a.link,
        "language": a.language,
        "translation_of": "",
        **changes,
    }


def test_editor_links_and_unlinks_a_translation(app: Flask, admin: FlaskClient) -> None:  # noqa: F811
    with app.app_context():
        en, fr = article("rain", "Rain", "en"), article("pluie", "Pluie", "fr")
        fr2 = article("averse", "Averse", "fr")
        db.session.commit()
        data = _article_data(fr, translation_of=str(en.id))
        data_again = _article_data(fr2, translation_of=str(en.id))
        ids = (en.id, fr.id, fr2.id)
    page = admin.get(f"/admin/articles/{ids[1]}").get_data(as_text=True)
    assert 'name="translation_of"' in page and "Rain (English)" in page
    assert post(admin, f"/admin/articles/{ids[1]}", data).status_code == 303
    page = admin.get(f"/admin/articles/{ids[0]}").get_data(as_text=True)
    assert 'id="versions"' in page and 'hreflang="fr"' in page
    assert f'<option selected value="{ids[1]}">' in page  # the English one shows its link
    # A second French version of the same story: refused, clearly, nothing written.
    refused = post(admin, f"/admin/articles/{ids[2]}", data_again)
    assert refused.status_code == 422
    assert "already has a Français version" in refused.get_data(as_text=True)
    # Changing the linked French article to English: the story has English already.
    clash = post(admin, f"/admin/articles/{ids[1]}", {**data, "language": "en"})
    assert clash.status_code == 422 and "already has a English version" in clash.get_data(
        as_text=True
    )
    for wrong in ("999999", "99999999999999999999", "x"):
        bad = post(admin, f"/admin/articles/{ids[1]}", {**data, "translation_of": wrong})
        assert bad.status_code == 422 and "Choose an article" in bad.get_data(as_text=True)
    with app.app_context():
        got = {a.id: a for a in db.session.scalars(select(Article))}
        assert got[ids[1]].story_id == got[ids[0]].story_id is not None
        assert got[ids[1]].language == "fr" and got[ids[2]].story_id is None
    assert post(admin, f"/admin/articles/{ids[1]}", _article_data(got[ids[1]])).status_code == 303
    with app.app_context():
        assert db.session.get(Article, ids[1]).story_id is None  # type: ignore[union-attr]


def test_digest_texts_per_language_with_fallback_marks(app: Flask, admin: FlaskClient) -> None:  # noqa: F811
    made = make_story_digest(app, {})
    url = f"/admin/digests/{made.digest_id}"
    page = admin.get(url).get_data(as_text=True)
    assert 'id="subject_fr"' in page and "Cette semaine" in page
    assert page.count("falls back to English") == 5  # ar, es, fa, ru, tr
    base = {"subject": "This week", "intro": "", "article_ids": []}
    bad = post(admin, url, {**base, "subject_ru": "Строка\nдве"})
    assert bad.status_code == 422 and "single line" in bad.get_data(as_text=True)
    orphan = post(admin, url, {**base, "intro_es": "Sin asunto"})
    assert orphan.status_code == 422 and "Spanish" not in orphan.get_data(as_text=True)
    assert "Give the Español version a subject" in orphan.get_data(as_text=True)
    with app.app_context():
        assert {t.language for t in db.session.scalars(select(DigestText))} == {"fr"}
    saved = post(admin, url, {**base, "subject_ru": "На этой неделе", "intro_ru": "Привет"})
    assert saved.status_code == 303
    with app.app_context():
        digest = db.session.get(Digest, made.digest_id)
        assert digest is not None
        assert sorted(variants.texts(digest)) == ["ru"]  # fr left empty: dropped, falls back
    page = admin.get(url).get_data(as_text=True)
    assert page.count("falls back to English") == 5 and "На этой неделе" in page


def test_preview_per_language_and_refusal_of_an_unknown_one(
    app: Flask,
    admin: FlaskClient,  # noqa: F811
) -> None:
    made = make_story_digest(app, {})
    url = f"/admin/digests/{made.digest_id}/preview"
    page = admin.get(url, query_string={"lang": "fr"}).get_data(as_text=True)
    assert "Cette semaine" in page and "Le pont sur la rivière rouvre" in page
    assert "(en anglais)" in page and "preview.html?lang=fr" in page
    html = admin.get(url + ".html", query_string={"lang": "ru"}).get_data(as_text=True)
    assert '<html lang="ru" dir="ltr">' in html and "Мост через реку" in html
    bad = admin.get(url, query_string={"lang": "xx"})
    assert bad.status_code == 400 and "There is no language" in bad.get_data(as_text=True)
    assert admin.get(url + ".html", query_string={"lang": "<b>"}).status_code == 400


def test_test_send_in_a_language(
    app: Flask,
    admin: FlaskClient,  # noqa: F811
    smtp_server: SmtpServer,
) -> None:
    made = make_story_digest(app, {})
    page = f"/admin/digests/{made.digest_id}"
    bad = post(admin, f"{page}/test", {"address": "me@example.org", "language": "xx"}, page=page)
    assert bad.status_code == 303 and queued_tasks(app) == []
    post(admin, f"{page}/test", {"address": "me@example.org", "language": "fr"}, page=page)
    ((_name, args),) = queued_tasks(app)
    smtp_server.clear()
    with app.app_context():
        send_test_digest.run(*args)
    message = smtp_server.wait_for(1)[0].message
    assert message["Subject"] == "[Test] Cette semaine"
    with app.app_context():
        test_id = testsend.remember(made.digest_id, "me@example.org")  # no language: the list's
        assert testsend.message(test_id) is not None
