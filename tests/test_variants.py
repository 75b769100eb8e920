"""A digest in each reader's language: translations linked, fallbacks marked, rendered once."""

from __future__ import annotations

import re
from email.message import EmailMessage

import pytest
from flask import Flask
from sqlalchemy import delete, func, select

from mailer.articles import stories
from mailer.digests import content, outbox, sending, variants
from mailer.extensions import db
from mailer.models import (
    Article,
    Delivery,
    DeliveryStatus,
    Digest,
    DigestRendering,
    DigestText,
    Subscriber,
)
from tests.conftest import SmtpServer
from tests.variant_helpers import article, make_story_digest


def _digest(digest_id: int) -> Digest:
    found = db.session.get(Digest, digest_id)
    assert found is not None
    return found


def test_linking_joins_stories_and_refuses_a_language_twice(app: Flask) -> None:
    with app.app_context():
        en = article("a", "Rain", "en")
        fr = article("b", "Pluie", "fr")
        es = article("c", "Lluvia", "es")
        fr2 = article("d", "Averse", "fr")
        stories.link(fr, en)
        stories.link(es, fr)  # a translation of a translation joins the same story
        assert [a.language for a in stories.versions(en)] == ["en", "es", "fr"]
        with pytest.raises(stories.LinkRefused, match="already has a Français version"):
            stories.link(fr2, en)
        with pytest.raises(stories.LinkRefused, match="itself"):
            stories.link(en, en)
        assert fr2.story_id is None  # nothing written by a refused link
        with pytest.raises(stories.LinkRefused, match="already has a Español version"):
            stories.check_language(fr, "es")
        stories.unlink(es)
        assert [a.language for a in stories.versions(en)] == ["en", "fr"]
        assert stories.versions(es) == [es]


def test_linking_two_stories_moves_every_version(app: Flask) -> None:
    with app.app_context():
        en, fr = article("a", "Rain", "en"), article("b", "Pluie", "fr")
        ru, tr = article("c", "Дождь", "ru"), article("d", "Yağmur", "tr")
        stories.link(fr, en)
        stories.link(tr, ru)
        stories.link(ru, en)
        db.session.expire_all()
        assert {a.language for a in stories.versions(tr)} == {"en", "fr", "ru", "tr"}


def test_each_language_gets_its_versions_and_texts_else_the_original_marked(app: Flask) -> None:
    made = make_story_digest(app)
    with app.app_context():
        digest = _digest(made.digest_id)
        fr = variants.variant(digest, "fr")
        assert fr.subject == "Cette semaine" and fr.intro == "Deux histoires cette semaine."
        assert [a.title for a in fr.articles] == [
            "Le pont sur la rivière rouvre",
            "An early harvest in the valley",
        ]
        es = variants.variant(digest, "es")  # no text, no translation: all falls back
        assert es.subject == "This week" and [a.language for a in es.articles] == ["en", "en"]
        assert variants.languages(digest) == ["en", "fr", "ru"]

        rendered = content.render_digest(digest, variant=fr)
        assert rendered.subject == "Cette semaine"
        assert '<html lang="fr" dir="ltr">' in rendered.html
        # The harvest story has no French version: it comes in English, marked and noted.
        marked = re.findall(r'<table[^>]*class="article"[^>]*lang="en" dir="ltr"', rendered.html)
        assert len(marked) == 1
        assert "(en anglais)" in rendered.html and "(en anglais)" in rendered.text
        assert rendered.html.count("(en anglais)") == 1

        fa = content.render_digest(digest, variant=variants.variant(digest, "fa"))
        assert '<html lang="fa" dir="rtl">' in fa.html and "(به انگلیسی)" in fa.text

        english = content.render_digest(digest)
        assert '<html lang="en" dir="ltr">' in english.html and "(in " not in english.text


def test_texts_per_language_are_saved_and_an_empty_subject_falls_back(app: Flask) -> None:
    made = make_story_digest(app)
    with app.app_context():
        digest = _digest(made.digest_id)
        variants.save_texts(digest, {"ru": ("На этой неделе", "Вступление"), "fr": ("", "")})
        variants.save_texts(digest, {"en": ("ignored", ""), "xx": ("ignored", "")})
        assert sorted(variants.texts(digest)) == ["ru"]
        assert variants.variant(digest, "fr").subject == "This week"


def _messages(smtp_server: SmtpServer, count: int) -> dict[str, EmailMessage]:
    return {r.rcpt_tos[0]: r.message for r in smtp_server.wait_for(count)}


def test_a_send_renders_once_per_language_and_each_reader_gets_theirs(
    app: Flask, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    smtp_server.clear()
    made = make_story_digest(app, {"en": 7, "fr": 6, "ru": 5})
    calls: list[str] = []
    real = variants.render_digest

    def counting(digest: Digest, **kwargs: object) -> content.RenderedDigest:
        variant = kwargs.get("variant")
        calls.append(getattr(variant, "language", "?"))
        return real(digest, **kwargs)  # type: ignore[arg-type]

    built: list[str] = []
    real_build = variants.build_template

    def counting_build(*args: object) -> object:
        built.append(str(args[1]))
        return real_build(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(variants, "render_digest", counting)
    monkeypatch.setattr(content, "render_digest", counting)
    monkeypatch.setattr(variants, "build_template", counting_build)
    with app.app_context():
        assert outbox.start(made.digest_id) == 18
        db.session.commit()
        for lo, hi in outbox.batch_ranges(made.digest_id, 4):
            sending.send_batch(made.digest_id, lo, hi)
        stored = db.session.scalars(
            select(DigestRendering.language).where(DigestRendering.digest_id == made.digest_id)
        ).all()
        statuses = set(db.session.scalars(select(Delivery.status)).all())
    assert sorted(calls) == ["en", "fr", "ru"]  # 18 readers, 5 batches, 3 renderings
    assert sorted(built) == ["Cette semaine", "This week", "This week"]  # a message each
    assert sorted(stored) == ["en", "fr", "ru"]
    assert statuses == {DeliveryStatus.sent}
    messages = _messages(smtp_server, 18)
    assert len(smtp_server.received) == 18
    for address, message in messages.items():
        html = message.get_body(("html",))
        assert html is not None
        body = html.get_content()
        if address.startswith("fr"):
            assert message["Subject"] == "Cette semaine"
            assert "Le pont sur la rivière rouvre" in body and "(en anglais)" in body
        elif address.startswith("ru"):
            assert message["Subject"] == "This week"  # no Russian subject written
            assert "Мост через реку снова открыт" in body and "(на английском)" in body
        else:
            assert message["Subject"] == "This week"
            assert "The river bridge reopens" in body and "(in " not in body


def test_deleting_a_digest_deletes_its_texts_and_renderings(app: Flask) -> None:
    made = make_story_digest(app)
    with app.app_context():
        outbox.start(made.digest_id)
        db.session.commit()
        assert db.session.scalar(select(func.count(DigestRendering.id))) == 3
        db.session.execute(delete(Delivery))
        db.session.execute(delete(Digest))
        db.session.commit()
        assert db.session.scalar(select(func.count(DigestRendering.id))) == 0
        assert db.session.scalar(select(func.count(DigestText.id))) == 0


def test_a_reader_whose_language_changed_after_the_start_gets_the_default(
    app: Flask, smtp_server: SmtpServer
) -> None:
    smtp_server.clear()
    made = make_story_digest(app, {"fr": 1})
    with app.app_context():
        outbox.start(made.digest_id)
        db.session.commit()
        reader = db.session.get(Subscriber, made.reader_ids["fr"][0])
        assert reader is not None
        reader.language = "tr"  # no Turkish rendering was made
        db.session.commit()
        for lo, hi in outbox.batch_ranges(made.digest_id, 10):
            assert sending.send_batch(made.digest_id, lo, hi).sent == 1
    message = smtp_server.wait_for(1)[0].message
    assert message["Subject"] == "This week"


def test_a_digest_made_from_recent_articles_takes_one_version_per_story(app: Flask) -> None:
    from mailer.digests import service
    from tests.variant_helpers import weekly

    with app.app_context():
        en = article("a", "Rain", "en")
        stories.link(article("b", "Pluie", "fr"), en)
        article("c", "Wind", "en")
        digest = service.create_digest(weekly())
        titles = sorted(a.title for a in digest.articles)
        assert titles == ["Rain", "Wind"]
        assert db.session.scalar(select(Article).where(Article.title == "Pluie")) is not None


def test_demo_has_stories_in_seven_languages_and_a_reader_per_language(
    app: Flask, runner: object
) -> None:
    result = runner.invoke(args=["demo"])  # type: ignore[attr-defined]
    assert result.exit_code == 0, result.output
    assert "7 demo readers added" in result.output
    with app.app_context():
        digest = db.session.scalar(select(Digest))
        assert digest is not None and len(digest.items) == 4  # one version per story
        assert {a.language for a in digest.articles} == {"en"}
        assert variants.languages(digest) == ["en", "ar", "es", "fa", "fr", "ru", "tr"]
        assert sorted(variants.texts(digest)) == ["ar", "es", "fr", "ru"]
        fa = variants.variant(digest, "fa")
        assert fa.subject == digest.subject  # no Persian subject: the English one
        assert [a.language for a in fa.articles].count("fa") == 2
        readers = db.session.scalars(select(Subscriber.language)).all()
        assert sorted(readers) == sorted(["en", "fr", "es", "ru", "ar", "fa", "tr"])
    again = runner.invoke(args=["demo"])  # type: ignore[attr-defined]
    assert "0 lists, 0 articles, 0 draft digests, 0 demo readers" in again.output


def test_the_demo_digest_reaches_each_demo_reader_in_their_language(
    app: Flask, runner: object, smtp_server: SmtpServer
) -> None:
    smtp_server.clear()
    runner.invoke(args=["demo"])  # type: ignore[attr-defined]
    with app.app_context():
        digest = db.session.scalar(select(Digest))
        assert digest is not None
        assert outbox.start(digest.id) == 7
        db.session.commit()
        for lo, hi in outbox.batch_ranges(digest.id, 10):
            sending.send_batch(digest.id, lo, hi)
        english_subject = digest.subject
    messages = _messages(smtp_server, 7)
    arabic = messages["reader-ar@example.org"]
    assert arabic["Subject"] == "أبرز أخبار الأسبوع"
    html = arabic.get_body(("html",))
    assert html is not None and '<html lang="ar" dir="rtl">' in html.get_content()
    assert "الإفراج عن الشاعرة لينا فارغا بعفو مفاجئ" in html.get_content()
    assert "(بالإنجليزية)" in html.get_content()  # the report has no Arabic version
    persian = messages["reader-fa@example.org"]
    assert persian["Subject"] == english_subject  # no Persian subject: falls back
    text = persian.get_body(("plain",))
    assert text is not None and "لنا وارگا، شاعر، با عفوی غیرمنتظره آزاد شد" in text.get_content()
    assert messages["reader-fr@example.org"]["Subject"] == "L'essentiel de la semaine"


def test_a_language_note_for_a_language_added_later_comes_from_cldr() -> None:
    """The seven catalogued languages have a phrase per pair; any other language gets CLDR's
    name of the article's language in the reader's language: adding a language is no code."""
    from mailer.digests.language_notes import in_language

    assert in_language("fr", "ru") == "(на французском)"
    assert in_language("en", "de") == "(Englisch)"
    assert in_language("de", "fr") == "(allemand)"
    assert in_language("en", "zz") == "(in English)"
    assert in_language("xx", "en") == "(xx)"


def _marked(tag: str, text: str, html: str) -> bool:
    """Whether `html` has `tag` (with any class) marked English, left to right, around `text`."""
    pattern = rf'<{tag}(?=[^>]*lang="en")(?=[^>]*dir="ltr")[^>]*>{re.escape(text)}'
    return re.search(pattern, html) is not None


def test_a_subject_and_intro_in_another_language_carry_theirs(app: Flask) -> None:
    """A Persian reader of an issue with no Persian subject gets the English one, marked
    English, left to right (its full stop stays at its end); the French one is French."""
    made = make_story_digest(app)
    with app.app_context():
        digest = _digest(made.digest_id)
        fa = content.render_digest(digest, variant=variants.variant(digest, "fa")).html
        assert _marked("h1", "This week</h1>", fa)
        assert _marked("p", "Two stories this week.", fa)
        fr = content.render_digest(digest, variant=variants.variant(digest, "fr")).html
        assert re.search(r"<h1( style=\"[^\"]*\")?>Cette semaine</h1>", fr)
        assert not _marked("p", "Deux histoires", fr)
        # Without a variant, in another language than the list's (an editor's preview).
        preview = content.render_digest(digest, language="ar").html
        assert _marked("h1", "This week</h1>", preview)
