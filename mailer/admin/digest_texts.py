"""Admin: a digest's subject and intro in each language, and the language of a preview."""

from __future__ import annotations

from collections.abc import Mapping

from flask import current_app

from mailer import controls
from mailer.delivery.headers import has_control_characters
from mailer.digests.service import MAX_SUBJECT
from mailer.models import Digest

MAX_INTRO = 20_000


def other_languages(digest: Digest) -> list[tuple[str, str]]:
    """(code, name) of every language but the list's default, in LANGUAGES order."""
    default = digest.mailing_list.language
    return [(c, n) for c, n in current_app.config["LANGUAGES"].items() if c != default]


def read(
    form: Mapping[str, str], digest: Digest
) -> tuple[dict[str, tuple[str, str]], dict[str, str]]:
    """The subjects and intros the digest page posted, by language, and errors by language."""
    given: dict[str, tuple[str, str]] = {}
    errors: dict[str, str] = {}
    for code, name in other_languages(digest):
        subject = form.get(f"subject_{code}", "").strip()
        intro = form.get(f"intro_{code}", "").strip()
        if len(subject) > MAX_SUBJECT:
            errors[code] = f"The {name} subject is longer than {MAX_SUBJECT} characters."
        elif has_control_characters(subject) or controls.has_control_characters(subject):
            errors[code] = f"Write the {name} subject on a single line."
        elif controls.has_control_characters(intro, multiline=True):
            errors[code] = (
                f"Remove the control characters (such as NUL) from the {name} introduction:"
                " they cannot be saved."
            )
        elif len(intro) > MAX_INTRO:
            errors[code] = f"The {name} introduction is longer than {MAX_INTRO} characters."
        elif intro and not subject:
            errors[code] = f"Give the {name} version a subject too, or leave both empty."
        else:
            given[code] = (subject, intro)
    return given, errors


class UnknownLanguage(ValueError):
    """A language not in LANGUAGES was asked for (the admin answers 400)."""


def language(digest: Digest, value: str | None) -> str:
    """The language asked for (?lang=, a form), the list's when none; UnknownLanguage else."""
    if not value:
        return digest.mailing_list.language
    if value not in current_app.config["LANGUAGES"]:
        raise UnknownLanguage(f"There is no language “{value[:20]}”: choose one of the list.")
    return value
