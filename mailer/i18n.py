"""Languages of pages and mail (issue 12): which language a request shows, and a switch for
rendering in a given language anywhere (a view, a worker's task, the digest's render).

The catalogues live in translations/<lang>/LC_MESSAGES/messages.po (reader-facing strings);
`make translations` extracts, updates and compiles them. English is the source language.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any

import flask_babel
from babel import Locale, UnknownLocaleError
from babel.numbers import format_decimal
from flask import current_app, g, has_request_context, request, url_for
from markupsafe import Markup

# Scripts written right to left: pages and mails in these carry dir="rtl".
RTL = frozenset({"ar", "fa", "he", "ur", "ps", "ckb", "yi", "dv"})
SOURCE_LANGUAGE = "en"
# Pages with the language switcher; the editors' pages stay in the source language until the
# admin's catalogues exist (its strings are marked, in translations/admin.pot).
PUBLIC_BLUEPRINTS = frozenset({"subscriptions", "archive"})
# The first digit of CLDR's numeric numbering systems (numberingSystems.xml) that a locale may
# have as its default; Babel knows each locale's default but not the digits themselves.
_ZERO = {"arab": "٠", "arabext": "۰", "beng": "০", "deva": "०", "mymr": "၀", "tibt": "༠"}
SOURCE_ONLY_BLUEPRINTS = frozenset({"admin", "dev"})


def catalogue_languages(directory: Path) -> NativeNames:
    """English and every language with a compiled catalogue in `directory`, by native name."""
    found = {mo.parent.parent.name for mo in directory.glob("*/LC_MESSAGES/messages.mo")}
    return NativeNames([SOURCE_LANGUAGE, *sorted(found - {SOURCE_LANGUAGE})])


class NativeNames(Mapping[str, str]):
    """Language codes in order, each with its name in its own language (CLDR's), looked up
    when first read: CLDR's data for seven languages is about 0.1 s of CPU that every
    `mailer` command and worker would pay at start, and most never show a name."""

    def __init__(self, codes: list[str]) -> None:
        self._codes = list(dict.fromkeys(codes))

    def __getitem__(self, code: str) -> str:
        if code not in self._codes:
            raise KeyError(code)
        return _native_name(code)

    def __contains__(self, code: object) -> bool:
        return code in self._codes

    def __iter__(self) -> Iterator[str]:
        return iter(self._codes)

    def __len__(self) -> int:
        return len(self._codes)

    def __repr__(self) -> str:
        return f"NativeNames({self._codes!r})"


@cache
def _native_name(code: str) -> str:
    name = Locale.parse(code).get_display_name(code) or code
    return name[:1].upper() + name[1:]


def codes() -> list[str]:
    """The site's languages (LANGUAGES), as codes."""
    return list(current_app.config["LANGUAGES"])


def supported(code: str | None) -> str | None:
    """`code` if it is one of the site's languages, else None."""
    return code if code and code in current_app.config["LANGUAGES"] else None


def select_language() -> str:
    """The language of this request (Flask-Babel's locale selector).

    `?lang=` (the switcher, a chosen link) wins; then the language of the reader whose link
    opened the page; then the browser's Accept-Language; then the fallback a view set (the
    offered list's default language), else DEFAULT_LANGUAGE.
    """
    fallback = str(current_app.config["DEFAULT_LANGUAGE"])
    if not has_request_context():
        return fallback
    if request.blueprint in SOURCE_ONLY_BLUEPRINTS:
        return SOURCE_LANGUAGE
    chosen = supported(request.args.get("lang"))
    if chosen:
        return chosen
    reader = supported(g.get("reader_language"))
    if reader:
        return reader
    best = request.accept_languages.best_match(codes())
    return best or supported(g.get("fallback_language")) or fallback


def use_reader_language(code: str | None) -> None:
    """Show the rest of this request in a reader's saved language (unless `?lang=` chose)."""
    g.reader_language = code
    flask_babel.refresh()


def use_fallback_language(code: str | None) -> None:
    """The language to show when neither `?lang=` nor the browser names one of ours."""
    g.fallback_language = code
    flask_babel.refresh()


def current() -> str:
    """The language code in force (a request's, or inside `language()`)."""
    locale = flask_babel.get_locale()
    return locale.language if locale is not None else str(current_app.config["DEFAULT_LANGUAGE"])


def direction(code: str | None = None) -> str:
    """ "rtl" or "ltr" for `code` (default: the language in force)."""
    return "rtl" if (code or current()) in RTL else "ltr"


@contextmanager
def language(code: str | None) -> Iterator[str]:
    """Render in `code` (a site language; anything else falls back to DEFAULT_LANGUAGE).

    Usable in views, Celery tasks and the digest's render alike: it needs an app context.
    """
    chosen = supported(code) or str(current_app.config["DEFAULT_LANGUAGE"])
    with flask_babel.force_locale(chosen):
        yield chosen


def format_day(when: date | datetime) -> str:
    """A date as the language writes it ("30 November 2026", "30 ноября 2026 г.",
    "۳۰ نوامبر ۲۰۲۶")."""
    if current() == "en":
        return flask_babel.format_date(when, "d MMMM y")  # the form our English mails always had
    return digits(flask_babel.format_date(when, "long"))  # Babel's dates are in Latin digits


def number(value: float | int, code: str | None = None) -> str:
    """A number as the language writes it: its separators and digits ("۱٬۲۳۴" in Persian)."""
    code = code or current()
    return digits(format_decimal(value, locale=code, numbering_system="default"), code)


def digits(text: Any, code: str | None = None) -> Any:
    """`text` with 0-9 in the digits of the language's default numbering system (CLDR): "۳۰"
    in Persian, unchanged where that is Latin (en, ru, tr, and "ar" itself). Markup stays
    Markup; use it on sentences and dates, never on addresses."""
    table = _digit_table(code or current())
    if table is None or text is None:
        return text
    translated = str.translate(str(text), table)
    return Markup(translated) if isinstance(text, Markup) else translated


@cache
def _digit_table(code: str) -> dict[int, int] | None:
    try:
        system = Locale.parse(code).default_numbering_system
    except (ValueError, UnknownLocaleError):
        return None
    zero = _ZERO.get(system)
    if zero is None:
        return None
    return str.maketrans("0123456789", "".join(chr(ord(zero) + i) for i in range(10)))


def isolate(text: Any) -> Any:
    """In a right-to-left language, `text` (a name, an address) set apart from the direction
    of the sentence around it (Unicode FSI ... PDI), so "Weekly updates · 30" keeps its order.

    A plain string: templates escape it where they autoescape, and text mails stay plain.
    """
    if text is None or direction() != "rtl":
        return text
    return f"\u2068{text}\u2069"


def text_attrs(code: str | None) -> dict[str, str]:
    """`lang` and `dir` of text written in `code` (a list's name or description, from the
    database), or only dir="auto" where its language is unknown: on a Persian page an English
    description keeps its full stop at its end. For `xmlattr` or a WTForms label's attributes.
    """
    if not code:
        return {"dir": "auto"}
    return {"lang": code, "dir": "rtl" if code.split("-")[0].lower() in RTL else "ltr"}


def in_language(text: Any, code: str | None) -> Markup:
    """`text` (escaped) in a span marked with its language and direction (`text_attrs`): set
    apart from the sentence around it, in pages and HTML mail alike. In a right-to-left page
    the text is also isolated with Unicode marks (`isolate`), for mail clients that drop `dir`.
    """
    attrs = "".join(Markup(' {}="{}"').format(k, v) for k, v in text_attrs(code).items())
    return Markup("<span{}>{}</span>").format(Markup(attrs), isolate(text))


def mail_globals() -> dict[str, object]:
    """`page_lang` and `page_dir` of the language in force, for a mail's templates."""
    code = current()
    return {"page_lang": code, "page_dir": direction(code)}


def template_globals() -> dict[str, object]:
    """`page_lang`, `page_dir` and the language switcher's links, for every page."""
    return {**mail_globals(), "language_links": _language_links()}


def _language_links() -> list[tuple[str, str, str]]:
    """(code, name, URL of this page in that language) on public pages a GET shows."""
    if (
        request.method not in ("GET", "HEAD")
        or request.endpoint is None
        or request.blueprint not in PUBLIC_BLUEPRINTS
    ):
        return []
    args: dict[str, Any] = {**request.args.to_dict(), **(request.view_args or {})}
    links = []
    for code, name in current_app.config["LANGUAGES"].items():
        args["lang"] = code
        links.append((code, name, url_for(request.endpoint, **args)))
    return links
