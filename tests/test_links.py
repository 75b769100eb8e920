"""Confirmation, unsubscribe and preferences links: tokens, state changes, bad tokens."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from mailer.extensions import db
from mailer.models import ConsentRecord, Subscriber, Subscription, SubscriptionStatus, Suppression
from mailer.privacy import address_hash
from mailer.subscriptions import links, service
from mailer.tasks import send_already_subscribed, send_confirmation, send_link_mail
from tests.conftest import csrf_token, links_in, queued_tasks


def make_pending(
    app: Flask, email: str = "reader@example.org", lists: tuple[str, ...] = ("weekly",)
) -> int:
    with app.app_context():
        signup = service.subscribe(email, lists=service.lists_by_slug(lists), name="Reader")
        db.session.commit()
        assert signup.subscriber_id is not None
        return signup.subscriber_id


def confirmation_link(app: Flask, outbox: list[EmailMessage], subscriber_id: int) -> str:
    with app.app_context():
        send_confirmation(subscriber_id)
    links = [u for u in links_in(outbox[-1]) if "/confirm/" in u]
    assert links
    return links[0].replace("http://localhost", "")


def statuses(app: Flask) -> dict[str, str]:
    with app.app_context():
        rows = db.session.scalars(select(Subscription)).all()
        return {s.mailing_list.slug: s.status.value for s in rows}


def post_with_csrf(
    client: FlaskClient, url: str, data: dict[str, Any] | None = None, page: str | None = None
) -> Any:
    html = client.get(page or url).get_data(as_text=True)
    return client.post(url, data={"csrf_token": csrf_token(html), **(data or {})})


def test_confirmation_mail_is_multipart_with_a_working_link(
    app: Flask, client: FlaskClient, outbox: list[EmailMessage]
) -> None:
    subscriber_id = make_pending(app)
    url = confirmation_link(app, outbox, subscriber_id)
    msg = outbox[-1]
    assert msg["To"] == "reader@example.org"
    assert msg["Subject"] == "Confirm your subscription to The Free Expression Network"
    assert msg.get_content_type() == "multipart/alternative"
    assert msg["Message-ID"] and msg["Date"]
    html = msg.get_body(("html",))
    assert html is not None and "Confirm my subscription" in html.get_content()
    assert 'style="' in html.get_content()  # CSS inlined
    assert "reader@example.org" not in url
    page = client.get(url)
    assert page.status_code == 200 and "Confirm" in page.get_data(as_text=True)
    assert statuses(app) == {"weekly": "pending"}  # a GET changes nothing
    response = client.post(url, data={"csrf_token": csrf_token(page.get_data(as_text=True))})
    assert response.status_code == 200 and "You are subscribed" in response.get_data(as_text=True)
    assert statuses(app) == {"weekly": "confirmed"}
    with app.app_context():
        actions = db.session.scalars(select(ConsentRecord.action).order_by(ConsentRecord.id)).all()
        assert actions == ["signup", "confirm"]
        sub = db.session.get(Subscriber, subscriber_id)
        assert sub is not None and sub.confirm_sent_at is not None


def test_confirmation_token_works_once_then_offers_a_fresh_mail(
    app: Flask, client: FlaskClient, outbox: list[EmailMessage]
) -> None:
    url = confirmation_link(app, outbox, make_pending(app))
    assert post_with_csrf(client, url).status_code == 200
    again = client.get(url)
    assert again.status_code == 409
    assert "already used" in again.get_data(as_text=True)
    assert post_with_csrf(client, url, page="/subscribe").status_code == 409
    resend = post_with_csrf(client, url + "/resend", page=url)
    assert resend.status_code == 303
    assert queued_tasks(app)[-1][0] == "mailer.send_already_subscribed"


def test_expired_confirmation_token_offers_a_fresh_mail(
    app: Flask, client: FlaskClient, outbox: list[EmailMessage]
) -> None:
    subscriber_id = make_pending(app)
    url = confirmation_link(app, outbox, subscriber_id)
    app.config["CONFIRM_MAX_AGE"] = timedelta(seconds=-1)
    page = client.get(url)
    assert page.status_code == 410
    assert "expired" in page.get_data(as_text=True)
    assert post_with_csrf(client, url, page="/subscribe").status_code == 410
    assert statuses(app) == {"weekly": "pending"}
    assert post_with_csrf(client, url + "/resend", page="/subscribe").status_code == 303
    assert queued_tasks(app) == [("mailer.send_confirmation", [subscriber_id])]


@pytest.mark.parametrize(
    "path", ["/confirm/{t}", "/unsubscribe/{t}", "/preferences/{t}", "/data/{t}", "/erase/{t}"]
)
def test_tampered_tokens_are_404_pages(
    app: Flask, client: FlaskClient, outbox: list[EmailMessage], path: str
) -> None:
    url = confirmation_link(app, outbox, make_pending(app))
    token = url.rsplit("/", 1)[1]
    tampered = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    for bad in (tampered, "garbage", "x" * 2000, "%FF%FE"):
        response = client.get(path.format(t=bad))
        assert response.status_code == 404, bad
        assert "This link is not valid" in response.get_data(as_text=True)
    # a token made for one purpose does not open another page
    if "confirm" not in path:
        assert client.get(path.format(t=token)).status_code == 404
    assert statuses(app) == {"weekly": "pending"}


def test_changing_the_address_revokes_old_links(app: Flask, client: FlaskClient) -> None:
    subscriber_id = make_pending(app)
    with app.app_context():
        sub = db.session.get(Subscriber, subscriber_id)
        assert sub is not None
        token = links.unsubscribe_token(sub)
        sub.email = "new-address@example.org"
        db.session.commit()
    assert client.get(f"/unsubscribe/{token}").status_code == 404


def confirmed(
    app: Flask, email: str = "reader@example.org", lists: tuple[str, ...] = ("weekly",)
) -> dict[str, str]:
    subscriber_id = make_pending(app, email, lists)
    with app.app_context():
        sub = db.session.get(Subscriber, subscriber_id)
        assert sub is not None
        for s in sub.subscriptions:
            s.status = SubscriptionStatus.confirmed
        db.session.commit()
        return {
            "unsubscribe": links.unsubscribe_token(sub),
            "unsubscribe_weekly": links.unsubscribe_token(sub, sub.subscriptions[0].list_id),
            "preferences": links.preferences_token(sub),
        }


def test_one_click_unsubscribe_needs_no_cookie_or_csrf(app: Flask) -> None:
    tokens = confirmed(app, lists=("weekly", "alerts"))
    bare = app.test_client(use_cookies=False)
    response = bare.post(
        f"/unsubscribe/{tokens['unsubscribe_weekly']}", data={"List-Unsubscribe": "One-Click"}
    )
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers
    assert statuses(app) == {"weekly": "unsubscribed", "alerts": "confirmed"}
    again = bare.post(
        f"/unsubscribe/{tokens['unsubscribe_weekly']}", data={"List-Unsubscribe": "One-Click"}
    )
    assert again.status_code == 200  # idempotent


def test_unsubscribe_page_then_button(app: Flask, client: FlaskClient) -> None:
    tokens = confirmed(app, lists=("weekly", "alerts"))
    page = client.get(f"/unsubscribe/{tokens['unsubscribe']}")
    assert page.status_code == 200 and "Unsubscribe" in page.get_data(as_text=True)
    assert statuses(app) == {"weekly": "confirmed", "alerts": "confirmed"}
    done = client.post(f"/unsubscribe/{tokens['unsubscribe']}")
    assert "You are unsubscribed" in done.get_data(as_text=True)
    assert statuses(app) == {"weekly": "unsubscribed", "alerts": "unsubscribed"}


def test_preferences_change_lists_name_and_language(app: Flask, client: FlaskClient) -> None:
    tokens = confirmed(app)
    url = f"/preferences/{tokens['preferences']}"
    page = client.get(url).get_data(as_text=True)
    assert "Weekly updates" in page and "Press freedom alerts" in page
    assert "Members" not in page  # private lists only for their members
    with app.app_context():
        ids = {lst.slug: lst.id for lst in service.public_lists()}
    response = client.post(
        url,
        data={
            "csrf_token": csrf_token(page),
            "lists": [ids["alerts"]],
            "name": "New name",
            "language": "fr",
        },
    )
    assert response.status_code == 303
    assert statuses(app) == {"weekly": "unsubscribed", "alerts": "confirmed"}
    with app.app_context():
        sub = db.session.scalar(select(Subscriber))
        assert sub is not None and sub.name == "New name" and sub.language == "fr"
    saved = client.get(url).get_data(as_text=True)  # now in the reader's new language
    assert "Vos préférences sont enregistrées." in saved and '<html lang="fr"' in saved


def test_preferences_refuse_a_private_list_and_a_long_name(app: Flask, client: FlaskClient) -> None:
    tokens = confirmed(app)
    url = f"/preferences/{tokens['preferences']}"
    with app.app_context():
        members = service.lists_by_slug(["members"], public_only=False)[0].id
    for data in ({"lists": [members]}, {"name": "x" * 10_000}, {"lists": ["nope"]}):
        page = client.get(url).get_data(as_text=True)
        response = client.post(url, data={"csrf_token": csrf_token(page), "language": "en", **data})
        assert response.status_code == 422
    assert statuses(app) == {"weekly": "confirmed"}


def test_unsubscribe_all_from_preferences(app: Flask, client: FlaskClient) -> None:
    tokens = confirmed(app, lists=("weekly", "alerts"))
    url = f"/preferences/{tokens['preferences']}"
    response = post_with_csrf(client, url + "/unsubscribe-all", page=url)
    assert response.status_code == 303
    assert set(statuses(app).values()) == {"unsubscribed"}


def one_time_link(
    app: Flask, client: FlaskClient, outbox: list[EmailMessage], prefs: str, kind: str
) -> str:
    """Ask the preferences page for a `kind` link, run the queued task, return the mailed path."""
    response = post_with_csrf(client, f"{prefs}/send/{kind}", page=prefs)
    assert response.status_code == 303
    assert "We sent a link to r•••@e•••.org" in client.get(prefs).get_data(as_text=True)
    (task,) = [args for name, args in queued_tasks(app) if name == "mailer.send_link_mail"][-1:]
    assert task[1] == kind
    with app.app_context():
        send_link_mail(*task)
    assert outbox[-1]["To"] == "reader@example.org"
    (url,) = [u for u in links_in(outbox[-1]) if f"/{kind}/" in u]
    return url.replace("http://localhost", "")


def test_preferences_page_masks_the_address_and_offers_no_data_at_once(
    app: Flask, client: FlaskClient
) -> None:
    tokens = confirmed(app)
    url = f"/preferences/{tokens['preferences']}"
    page = client.get(url).get_data(as_text=True)
    assert "r•••@e•••.org" in page and "reader@example.org" not in page
    assert "/data.json" not in page and "/erase/" not in page and "/data/" not in page
    assert client.get(f"{url}/data.json").status_code == 404
    assert client.post(f"{url}/erase", data={"really": "y"}).status_code in (404, 405)


def test_download_my_data_through_a_one_time_link(
    app: Flask, client: FlaskClient, outbox: list[EmailMessage]
) -> None:
    tokens = confirmed(app)
    link = one_time_link(app, client, outbox, f"/preferences/{tokens['preferences']}", "data")
    page = client.get(link)
    assert page.status_code == 200 and "Download my data" in page.get_data(as_text=True)
    assert client.get(link).status_code == 200  # a GET (a mail scanner) spends nothing
    response = post_with_csrf(client, link)
    assert response.status_code == 200
    assert "attachment" in response.headers["Content-Disposition"]
    data = json.loads(response.get_data())
    assert data["email"] == "reader@example.org"
    assert data["subscriptions"][0]["list"] == "weekly"
    assert data["subscriptions"][0]["status"] == "confirmed"
    assert data["consent_records"][0]["action"] == "signup"
    assert response.headers["Cache-Control"] == "no-store"
    # once only
    again = client.get(link)
    assert again.status_code == 410 and "already used" in again.get_data(as_text=True)
    assert post_with_csrf(client, link, page="/subscribe").status_code == 410


def test_one_time_links_expire_within_an_hour(
    app: Flask, client: FlaskClient, outbox: list[EmailMessage], monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    from itsdangerous.timed import TimestampSigner

    tokens = confirmed(app)
    prefs = f"/preferences/{tokens['preferences']}"
    an_hour_ago = int(time.time()) - 3601
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: an_hour_ago)
    link = one_time_link(app, client, outbox, prefs, "erase")
    monkeypatch.undo()
    page = client.get(link)
    assert page.status_code == 410 and "expired" in page.get_data(as_text=True)
    assert post_with_csrf(client, link, {"really": "y"}, page="/subscribe").status_code == 410
    with app.app_context():
        assert db.session.scalar(select(func.count(Subscriber.id))) == 1


def test_erase_through_a_one_time_link_keeps_only_the_suppression_hash(
    app: Flask, client: FlaskClient, outbox: list[EmailMessage]
) -> None:
    tokens = confirmed(app)
    url = f"/preferences/{tokens['preferences']}"
    link = one_time_link(app, client, outbox, url, "erase")
    with app.app_context():
        assert db.session.scalar(select(func.count(Subscriber.id))) == 1  # nothing yet
    not_ticked = post_with_csrf(client, link)
    assert not_ticked.status_code == 422
    assert "Tick the box" in not_ticked.get_data(as_text=True)
    response = post_with_csrf(client, link, {"really": "y"})
    assert response.status_code == 200 and "erased" in response.get_data(as_text=True)
    with app.app_context():
        for model in (Subscriber, Subscription, ConsentRecord):
            assert db.session.scalar(select(func.count(model.id))) == 0
        hashes = db.session.scalars(select(Suppression.address_hash)).all()
        assert hashes == [address_hash("reader@example.org")]
    assert client.get(url).status_code == 404
    assert client.get(link).status_code == 404  # the subscriber is gone


def signup_form(client: FlaskClient, email: str, **fields: str) -> None:
    page = client.get("/subscribe").get_data(as_text=True)
    data = {"csrf_token": csrf_token(page), "email": email, "lists": "weekly", "consent": "y"}
    response = client.post("/subscribe", data={"language": "en", **data, **fields})
    assert response.status_code == 303


def test_an_erased_reader_comes_back_through_double_opt_in(
    app: Flask, client: FlaskClient, outbox: list[EmailMessage]
) -> None:
    tokens = confirmed(app)
    url = f"/preferences/{tokens['preferences']}"
    link = one_time_link(app, client, outbox, url, "erase")
    post_with_csrf(client, link, {"really": "y"})
    signup_form(client, "Reader@example.org", name="Back again")
    ((name, (subscriber_id,)),) = [t for t in queued_tasks(app) if t[0] != "mailer.send_link_mail"]
    assert name == "mailer.send_confirmation"
    with app.app_context():
        assert service.is_suppressed("reader@example.org")  # until the owner confirms
    confirm_url = confirmation_link(app, outbox, subscriber_id)
    assert post_with_csrf(client, confirm_url).status_code == 200
    assert statuses(app) == {"weekly": "confirmed"}
    with app.app_context():
        assert not service.is_suppressed("reader@example.org")
        sub = db.session.get(Subscriber, subscriber_id)
        assert sub is not None and sub.name == "Back again"


@pytest.mark.parametrize(
    "reason",
    [
        service.SuppressionReason.hard_bounce,
        service.SuppressionReason.soft_bounce,
        service.SuppressionReason.complaint,
        service.SuppressionReason.manual,
    ],
)
def test_bounce_and_complaint_suppressions_stay(
    app: Flask, client: FlaskClient, outbox: list[EmailMessage], reason: Any
) -> None:
    with app.app_context():
        service.suppress("reader@example.org", reason)
        db.session.commit()
    signup_form(client, "reader@example.org")
    assert queued_tasks(app) == []
    with app.app_context():
        assert db.session.scalar(select(func.count(Subscriber.id))) == 0
        assert service.suppression_reason("reader@example.org") == reason


def test_tasks_send_nothing_to_suppressed_or_settled_subscribers(
    app: Flask, outbox: list[EmailMessage]
) -> None:
    pending = make_pending(app, "one@example.org")
    with app.app_context():
        service.suppress("one@example.org", service.SuppressionReason.hard_bounce)
        db.session.commit()
        send_confirmation(pending)
        send_already_subscribed(pending)
        send_confirmation(999_999)
    assert outbox == []


def test_already_subscribed_mail_links_to_preferences(
    app: Flask, client: FlaskClient, outbox: list[EmailMessage]
) -> None:
    confirmed(app)
    with app.app_context():
        sub = db.session.scalar(select(Subscriber))
        assert sub is not None
        send_already_subscribed(sub.id)
    msg = outbox[-1]
    assert msg["Subject"] == "You are already subscribed to The Free Expression Network"
    prefs = [u for u in links_in(msg) if "/preferences/" in u][0]
    assert client.get(prefs.replace("http://localhost", "")).status_code == 200


def test_no_address_in_any_log_line(
    app: Flask, client: FlaskClient, outbox: list[EmailMessage], caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    caplog.set_level(logging.DEBUG)
    subscriber_id = make_pending(app, "secret.person@example.org")
    url = confirmation_link(app, outbox, subscriber_id)
    post_with_csrf(client, url)
    logging.getLogger("some.library").warning("failed for secret.person@example.org, %s", "x")
    try:
        raise ValueError("refused: <secret.person@example.org>")
    except ValueError:
        logging.getLogger("x").exception("boom")
    token = url.rsplit("/", 1)[1]
    logging.getLogger("werkzeug").info('"GET %s HTTP/1.1" 200', url)
    text = "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records)
    assert "confirmation mail for subscriber" in text and " sent" in text
    assert token not in text and "/confirm/[token]" in text
    assert "secret.person" not in text
    assert re.search(r"\[address\]", text)


def test_unsubscribe_links_never_expire(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    from itsdangerous.timed import TimestampSigner

    tokens_now = confirmed(app)
    ten_years_ago = int(time.time()) - 10 * 365 * 86400
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: ten_years_ago)
    with app.app_context():
        sub = db.session.scalar(select(Subscriber))
        assert sub is not None
        old = links.unsubscribe_token(sub)
    monkeypatch.undo()
    assert old != tokens_now["unsubscribe"]
    assert client.get(f"/unsubscribe/{old}").status_code == 200
    assert app.test_client(use_cookies=False).post(f"/unsubscribe/{old}").status_code == 200
    assert statuses(app) == {"weekly": "unsubscribed"}


# --- revocation (audit M4) --------------------------------------------------------------------


def test_signing_out_revokes_every_link_but_unsubscribe_and_mails_a_new_one(
    app: Flask, client: FlaskClient, outbox: list[EmailMessage]
) -> None:
    tokens = confirmed(app)
    prefs = f"/preferences/{tokens['preferences']}"
    data_link = one_time_link(app, client, outbox, prefs, "data")
    page = post_with_csrf(client, f"{prefs}/sign-out", page=prefs)
    assert page.status_code == 200
    assert "A new link is on its way to r•••@e•••.org" in page.get_data(as_text=True)
    assert client.get(prefs).status_code == 404
    assert client.get(data_link).status_code == 410
    assert client.get(f"/unsubscribe/{tokens['unsubscribe']}").status_code == 200
    name, args = queued_tasks(app)[-1]
    assert (name, args[1]) == ("mailer.send_link_mail", "preferences")
    with app.app_context():
        send_link_mail(*args)
    (new,) = [u for u in links_in(outbox[-1]) if "/preferences/" in u]
    assert client.get(new.replace("http://localhost", "")).status_code == 200
    bare = app.test_client(use_cookies=False)
    one_click = bare.post(
        f"/unsubscribe/{tokens['unsubscribe_weekly']}", data={"List-Unsubscribe": "One-Click"}
    )
    assert one_click.status_code == 200 and statuses(app) == {"weekly": "unsubscribed"}


def test_links_mailed_before_versions_work_until_revoked(app: Flask, client: FlaskClient) -> None:
    from mailer.tokens import make_token

    confirmed(app)
    with app.app_context():
        sub = db.session.scalar(select(Subscriber))
        assert sub is not None
        legacy = {"u": sub.uid, "h": address_hash(sub.email)[:16]}
        prefs = make_token("preferences", legacy)
        unsubscribe = make_token("unsubscribe", legacy)
    assert client.get(f"/preferences/{prefs}").status_code == 200
    with app.app_context():
        sub = db.session.scalar(select(Subscriber))
        assert sub is not None
        links.revoke_links(sub)
        db.session.commit()
    assert client.get(f"/preferences/{prefs}").status_code == 404
    assert client.get(f"/unsubscribe/{unsubscribe}").status_code == 200
    assert app.test_client(use_cookies=False).post(f"/unsubscribe/{unsubscribe}").status_code == 200
    assert statuses(app) == {"weekly": "unsubscribed"}


def test_revoking_also_revokes_confirmation_links(
    app: Flask, client: FlaskClient, outbox: list[EmailMessage]
) -> None:
    subscriber_id = make_pending(app)
    url = confirmation_link(app, outbox, subscriber_id)
    with app.app_context():
        sub = db.session.get(Subscriber, subscriber_id)
        assert sub is not None
        links.revoke_links(sub)
        db.session.commit()
    assert client.get(url).status_code == 404
    assert post_with_csrf(client, url, page="/subscribe").status_code == 404
    assert statuses(app) == {"weekly": "pending"}


def test_digest_links_carry_the_current_version(app: Flask, client: FlaskClient) -> None:
    from mailer.digests.slots import recipient_slots

    tokens = confirmed(app)
    with app.app_context():
        sub = db.session.scalar(select(Subscriber))
        assert sub is not None
        links.revoke_links(sub)
        db.session.commit()
        slots = recipient_slots(sub, sub.subscriptions[0].list_id)
    assert client.get(f"/preferences/{tokens['preferences']}").status_code == 404
    assert client.get(slots["preferences_url"].replace("http://localhost", "")).status_code == 200


def test_unsubscribe_pages_are_no_key_to_preferences(app: Flask, client: FlaskClient) -> None:
    tokens = confirmed(app)
    page = client.get(f"/unsubscribe/{tokens['unsubscribe']}").get_data(as_text=True)
    assert "/preferences/" not in page
    done = client.post(f"/unsubscribe/{tokens['unsubscribe']}").get_data(as_text=True)
    assert "You are unsubscribed" in done and "/preferences/" not in done


def test_the_masked_address() -> None:
    assert links.mask_address("jane.doe@example.org") == "j•••@e•••.org"
    assert links.mask_address("a@mail.example.co.uk") == "a•••@m•••.uk"
    assert links.mask_address("user@пример.рф") == "u•••@п•••.рф"
    assert links.mask_address("root@localhost") == "r•••@l•••"


class TestLinkMailCap:
    @pytest.fixture
    def config_overrides(self) -> dict[str, Any]:
        return {"RATELIMIT_ENABLED": True, "RATELIMIT_LINK_ADDRESS": "2 per hour"}

    def test_a_forwarded_link_cannot_flood_the_mailbox(
        self, app: Flask, client: FlaskClient
    ) -> None:
        with app.app_context():
            weekly = service.lists_by_slug(["weekly"])
            signup = service.subscribe("reader@example.org", lists=weekly)
            sub = db.session.get(Subscriber, signup.subscriber_id)
            assert sub is not None
            sub.subscriptions[0].status = SubscriptionStatus.confirmed
            db.session.commit()
            prefs = f"/preferences/{links.preferences_token(sub)}"
        for kind in ("data", "erase", "data", "erase"):
            assert post_with_csrf(client, f"{prefs}/send/{kind}", page=prefs).status_code == 303
        assert "cannot send another link" in client.get(prefs).get_data(as_text=True)
        sent = [args for name, args in queued_tasks(app) if name == "mailer.send_link_mail"]
        assert [kind for _id, kind in sent] == ["data", "erase"]


def test_one_time_link_tokens_are_redacted_from_logs() -> None:
    from mailer.privacy import redact

    token = "eyJ1IjoiMmc5Q0tuX01RclpqdzhIV1hZbHh3dyJ9.aw2z9g.P41mMkVWhJNiwkUHWPHPf8efOQs"
    for kind in ("data", "erase", "preferences"):
        assert (
            redact(f'"POST /{kind}/{token} HTTP/1.1" 200') == f'"POST /{kind}/[token] HTTP/1.1" 200'
        )
