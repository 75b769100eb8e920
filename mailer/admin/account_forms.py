"""Forms of the account pages: editors, invitations, one's own password."""

from __future__ import annotations

from typing import Any

from wtforms import EmailField, PasswordField, SelectField
from wtforms.validators import DataRequired, EqualTo, Length

from mailer.admin.forms import AdminForm
from mailer.models import Role

ROLE_CHOICES = [
    (Role.viewer.value, "Viewer: dashboards and sending progress, read only"),
    (Role.editor.value, "Editor: articles, digests, lists, sending, imports"),
    (Role.owner.value, "Owner: everything, including editors, export and erasure"),
]


class _WithRole(AdminForm):
    # Choices are set per instance: tuples given to the field warn on WTForms 3.3.
    role = SelectField("Role", default=Role.editor.value)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.role.choices = ROLE_CHOICES


class InviteForm(_WithRole):
    email = EmailField("Email address", validators=[DataRequired(), Length(max=254)])


class RoleForm(_WithRole):
    pass


class NewPasswordForm(AdminForm):
    password = PasswordField("New password", validators=[DataRequired(), Length(max=1000)])
    confirm = PasswordField(
        "Repeat the new password",
        validators=[DataRequired(), EqualTo("password", message="The two passwords differ.")],
    )


class ChangePasswordForm(NewPasswordForm):
    current = PasswordField("Current password", validators=[DataRequired(), Length(max=1000)])
