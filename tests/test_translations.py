"""The reader-facing catalogues (issue 12): complete, not fuzzy, placeholders intact, compiled.

The strings come fresh from the templates and code (babel.cfg), so a string added to a page or
a mail without its translations fails here. The admin's strings (babel-admin.cfg) may stay
untranslated: they are extracted to translations/admin.pot, not into the readers' catalogues.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po
from flask import Flask

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "translations"
LANGUAGES = tuple(sorted(p.parent.parent.name for p in TRANSLATIONS.glob("*/LC_MESSAGES/*.po")))
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "_l": None, "lazy_gettext": None}
# %(name)s and %(num)d, {name}, and HTML tags with their attributes: a translation keeps each.
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|\{\w+\}|</?[a-z]+(?:\s[^>]*)?>")
COUNTS = {"%(num)d", "%(count)s"}


def source_messages(config: str = "babel.cfg") -> set[str | tuple[str, str]]:
    """Every msgid that `config` extracts from the tree now."""
    with open(ROOT / config, encoding="utf-8") as f:
        method_map, options_map = parse_mapping_cfg(f)
    found: set[str | tuple[str, str]] = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=KEYWORDS
    ):
        found.add(message if isinstance(message, str) else (message[0], message[1]))
    return found


@pytest.fixture(scope="module")
def extracted() -> set[str | tuple[str, str]]:
    return source_messages()


def catalogue(language: str) -> Catalog:
    with open(TRANSLATIONS / language / "LC_MESSAGES" / "messages.po", "rb") as f:
        return read_po(f, locale=language)


def messages(cat: Catalog) -> Iterator[Message]:
    return (m for m in cat if m.id)


def entries(cat: Catalog) -> dict[object, object]:
    """msgid -> msgstr, plural ids and forms as tuples."""

    def frozen(value: object) -> object:
        return tuple(value) if isinstance(value, list | tuple) else value

    return {frozen(m.id): frozen(m.string) for m in cat if m.id}


def placeholders(text: str) -> list[str]:
    return sorted(PLACEHOLDER.findall(text))


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_reader_string_is_translated_and_not_fuzzy(
    language: str, extracted: set[str | tuple[str, str]]
) -> None:
    cat = catalogue(language)
    entries = {m.id: m for m in messages(cat)}
    missing = sorted(str(e) for e in extracted if e not in entries)
    assert not missing, f"{language}: not in the catalogue (make translations): {missing}"
    untranslated = sorted(
        str(m.id)
        for m in entries.values()
        if (not all(m.string) if isinstance(m.string, tuple) else not m.string)
    )
    assert not untranslated, f"{language}: untranslated: {untranslated}"
    fuzzy = sorted(str(m.id) for m in entries.values() if m.fuzzy)
    assert not fuzzy and not cat.fuzzy, f"{language}: fuzzy entries: {fuzzy}"
    plurals = [m for m in entries.values() if isinstance(m.id, tuple)]
    assert plurals, "the counts in mails go through ngettext"
    for m in plurals:
        assert len(m.string) == cat.num_plurals, f"{language}: {m.id[0]!r} plural forms"


@pytest.mark.parametrize("language", LANGUAGES)
def test_translations_keep_every_placeholder_and_tag(language: str) -> None:
    problems = []
    for m in messages(catalogue(language)):
        if isinstance(m.id, tuple):
            wanted = placeholders(m.id[1])
            *others, last = m.string
            if placeholders(last) != wanted:
                problems.append((m.id[1], last))
            for form in others:  # "one day", "two days": a form may spell its number out
                if [p for p in placeholders(form) if p not in COUNTS] != [
                    p for p in wanted if p not in COUNTS
                ]:
                    problems.append((m.id[0], form))
        elif placeholders(m.id) != placeholders(m.string):
            problems.append((m.id, m.string))
    assert not problems, f"{language}: placeholders dropped or changed: {problems}"


def test_the_placeholder_check_catches_a_dropped_or_renamed_placeholder() -> None:
    assert placeholders('To stop: %(url)s <a href="%(u)s">x</a>') != placeholders("Stop: %(link)s")
    assert placeholders("Hello %(name)s,") == placeholders("Здравствуйте, %(name)s!")
    assert placeholders("<strong>%(address)s</strong>") != placeholders("<b>%(address)s</b>")


@pytest.mark.parametrize("language", LANGUAGES)
def test_compiled_catalogue_matches_its_po(language: str) -> None:
    """The committed .mo is what `make translations-compile` makes of the .po."""
    compiled = BytesIO()
    write_mo(compiled, catalogue(language))
    compiled.seek(0)
    expected = entries(read_mo(compiled))
    with open(TRANSLATIONS / language / "LC_MESSAGES" / "messages.mo", "rb") as f:
        actual = entries(read_mo(f))
    assert actual == expected, f"{language}: run `make translations-compile` and commit the .mo"


def test_admin_strings_are_marked_but_kept_out_of_the_readers_catalogues(
    extracted: set[str | tuple[str, str]],
) -> None:
    admin = source_messages("babel-admin.cfg")
    assert "Log out %(email)s" in admin and "Articles" in admin
    assert "Log out %(email)s" not in extracted
    with open(TRANSLATIONS / "admin.pot", "rb") as f:
        template = {m.id for m in read_po(f) if m.id}
    assert admin <= template, "run `make translations-extract` and commit translations/admin.pot"


def test_site_languages_are_english_and_every_catalogue(app: Flask) -> None:
    assert LANGUAGES == ("ar", "es", "fa", "fr", "ru", "tr")
    languages = app.config["LANGUAGES"]
    assert list(languages) == ["en", *LANGUAGES]
    assert languages["fa"] == "فارسی" and languages["ru"] == "Русский"
    assert languages["es"] == "Español" and languages["en"] == "English"


def test_language_names_come_from_cldr_only_when_read() -> None:
    """CLDR's data is loaded when a name is shown, not at every process's start (issue 13:
    `mailer digest send` pays no language names it never prints)."""
    from mailer import create_app, i18n

    i18n._native_name.cache_clear()
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret-key-not-for-production",
            "RATELIMIT_ENABLED": False,
        }
    )
    languages = app.config["LANGUAGES"]
    assert "ru" in languages and "xx" not in languages and len(languages) == 1 + len(LANGUAGES)
    assert i18n._native_name.cache_info().currsize == 0
    assert languages["tr"] == "Türkçe" and dict(languages.items())["ar"] == "العربية"
    with pytest.raises(KeyError):
        languages["xx"]
