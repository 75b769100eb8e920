"""Forms of the editors' pages."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    EmailField,
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

from mailer.delivery.headers import has_control_characters
from mailer.digests.schedule import WEEKDAYS

HTTP_URL = URL(require_tld=False, message="Enter a full http(s) address.")


def one_line(form: FlaskForm, field: Field) -> None:
    """Refuse line breaks, tabs and other control characters: the value goes in mail headers."""
    if field.data and has_control_characters(str(field.data)):
        raise ValidationError(
            "Use a single line: no line breaks, tabs or other control characters."
        )


class LoginForm(FlaskForm):
    email = EmailField("Email address", validators=[DataRequired(), Length(max=320)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1000)])


class ArticleForm(FlaskForm):
    title = StringField("Title", validators=[DataRequired(), Length(max=500)])
    link = URLField("Link", validators=[DataRequired(), Length(max=2000), HTTP_URL])
    guid = StringField("GUID (defaults to the link)", validators=[Optional(), Length(max=500)])
    summary = TextAreaField("Summary", validators=[Optional(), Length(max=5000)])
    body_html = TextAreaField("Body (HTML)", validators=[Optional(), Length(max=500_000)])
    image_url = URLField("Image URL", validators=[Optional(), Length(max=2000), HTTP_URL])
    image_alt = StringField(
        "Image description (alt text)", validators=[Optional(), Length(max=500)]
    )
    image_credit = StringField("Image credit", validators=[Optional(), Length(max=300)])
    author = StringField("Author", validators=[Optional(), Length(max=200)])
    region = StringField("Region", validators=[Optional(), Length(max=100)])
    tags = StringField("Tags (comma-separated)", validators=[Optional(), Length(max=500)])
    language = SelectField("Language")
    # Choices are set by the view: recent articles, and "" for none.
    translation_of = SelectField("Translation of", validate_choice=False)
    published_at = DateTimeLocalField("Published (UTC)", validators=[Optional()])


class FeedImportForm(FlaskForm):
    url = URLField("Feed URL", validators=[Optional(), Length(max=2000), HTTP_URL])
    file = FileField("or a feed file")


class DigestForm(FlaskForm):
    subject = StringField("Subject", validators=[DataRequired(), Length(max=200), one_line])
    intro = TextAreaField("Introduction", validators=[Optional(), Length(max=20_000)])


class TestSendForm(FlaskForm):
    address = EmailField("Send a test to", validators=[DataRequired(), Length(max=254), Email()])
    language = SelectField("in")  # choices set by the view: LANGUAGES


WEEKDAY_CHOICES = [("", "No automatic digest")] + [(str(i), d) for i, d in enumerate(WEEKDAYS)]


class ListForm(FlaskForm):
    """A list's settings; mailer.lists.service checks them again (the CLI's path too)."""

    name = StringField("Name", validators=[DataRequired(), Length(max=200), one_line])
    slug = StringField(
        "Slug",
        validators=[
            DataRequired(),
            Length(max=64),
            Regexp(r"^[a-z0-9][a-z0-9-]*$", message="Lower-case letters, digits and hyphens."),
        ],
    )
    confirm_slug_change = BooleanField(
        "I have updated the sign-up forms on article pages to the new slug"
    )
    description = TextAreaField("Description", validators=[Optional(), Length(max=2000)])
    is_public = BooleanField("Public (offered on the sign-up form)")
    language = SelectField("Default language")
    from_name = StringField(
        "From name (optional)", validators=[Optional(), Length(max=200), one_line]
    )
    reply_to = EmailField("Reply-To address (optional)", validators=[Optional(), Length(max=254)])
    # Choices are set by the view (WEEKDAY_CHOICES): tuples given here warn on WTForms 3.3.
    schedule_weekday = SelectField("Weekly digest on", validators=[Optional()])
    schedule_hour = IntegerField("at hour (0–23)", validators=[Optional(), NumberRange(0, 23)])
    schedule_timezone = StringField("Time zone", validators=[DataRequired(), Length(max=64)])
    # Not named like the column: a form without it means "wait", never the stored value.
    weekly_mode = SelectField("The weekly digest", default="wait")


SEND_CHOICES = [
    ("wait", "waits for an editor to approve it"),
    ("auto", "goes out automatically unless an editor holds it"),
]


class AddSubscriberForm(FlaskForm):
    email = EmailField("Email address", validators=[DataRequired(), Length(max=254)])
    name = StringField(
        "Name (optional)",
        validators=[Optional(), Length(max=100, message="Keep the name under 100 characters.")],
    )
    language = SelectField("Language")
    # Choices are set by the view (every list, public or private).
    lists = SelectMultipleField(
        "Lists", widget=ListWidget(prefix_label=False), option_widget=CheckboxInput()
    )
    consented = BooleanField(
        "They already consented elsewhere (subscribe them confirmed, send no confirmation email)"
    )


class SubscriberImportForm(FlaskForm):
    file = FileField("CSV file (columns email, name, language, with a header row)")
    list = SelectField("Import into list")
    confirmed = BooleanField(
        "They already consented elsewhere (subscribe them confirmed, send no confirmation emails)"
    )
