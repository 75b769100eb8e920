"""Forms of the public pages. Field names are fixed by SPEC.md: scripts post to them."""

from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, SelectField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Length, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from mailer.privacy import InvalidAddress, normalise_email


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()

    def pre_validate(self, form: Any) -> None:
        # The view checks the slugs against the database and names the unknown one.
        pass


class SignupForm(FlaskForm):
    email = StringField(
        "Email address",
        validators=[DataRequired("Enter your email address."), Length(max=254)],
        render_kw={"autocomplete": "email", "type": "email", "inputmode": "email"},
    )
    name = StringField(
        "Name (optional)",
        validators=[Optional(), Length(max=100, message="Keep your name under 100 characters.")],
        render_kw={"autocomplete": "name"},
    )
    lists = MultiCheckboxField("Lists")
    language = SelectField("Language")
    consent = BooleanField(validators=[DataRequired("Please agree to receive these emails.")])
    website = StringField("Leave this field empty")  # honeypot: people never see it
    altcha = HiddenField()

    def validate_email(self, field: StringField) -> None:
        try:
            field.data = normalise_email(field.data or "")
        except InvalidAddress:
            raise ValidationError("Enter a valid email address, like name@example.org.") from None

    def validate_lists(self, field: MultiCheckboxField) -> None:
        if not field.data:
            raise ValidationError("Choose at least one list.")


class PreferencesForm(FlaskForm):
    lists = SelectMultipleField(
        "Lists", coerce=int, widget=ListWidget(prefix_label=False), option_widget=CheckboxInput()
    )
    name = StringField(
        "Name (optional)",
        validators=[Optional(), Length(max=100, message="Keep your name under 100 characters.")],
    )
    language = SelectField("Language")


class ActionForm(FlaskForm):
    """A form with only a button (and the CSRF token)."""


class EraseForm(FlaskForm):
    really = BooleanField(
        "Yes, delete everything you hold about me",
        validators=[DataRequired("Tick the box to confirm.")],
    )
