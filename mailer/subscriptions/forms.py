"""Forms of the public pages. The product contract fixes the field names: scripts post them."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, HiddenField, SelectField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Length, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from mailer.controls import CheckedForm
from mailer.privacy import InvalidAddress, normalise_email


class ReaderForm(CheckedForm):
    """A form readers send: every text field refuses control characters (mailer.controls),
    with the same answer, 422 and nothing written, whatever the address's state."""

    control_message = _l(
        "This field contains an invisible control character. Please type it again."
    )


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()

    def pre_validate(self, form: Any) -> None:
        # The view checks the slugs against the database and names the unknown one.
        pass


class SignupForm(ReaderForm):
    email = StringField(
        _l("Email address"),
        validators=[DataRequired(_l("Enter your email address.")), Length(max=254)],
        render_kw={"autocomplete": "email", "type": "email", "inputmode": "email"},
    )
    name = StringField(
        _l("Name (optional)"),
        validators=[
            Optional(),
            Length(max=100, message=_l("Keep your name under 100 characters.")),
        ],
        render_kw={"autocomplete": "name"},
    )
    lists = MultiCheckboxField(_l("Lists"))
    language = SelectField(_l("Language"))
    consent = BooleanField(validators=[DataRequired(_l("Please agree to receive these emails."))])
    website = StringField(_l("Leave this field empty"))  # honeypot: people never see it
    altcha = HiddenField()

    def validate_email(self, field: StringField) -> None:
        try:
            field.data = normalise_email(field.data or "")
        except InvalidAddress:
            raise ValidationError(
                _("Enter a valid email address, like name@example.org.")
            ) from None

    def validate_lists(self, field: MultiCheckboxField) -> None:
        if not field.data:
            raise ValidationError(_("Choose at least one list."))


class PreferencesForm(ReaderForm):
    lists = SelectMultipleField(
        _l("Lists"),
        coerce=int,
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
    )
    name = StringField(
        _l("Name (optional)"),
        validators=[
            Optional(),
            Length(max=100, message=_l("Keep your name under 100 characters.")),
        ],
    )
    language = SelectField(_l("Language"))


class ActionForm(ReaderForm):
    """A form with only a button (and the CSRF token)."""


class EraseForm(ReaderForm):
    really = BooleanField(
        _l("Yes, delete everything you hold about me"),
        validators=[DataRequired(_l("Tick the box to confirm."))],
    )
