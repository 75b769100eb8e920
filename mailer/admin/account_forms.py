"""Forms of the account pages: editors, invitations, one's own password."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectField
from wtforms.validators import DataRequired, EqualTo, Length

from mailer.models import Role

ROLE_CHOICES = [
    (Role.viewer.value, "Viewer: dashboards and sending progress, read only"),
    (Role.editor.value, "Editor: articles, digests, lists, sending, imports"),
    (Role.owner.value, "Owner: everything, including editors, export and erasure"),
]


class InviteForm(FlaskForm):
    email = EmailField("Email address", validators=[DataRequired(), Length(max=254)])
    role = SelectField("Role", choices=ROLE_CHOICES, default=Role.editor.value)


class RoleForm(FlaskForm):
    role = SelectField("Role", choices=ROLE_CHOICES)


class NewPasswordForm(FlaskForm):
    password = PasswordField("New password", validators=[DataRequired(), Length(max=1000)])
    confirm = PasswordField(
        "Repeat the new password",
        validators=[DataRequired(), EqualTo("password", message="The two passwords differ.")],
    )


class ChangePasswordForm(NewPasswordForm):
    current = PasswordField("Current password", validators=[DataRequired(), Length(max=1000)])
