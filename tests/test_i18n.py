"""Which language a page or a mail is in (issue 12): ?lang=, the reader's saved language,
Accept-Language, the list's default; the switcher; RTL; dates; mails in the reader's language."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.message import EmailMessage

from flask import Flask
from flask.testing import FlaskClient
from flask_babel import gettext
from sqlalchemy import select

from mailer import i18n
from mailer.extensions import db
from mailer.models import (
    ConsentRecord,
    Digest,
    DigestStatus,
    MailingList,
    Subscriber,
    SubscriptionStatus,
)
from mailer.subscriptions import links, service
from mailer.tasks import send_already_subscribed, send_confirmation, send_link_mail
from tests.conftest import csrf_token, links_in


def html_lang(page: str) -> tuple[str, str]:
    found = re.search(r'<html lang="([^"]+)" dir="([^"]+)">', page)
    assert found, page[:200]
    return found.group(1), found.group(2)


def get(client: FlaskClient, url: str, accept: str | None = None) -> str:
    headers = {"Accept-Language": accept} if accept else {}
    response = client.get(url, headers=headers)
    assert response.status_code in (200, 404, 410), response.status_code
    return response.get_data(as_text=True)


def set_list_language(app: Flask, slug: str, language: str) -> None:
    with app.app_context():
        found = db.session.scalar(select(MailingList).where(MailingList.slug == slug))
        assert found is not None
        found.language = language
        db.session.commit()


def confirmed_reader(app: Flask, language: str, email: str = "reader@example.org") -> int:
    with app.app_context():
        signup = service.subscribe(email, lists=service.lists_by_slug(["weekly"]))
        subscriber = db.session.get(Subscriber, signup.subscriber_id)
        assert subscriber is not None
        subscriber.language = language
        for sub in subscriber.subscriptions:
            sub.status = SubscriptionStatus.confirmed
        db.session.commit()
        return subscriber.id


def token(app: Flask, subscriber_id: int, purpose: str) -> str:
    with app.app_context():
        subscriber = db.session.get(Subscriber, subscriber_id)
        assert subscriber is not None
        if purpose == "preferences":
            return links.preferences_token(subscriber)
        return links.unsubscribe_token(subscriber)


# --- the public form ----------------------------------------------------------------------------


def test_sign_up_form_follows_accept_language(client: FlaskClient) -> None:
    page = get(client, "/subscribe", "ru-RU,ru;q=0.9,en;q=0.5")
    assert html_lang(page) == ("ru", "ltr")
    assert "Подпишитесь на еженедельную рассылку" in page
    assert '<option selected value="ru">' in page  # the form's language, preselected


def test_lang_parameter_wins_over_the_browser(client: FlaskClient) -> None:
    page = get(client, "/subscribe?lang=fa", "ru,en;q=0.5")
    assert html_lang(page) == ("fa", "rtl")
    assert "عضویت در خبرنامهٔ هفتگی" in page
    assert 'action="/subscribe?lang=fa"' in page  # a refused form comes back in Persian


def test_unknown_lang_parameter_and_browser_language_fall_back_to_the_list(
    app: Flask, client: FlaskClient
) -> None:
    assert html_lang(get(client, "/subscribe?lang=xx", "de-DE")) == ("en", "ltr")
    set_list_language(app, "weekly", "tr")  # the list the form offers first
    page = get(client, "/subscribe?lang=xx", "de-DE,de;q=0.9")
    assert html_lang(page) == ("tr", "ltr")
    assert "Haftalık güncellemelere kaydolun" in page
    assert html_lang(get(client, "/subscribe")) == ("tr", "ltr")


def test_language_switcher_links_every_language_and_keeps_the_page(client: FlaskClient) -> None:
    page = get(client, "/subscribe?embed=0&lang=es")
    switcher = re.search(r'<nav class="languages".*?</nav>', page, re.S)
    assert switcher
    hrefs = dict(re.findall(r'<a href="([^"]+)" lang="(\w+)"', switcher.group(0)))
    assert sorted(hrefs.values()) == sorted(["en", "ar", "es", "fa", "fr", "ru", "tr"])
    assert "/subscribe?embed=0&amp;lang=ar" in hrefs
    assert 'lang="es" hreflang="es" aria-current="true">Español' in switcher.group(0)
    assert 'aria-label="Leer esta página en"' in switcher.group(0)
    # The form's field names are fixed (the product contract): the language changes none of them.
    for name in ("email", "name", "lists", "language", "consent", "website", "csrf_token"):
        assert f'name="{name}"' in page


def test_sign_up_errors_come_back_in_the_page_language(app: Flask, client: FlaskClient) -> None:
    page = get(client, "/subscribe?lang=ar")
    response = client.post(
        "/subscribe?lang=ar",
        data={"csrf_token": csrf_token(page), "email": "no", "lists": ["weekly"]},
    )
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert html_lang(body) == ("ar", "rtl")
    assert "أدخل عنوان بريد إلكتروني صالحًا، مثل name@example.org." in body
    assert "يُرجى الموافقة على تلقي هذه الرسائل." in body


def test_confirmation_mail_is_in_the_language_chosen_on_the_form(
    app: Flask, client: FlaskClient, outbox: list[EmailMessage]
) -> None:
    page = get(client, "/subscribe?lang=ar")
    response = client.post(
        "/subscribe?lang=ar",
        data={
            "csrf_token": csrf_token(page),
            "email": "reader@example.org",
            "lists": ["weekly"],
            "language": "ru",  # the page in Arabic, the mail asked for in Russian
            "consent": "y",
        },
    )
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/check-inbox?lang=ar")
    assert html_lang(get(client, response.headers["Location"])) == ("ar", "rtl")
    with app.app_context():
        subscriber = db.session.scalar(select(Subscriber))
        assert subscriber is not None
        send_confirmation(subscriber.id)
    mail = outbox[-1]
    assert mail["Subject"] == "Подтвердите подписку на The Free Expression Network"
    text = mail.get_body(("plain",))
    html = mail.get_body(("html",))
    assert text is not None and html is not None
    assert "Ссылка сработает один раз и действует 7 дней." in text.get_content()
    assert '<html lang="ru" dir="ltr">' in html.get_content()

    confirm = next(u for u in links_in(mail) if "/confirm/" in u).replace("http://localhost", "")
    page = get(client, confirm, "en-US,en;q=0.9")
    assert html_lang(page) == ("ru", "ltr") and "Подтвердите подписку" in page
    response = client.post(confirm, data={"csrf_token": csrf_token(page)})
    assert "Вы подписаны" in response.get_data(as_text=True)
    # Proof of consent names the language each wording was shown in.
    with app.app_context():
        records = db.session.scalars(select(ConsentRecord).order_by(ConsentRecord.id)).all()
        assert [(r.action, r.language) for r in records] == [("signup", "ar"), ("confirm", "ru")]
        assert records[0].as_dict()["language"] == "ar"


# --- pages a reader's link opens --------------------------------------------------------------


def test_link_pages_show_the_readers_saved_language(app: Flask, client: FlaskClient) -> None:
    reader = confirmed_reader(app, "fa")
    preferences = f"/preferences/{token(app, reader, 'preferences')}"
    page = get(client, preferences, "fr-FR,fr;q=0.9")
    assert html_lang(page) == ("fa", "rtl")
    assert "تنظیمات شما" in page and "ذخیرهٔ تنظیمات" in page
    unsubscribe = f"/unsubscribe/{token(app, reader, 'unsubscribe')}"
    page = get(client, unsubscribe, "fr-FR,fr;q=0.9")
    assert html_lang(page) == ("fa", "rtl") and "لغو اشتراک" in page
    done = client.post(unsubscribe).get_data(as_text=True)
    assert html_lang(done) == ("fa", "rtl") and "اشتراک شما لغو شد" in done
    # The switcher (?lang=) still lets them read the page in another language.
    assert html_lang(get(client, f"{preferences}?lang=es")) == ("es", "ltr")


def test_saving_a_new_language_shows_the_page_in_it(app: Flask, client: FlaskClient) -> None:
    reader = confirmed_reader(app, "en")
    url = f"/preferences/{token(app, reader, 'preferences')}"
    page = get(client, url)
    with app.app_context():
        weekly = service.lists_by_slug(["weekly"])[0].id
    response = client.post(
        url, data={"csrf_token": csrf_token(page), "lists": [weekly], "language": "tr"}
    )
    assert response.status_code == 303
    saved = get(client, url, "en")
    assert html_lang(saved) == ("tr", "ltr") and "Tercihleriniz kaydedildi." in saved


def test_mails_to_a_reader_are_in_their_language(app: Flask, outbox: list[EmailMessage]) -> None:
    reader = confirmed_reader(app, "es")
    with app.app_context():
        send_already_subscribed(reader)
        send_link_mail(reader, "erase")
    already, erase = outbox[-2:]
    assert already["Subject"] == "Ya tienes una suscripción a The Free Expression Network"
    assert erase["Subject"] == "Confirma que The Free Expression Network debe borrar tus datos"
    body = erase.get_body(("plain",))
    assert body is not None
    assert "El enlace funciona una sola vez y caduca en 60 minutos." in body.get_content()


# --- errors, the archive, the admin -----------------------------------------------------------


def test_error_pages_in_the_browser_language(client: FlaskClient) -> None:
    page = get(client, "/no-such-page", "fr")
    assert html_lang(page) == ("fr", "ltr")
    assert "Page introuvable" in page and "Erreur 404" in page
    invalid = get(client, "/preferences/not-a-token", "ar")
    assert html_lang(invalid) == ("ar", "rtl") and "هذا الرابط غير صالح" in invalid
    response = client.get(
        "/no-such-page", headers={"Accept": "application/json", "Accept-Language": "ru"}
    )
    assert response.get_json()["error"]["message"].startswith("Здесь ничего нет.")


def test_archive_dates_are_written_for_the_language(app: Flask, client: FlaskClient) -> None:
    with app.app_context():
        weekly = service.lists_by_slug(["weekly"])[0]
        db.session.add(
            Digest(
                mailing_list=weekly,
                subject="Freed voices",
                slug="freed-voices",
                status=DigestStatus.sent,
                sent_at=datetime(2026, 5, 11, 8, 0, tzinfo=UTC),
            )
        )
        db.session.commit()
    assert "11 May 2026" in get(client, "/archive", "en")
    french = get(client, "/archive", "fr")
    assert "11 mai 2026" in french and "Numéros précédents" in french
    assert "11 мая 2026" in get(client, "/archive?lang=ru")


def test_admin_pages_stay_in_the_source_language(client: FlaskClient) -> None:
    page = get(client, "/admin/login", "ar")
    assert html_lang(page) == ("en", "ltr")
    assert '<nav class="languages"' not in page


# --- the switch itself ------------------------------------------------------------------------


def test_language_context_works_without_a_request_and_restores(app: Flask) -> None:
    with app.app_context():
        assert gettext("Unsubscribe") == "Unsubscribe"
        with i18n.language("ru") as chosen:
            assert chosen == "ru" and gettext("Unsubscribe") == "Отписаться"
            with i18n.language("ar"):
                assert i18n.direction() == "rtl" and gettext("Unsubscribe") == "إلغاء الاشتراك"
            assert gettext("Unsubscribe") == "Отписаться"
        assert gettext("Unsubscribe") == "Unsubscribe"
        with i18n.language("xx") as fallback:
            assert fallback == "en" and gettext("Unsubscribe") == "Unsubscribe"
        assert i18n.format_day(datetime(2026, 5, 11, tzinfo=UTC)) == "11 May 2026"
        with i18n.language("fr"):
            assert i18n.format_day(datetime(2026, 5, 11, tzinfo=UTC)) == "11 mai 2026"


def test_anti_spam_status_messages_come_in_the_page_language(
    app: Flask, client: FlaskClient
) -> None:
    app.config["SIGNUP_CHALLENGE"] = True
    page = get(client, "/subscribe?lang=fr")
    assert 'data-done="Vérification anti-spam terminée."' in page
    assert 'data-finishing="Fin de la vérification anti-spam…"' in page


def test_names_from_the_database_keep_their_own_direction_in_mail(app: Flask) -> None:
    """A subscriber's name (language unknown: dir="auto") in an English mail, and a Persian
    list's name in the archive's "web edition" line of an English issue, are set apart."""
    from types import SimpleNamespace

    from mailer.digests.content import render_digest
    from mailer.digests.service import create_digest
    from mailer.emails import render_email

    with app.app_context():
        mail = render_email(
            "already_subscribed",
            to="x@example.org",
            language="en",
            subscriber=SimpleNamespace(name="سارا"),
            preferences_url="http://localhost/p",
            unsubscribe_url="http://localhost/u",
        )
        assert '<span dir="auto">سارا</span>' in mail.html
        weekly = db.session.scalar(select(MailingList).where(MailingList.slug == "weekly"))
        assert weekly is not None
        weekly.name, weekly.language = "خبرنامهٔ هفتگی", "fa"
        digest = create_digest(weekly, [], subject="Issue", intro="")
        html = render_digest(digest, archive=True, language="en").html
        assert "web edition of" in html
        assert 'web edition of <span lang="fa" dir="rtl">خبرنامهٔ هفتگی</span>' in html
        db.session.rollback()
