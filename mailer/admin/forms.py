"""Forms of the editors' pages."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    EmailField,
    FloatField,
    IntegerField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
    URLField,
)
from wtforms.fields import Field
from wtforms.validators import (
    URL,
    DataRequired,
    Email,
    Length,
    NumberRange,
    Optional,
    Regexp,
    ValidationError,
)
from wtforms.widgets import CheckboxInput, ListWidget

from mailer.controls import CheckedForm
from mailer.delivery.headers import has_control_characters
from mailer.digests.schedule import WEEKDAYS


class AdminForm(CheckedForm):
    """An editors' form: every text field refuses control characters (mailer.controls)."""

    control_message = _l(
        "Remove the control characters (such as NUL) from this field: they cannot be saved."
    )


HTTP_URL = URL(require_tld=False, message=_l("Enter a full http(s) address."))


def one_line(form: CheckedForm, field: Field) -> None:
    """Refuse line breaks, tabs and other control characters: the value goes in mail headers."""
    if field.data and has_control_characters(str(field.data)):
        raise ValidationError(
            "Use a single line: no line breaks, tabs or other control characters."
        )


class LoginForm(AdminForm):
    email = EmailField(_l("Email address"), validators=[DataRequired(), Length(max=320)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=1000)])


class CodeForm(AdminForm):
    code = StringField(
        "Code from your authenticator app, or a recovery code",
        validators=[DataRequired(message="Enter a code."), Length(max=64)],
        render_kw={"autocomplete": "one-time-code", "autocapitalize": "off"},
    )


class EnrolForm(AdminForm):
    code = StringField(
        "Code shown by the app",
        validators=[DataRequired(message="Enter the code the app shows."), Length(max=64)],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"},
    )


class ReauthForm(AdminForm):
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1000)])
    code = StringField(
        "Code from your authenticator app, or a recovery code",
        validators=[Optional(), Length(max=64)],
        render_kw={"autocomplete": "one-time-code", "autocapitalize": "off"},
    )


class ArticleForm(AdminForm):
    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=500)])
    link = URLField(_l("Link"), validators=[DataRequired(), Length(max=2000), HTTP_URL])
    guid = StringField(_l("GUID (defaults to the link)"), validators=[Optional(), Length(max=500)])
    summary = TextAreaField(_l("Summary"), validators=[Optional(), Length(max=5000)])
    body_html = TextAreaField(_l("Body (HTML)"), validators=[Optional(), Length(max=500_000)])
    image_url = URLField(_l("Image URL"), validators=[Optional(), Length(max=2000), HTTP_URL])
    image_alt = StringField(
        _l("Image description (alt text)"), validators=[Optional(), Length(max=500)]
    )
    image_credit = StringField(_l("Image credit"), validators=[Optional(), Length(max=300)])
    author = StringField(_l("Author"), validators=[Optional(), Length(max=200)])
    region = StringField(_l("Region"), validators=[Optional(), Length(max=100)])
    tags = StringField(_l("Tags (comma-separated)"), validators=[Optional(), Length(max=500)])
    language = SelectField(_l("Language"))
    # Choices are set by the view: recent articles, and "" for none.
    translation_of = SelectField(_l("Translation of"), validate_choice=False)
    published_at = DateTimeLocalField(_l("Published (UTC)"), validators=[Optional()])


class FeedImportForm(AdminForm):
    url = URLField(_l("Feed URL"), validators=[Optional(), Length(max=2000), HTTP_URL])
    file = FileField(_l("or a feed file"))


class DigestForm(AdminForm):
    subject = StringField(_l("Subject"), validators=[DataRequired(), Length(max=200), one_line])
    intro = TextAreaField(_l("Introduction"), validators=[Optional(), Length(max=20_000)])


class TestSendForm(AdminForm):
    address = EmailField(
        _l("Send a test to"), validators=[DataRequired(), Length(max=254), Email()]
    )
    language = SelectField(_l("in"))  # choices set by the view: LANGUAGES


WEEKDAY_CHOICES = [("", "No automatic digest")] + [(str(i), d) for i, d in enumerate(WEEKDAYS)]


class ListForm(AdminForm):
    """A list's settings; mailer.lists.service checks them again (the CLI's path too)."""

    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200), one_line])
    slug = StringField(
        _l("Slug"),
        validators=[
            DataRequired(),
            Length(max=64),
            Regexp(r"^[a-z0-9][a-z0-9-]*$", message=_l("Lower-case letters, digits and hyphens.")),
        ],
    )
    confirm_slug_change = BooleanField(
        _l("I have updated the sign-up forms on article pages to the new slug")
    )
    description = TextAreaField(_l("Description"), validators=[Optional(), Length(max=2000)])
    is_public = BooleanField(_l("Public (offered on the sign-up form)"))
    language = SelectField(_l("Default language"))
    from_name = StringField(
        _l("From name (optional)"), validators=[Optional(), Length(max=200), one_line]
    )
    reply_to = EmailField(
        _l("Reply-To address (optional)"), validators=[Optional(), Length(max=254)]
    )
    # Choices are set by the view (WEEKDAY_CHOICES): tuples given here warn on WTForms 3.3.
    schedule_weekday = SelectField(_l("Weekly digest on"), validators=[Optional()])
    schedule_hour = IntegerField(_l("at hour (0–23)"), validators=[Optional(), NumberRange(0, 23)])
    schedule_timezone = StringField(_l("Time zone"), validators=[DataRequired(), Length(max=64)])
    # Not named like the column: a form without it means "wait", never the stored value.
    weekly_mode = SelectField(_l("The weekly digest"), default="wait")
    # Auto-pause limits: empty means the site's AUTO_PAUSE_* setting (mailer.digests.autopause).
    pause_bounce_rate = FloatField(
        _l("Pause at hard bounces (% of messages sent)"),
        validators=[Optional(), NumberRange(0, 100, message=_l("From 0 (never) to 100."))],
    )
    pause_complaint_rate = FloatField(
        _l("Pause at complaints (% of messages sent)"),
        validators=[Optional(), NumberRange(0, 100, message=_l("From 0 (never) to 100."))],
    )
    pause_min_sent = IntegerField(
        _l("Once this many messages are sent"),
        validators=[Optional(), NumberRange(1, 10_000_000, message=_l("From 1 to 10,000,000."))],
    )


SEND_CHOICES = [
    ("wait", "waits for an editor to approve it"),
    ("auto", "goes out automatically unless an editor holds it"),
]


class AddSubscriberForm(AdminForm):
    email = EmailField(_l("Email address"), validators=[DataRequired(), Length(max=254)])
    name = StringField(
        _l("Name (optional)"),
        validators=[Optional(), Length(max=100, message=_l("Keep the name under 100 characters."))],
    )
    language = SelectField(_l("Language"))
    # Choices are set by the view (every list, public or private).
    lists = SelectMultipleField(
        _l("Lists"), widget=ListWidget(prefix_label=False), option_widget=CheckboxInput()
    )
    consented = BooleanField(
        _l(
            "They already consented elsewhere "
            "(subscribe them confirmed, send no confirmation email)"
        )
    )


class SubscriberImportForm(AdminForm):
    file = FileField(_l("CSV file (columns email, name, language, with a header row)"))
    list = SelectField(_l("Import into list"))
    confirmed = BooleanField(
        _l(
            "They already consented elsewhere "
            "(subscribe them confirmed, send no confirmation emails)"
        )
    )
