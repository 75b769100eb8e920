"""Control characters in the text people send: refused in every text field of every form.

A NUL cannot be stored in PostgreSQL: the insert fails, which was a 500, and on the sign-up
form an answer that differed between a new address (written) and a known one (not written),
telling a stranger who subscribes. No other control character belongs in a name, an address,
a title or a subject either. Text areas keep tabs and line breaks. Lone surrogates cannot
arrive in a form (werkzeug decodes with replacement characters) but are refused with the rest.
"""

from __future__ import annotations

import re
from typing import Any

from flask_wtf import FlaskForm
from wtforms import HiddenField, PasswordField, StringField, TextAreaField

# C0 controls, DEL, C1 controls and lone surrogates.
_IN_LINE = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
# The same but tab, line feed and carriage return: a text area's lines.
_IN_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def has_control_characters(value: str, *, multiline: bool = False) -> bool:
    """Whether `value` holds a control character (tabs and line breaks allowed if `multiline`)."""
    return (_IN_TEXT if multiline else _IN_LINE).search(value) is not None


def without_control_characters(value: str, *, multiline: bool = True) -> str:
    """`value` without its control characters (but tabs and line breaks if `multiline`): for
    text from elsewhere (a feed, a bounce), which is cleaned rather than refused."""
    return (_IN_TEXT if multiline else _IN_LINE).sub("", value)


def one_line(value: str) -> str:
    """Text from elsewhere (a server's reply, a bounce) as one line: every run of whitespace,
    including the control characters Python reads as whitespace (vertical tab, form feed,
    \x1c-\x1f, \x85), becomes one space, so no two words are glued together; the other
    control characters (NUL, ESC, DEL, ...) go. PostgreSQL refuses NUL in text."""
    return without_control_characters(" ".join(value.split()), multiline=False)


class CheckedForm(FlaskForm):
    """A form whose text fields refuse control characters, with `control_message`.

    Every text field is checked, so a field added later cannot forget it. Passwords are left
    alone (they are only hashed, never stored); hidden fields carry our own values.
    """

    control_message: Any = "Remove the control characters (such as NUL) from this field."

    def validate(self, extra_validators: Any = None) -> bool:
        valid = super().validate(extra_validators)
        for field in self:
            if not isinstance(field, StringField) or isinstance(
                field, (HiddenField, PasswordField)
            ):
                continue
            multiline = isinstance(field, TextAreaField)
            # What was sent, before any filter or validator (stripping, say) changed it.
            sent = [v for v in (field.raw_data or []) if isinstance(v, str)]
            if any(has_control_characters(v, multiline=multiline) for v in sent):
                if not field.errors:
                    field.errors = [*field.errors, self.control_message]
                valid = False
        return valid
