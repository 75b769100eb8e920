"""Editor management: invitations, roles, the last owner, disabling, passwords."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from mailer import clock
from mailer.accounts import passwords, service
from mailer.extensions import db
from mailer.models import AuditEvent, Editor, EditorInvite, Role, utcnow
from mailer.tasks.accounts import send_editor_invite
from tests.conftest import csrf_token, links_in, queued_tasks
from tests.role_helpers import PASSWORD, ROLES, login, make_editors

NEW_PASSWORD = "a kettle of unruly herons"


def test_common_passwords_are_refused_even_with_digits_around_them() -> None:
    assert len(passwords.common_passwords()) > 10_000
    for weak in ("qwerty123456", "Password2026!", "!!iloveyou1999", "1qaz2wsx3edc"):
        with pytest.raises(passwords.PasswordRefused, match="common"):
            passwords.check(weak)
    with pytest.raises(passwords.PasswordRefused, match="at least 12"):
        passwords.check("short")
    passwords.check(PASSWORD)
    passwords.check("2026 yellow bicycles in Lagos")


def set_clock(app: Flask, moment: datetime) -> Callable[[timedelta], None]:
    now = [moment]
    app.extensions[clock.EXTENSION] = lambda: now[0]

    def advance(delta: timedelta) -> None:
        now[0] += delta

    return advance


def test_an_invitation_works_once_and_expires(app: Flask) -> None:
    advance = set_clock(app, utcnow())
    with app.app_context():
        first = service.invite("New.Person@Example.org", Role.viewer, None)
        old_token = service.invite_token(first)
        second = service.invite("new.person@example.org", Role.editor, None)
        token = service.invite_token(second)
        db.session.commit()
        assert first.revoked_at is not None  # a new invitation voids the older link
        with pytest.raises(service.InviteInvalid):
            service.open_invite(old_token)
        with pytest.raises(service.InviteInvalid):
            service.open_invite(token[:-2] + "xx")  # forged
        with pytest.raises(passwords.PasswordRefused):
            service.accept(token, "password1234")
        editor = service.accept(token, NEW_PASSWORD)  # a refused password left it usable
        db.session.commit()
        assert (editor.email, editor.role) == ("new.person@example.org", Role.editor)
        with pytest.raises(service.InviteInvalid):
            service.accept(token, NEW_PASSWORD)
        with pytest.raises(service.AccountError, match="already an editor"):
            service.invite("new.person@example.org", Role.owner, None)
        late = service.invite("late@example.org", Role.viewer, None)
        db.session.commit()
        advance(timedelta(hours=48, seconds=1))
        with pytest.raises(service.InviteInvalid):
            service.open_invite(service.invite_token(late))


def test_the_last_active_owner_cannot_be_demoted_or_disabled(app: Flask) -> None:
    ids = make_editors(app)
    with app.app_context():
        owner = db.session.get(Editor, ids["owner"])
        editor = db.session.get(Editor, ids["editor"])
        assert owner is not None and editor is not None
        with pytest.raises(service.LastOwner):
            service.set_role(owner, Role.editor)
        with pytest.raises(service.LastOwner):
            service.disable(owner)
        service.set_role(editor, Role.owner)
        service.disable(owner)  # another active owner now exists
        with pytest.raises(service.LastOwner):
            service.set_role(editor, Role.viewer)
        service.enable(owner)
        assert service.set_role(editor, Role.viewer) == Role.owner


def test_create_editor_cli_makes_an_owner_by_default_and_refuses_common_passwords(
    app: Flask, runner: Any
) -> None:
    result = runner.invoke(
        args=["create-editor", "first@example.org", "--password-stdin"], input=PASSWORD + "\n"
    )
    assert result.exit_code == 0, result.output
    assert "(owner)" in result.output
    result = runner.invoke(
        args=["create-editor", "v@example.org", "--password-stdin", "--role", "viewer"],
        input=PASSWORD + "\n",
    )
    assert result.exit_code == 0 and "(viewer)" in result.output
    result = runner.invoke(
        args=["create-editor", "w@example.org", "--password-stdin"], input="qwerty123456\n"
    )
    assert result.exit_code == 1 and "common" in result.output
    with app.app_context():
        roles = dict(db.session.execute(select(Editor.email, Editor.role)).all())
    assert roles == {"first@example.org": Role.owner, "v@example.org": Role.viewer}


def _post(client: FlaskClient, url: str, data: dict[str, Any], page: str) -> Any:
    html = client.get(page).get_data(as_text=True)
    return client.post(url, data={"csrf_token": csrf_token(html), **data})


def test_owner_invites_and_the_mail_carries_a_working_link(
    app: Flask, client: FlaskClient, outbox: list[Any]
) -> None:
    make_editors(app)
    login(client, ROLES["owner"])
    bad = _post(
        client, "/admin/editors/invite", {"email": "nope", "role": "editor"}, "/admin/editors"
    )
    assert bad.status_code == 422 and "valid email address" in bad.get_data(as_text=True)
    taken = _post(
        client,
        "/admin/editors/invite",
        {"email": ROLES["viewer"], "role": "editor"},
        "/admin/editors",
    )
    assert taken.status_code == 409
    response = _post(
        client,
        "/admin/editors/invite",
        {"email": "invitee@example.org", "role": "viewer"},
        "/admin/editors",
    )
    assert response.status_code == 303
    ((name, (invite_id,)),) = queued_tasks(app)
    assert name == "mailer.send_editor_invite"  # the queue carries the id, never the token
    with app.app_context():
        send_editor_invite(invite_id)
    (mail,) = outbox
    assert mail["To"] == "invitee@example.org"
    (url,) = [link for link in links_in(mail) if "/admin/invite/" in link]
    path = url.removeprefix("http://localhost")
    anonymous = app.test_client()
    page = anonymous.get(path)
    assert page.status_code == 200 and "invited as <strong>viewer</strong>" in page.get_data(
        as_text=True
    )
    token = csrf_token(page.get_data(as_text=True))
    weak = anonymous.post(
        path, data={"csrf_token": token, "password": "qwerty123456", "confirm": "qwerty123456"}
    )
    assert weak.status_code == 422 and "common" in weak.get_data(as_text=True)
    done = anonymous.post(
        path, data={"csrf_token": token, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    )
    assert done.status_code == 303 and done.headers["Location"].endswith("/admin/login")
    assert anonymous.get(path).status_code == 410  # single use
    assert login(anonymous, "invitee@example.org", NEW_PASSWORD).status_code == 303
    assert anonymous.get("/admin/").status_code == 200
    assert anonymous.get("/admin/lists/new").status_code == 403
    with app.app_context():
        actions = list(db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))
        invitation = db.session.get(EditorInvite, invite_id)
        assert invitation is not None and invitation.accepted_at is not None
    assert actions[-3:] == ["invite_editor", "accept_invite", "login.success"]


def test_owner_changes_roles_disables_and_revokes_from_the_page(
    app: Flask, client: FlaskClient
) -> None:
    ids = make_editors(app)
    login(client, ROLES["owner"])
    me = _post(client, f"/admin/editors/{ids['owner']}/role", {"role": "viewer"}, "/admin/editors")
    assert me.status_code == 409 and "last active owner" in me.get_data(as_text=True)
    bad = _post(client, f"/admin/editors/{ids['viewer']}/role", {"role": "god"}, "/admin/editors")
    assert bad.status_code == 422
    ok = _post(client, f"/admin/editors/{ids['viewer']}/role", {"role": "editor"}, "/admin/editors")
    assert ok.status_code == 303
    off = _post(client, f"/admin/editors/{ids['editor']}/disable", {}, "/admin/editors")
    assert off.status_code == 303
    assert _post(client, "/admin/editors/999/disable", {}, "/admin/editors").status_code == 404
    with app.app_context():
        viewer = db.session.get(Editor, ids["viewer"])
        editor = db.session.get(Editor, ids["editor"])
        assert viewer is not None and viewer.role == Role.editor
        assert editor is not None and not editor.is_active
        service.invite("x@example.org", Role.viewer, None)
        db.session.commit()
        (invitation,) = service.open_invites()
        invite_id = invitation.id
    assert (
        _post(
            client, f"/admin/editors/invites/{invite_id}/revoke", {}, "/admin/editors"
        ).status_code
        == 303
    )
    with app.app_context():
        assert service.open_invites() == []
        events = db.session.execute(
            select(
                AuditEvent.action, AuditEvent.object_type, AuditEvent.object_ids, AuditEvent.detail
            )
            .where(AuditEvent.action != "login.success")
            .order_by(AuditEvent.id)
        ).all()
    assert [tuple(e) for e in events] == [
        ("change_role", "editor", str(ids["viewer"]), {"from": "viewer", "to": "editor"}),
        ("disable_editor", "editor", str(ids["editor"]), {}),
        ("revoke_invite", "editor_invite", str(invite_id), {}),
    ]


def test_change_own_password(app: Flask, client: FlaskClient) -> None:
    make_editors(app)
    login(client, ROLES["viewer"])
    page = "/admin/account/password"
    wrong = _post(
        client, page, {"current": "nope", "password": NEW_PASSWORD, "confirm": NEW_PASSWORD}, page
    )
    assert wrong.status_code == 422 and "current password is not right" in wrong.get_data(
        as_text=True
    )
    common = _post(
        client,
        page,
        {"current": PASSWORD, "password": "letmein12345", "confirm": "letmein12345"},
        page,
    )
    assert common.status_code == 422 and "common" in common.get_data(as_text=True)
    differ = _post(
        client, page, {"current": PASSWORD, "password": NEW_PASSWORD, "confirm": "other"}, page
    )
    assert differ.status_code == 422
    done = _post(
        client, page, {"current": PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD}, page
    )
    assert done.status_code == 303
    other = app.test_client()
    assert login(other, ROLES["viewer"]).status_code == 422
    assert login(other, ROLES["viewer"], NEW_PASSWORD).status_code == 303


def test_an_editor_cannot_import_or_add_people_as_confirmed(
    app: Flask, client: FlaskClient
) -> None:
    make_editors(app)
    login(client, ROLES["editor"])
    html = client.get("/admin/subscribers/new").get_data(as_text=True)
    response = client.post(
        "/admin/subscribers/new",
        data={
            "csrf_token": csrf_token(html),
            "email": "reader@example.org",
            "language": "en",
            "lists": ["weekly"],
            "consented": "y",
        },
    )
    assert response.status_code == 403
    from io import BytesIO

    html = client.get("/admin/subscribers/import").get_data(as_text=True)
    response = client.post(
        "/admin/subscribers/import",
        data={
            "csrf_token": csrf_token(html),
            "list": "weekly",
            "confirmed": "y",
            "file": (BytesIO(b"email\nreader@example.org\n"), "people.csv"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 403
    with app.app_context():
        assert (
            db.session.scalar(select(AuditEvent.id).where(AuditEvent.action != "login.success"))
            is None
        )


def test_a_bad_or_expired_invitation_link_gets_a_clear_410(app: Flask, client: FlaskClient) -> None:
    advance = set_clock(app, utcnow())
    assert client.get("/admin/invite/not-a-token").status_code == 410
    with app.app_context():
        token = service.invite_token(service.invite("late@example.org", Role.viewer, None))
        db.session.commit()
    assert client.get(f"/admin/invite/{token}").status_code == 200
    advance(timedelta(hours=49))
    page = client.get(f"/admin/invite/{token}")
    assert page.status_code == 410 and "does not work" in page.get_data(as_text=True)
