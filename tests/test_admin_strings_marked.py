"""The editors' strings are marked for translation (issue 12: "its catalogues may come later").

A heuristic over Jinja's lexer: every template of the admin and every mail to editors,
with `{{ }}`, `{% %}` and `{% trans %}` blocks taken out and the tags stripped, has no
English words left; nor have the attributes a person sees or hears (title, aria-label, alt,
placeholder). The editors' strings go to translations/admin.pot, never to the readers'
catalogues, and the editors' pages and mails stay in the source language.
"""

from __future__ import annotations

import ast
import html
import re
from pathlib import Path

import pytest
from flask import Flask
from jinja2 import Environment

from mailer.emails import render_email
from tests.test_translations import ROOT, source_messages

TEMPLATES = ROOT / "templates"
EDITOR_MAILS = ("digest_paused", "digest_review", "editor_invite")
EDITOR_TEMPLATES = sorted(
    [*TEMPLATES.glob("admin/*.html")]
    + [p for name in EDITOR_MAILS for p in TEMPLATES.glob(f"email/{name}.*")],
)
# Not words to translate: the command line an operator types, symbols, brand names.
ALLOWED = {"mailer", "UTC", "CSV", "TOTP", "HTML"}
HEARD = re.compile(r'\s(?:title|aria-label|alt|placeholder)="([^"]*)"')
SPOT = "\x00"  # where a {{ }} or {% %} stood


def visible_text(source: str) -> tuple[str, list[str]]:
    """The template's text outside any Jinja construct and any tag, and its heard attributes."""
    out: list[str] = []
    depth = 0  # inside {% trans %} ... {% endtrans %}
    statement: list[str] = []
    skip = False  # {% block main_class %}: CSS classes, not words
    for _line, kind, value in Environment(extensions=["jinja2.ext.i18n"]).lex(source):
        if kind == "block_begin":
            statement = []
        elif kind == "name" and len(statement) < 2:
            statement.append(value)
            if len(statement) == 1:
                depth += {"trans": 1, "endtrans": -1}.get(value, 0)
            skip = statement == ["block", "main_class"]
        if kind in ("variable_begin", "block_begin"):
            out.append(SPOT)
        elif kind == "data" and depth == 0 and not skip:
            out.append(value)
    text = "".join(out)
    text = re.sub(r"<(script|style|code)\b.*?</\1>", " ", text, flags=re.S | re.I)
    text = re.sub(r"<!--.*?-->", " ", text, flags=re.S)
    heard = [v for v in HEARD.findall(text) if v.strip(SPOT + " ")]
    return html.unescape(re.sub(r"<[^>]*>", " ", text)), heard


def english_words(text: str) -> list[str]:
    return [w for w in re.findall(r"[A-Za-z][A-Za-z'’-]*", text) if w not in ALLOWED]


def test_the_check_finds_unmarked_text_and_passes_marked_text() -> None:
    assert english_words(visible_text("<h1>Your account</h1>")[0]) == ["Your", "account"]
    assert english_words(visible_text("<p>{{ n }} subscribers</p>")[0]) == ["subscribers"]
    assert visible_text('<nav aria-label="Admin">')[1] == ["Admin"]
    assert visible_text('<a title="{{ _("Edit") }}">')[1] == []
    marked = '<h1>{{ _("Your account") }}</h1>{% trans n=1 %}{{ n }} left{% endtrans %}'
    assert not english_words(visible_text(marked)[0])
    assert not english_words(visible_text('<a href="{{ url }}" class="button primary">')[0])


@pytest.mark.parametrize("path", EDITOR_TEMPLATES, ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_every_visible_english_text_is_marked(path: Path) -> None:
    text, heard = visible_text(path.read_text(encoding="utf-8"))
    words = english_words(text)
    assert not words, f"{path.name}: text outside _() or {{% trans %}}: {' '.join(words)}"
    assert not heard, f"{path.name}: attributes outside _(): {heard}"


def test_editor_strings_go_to_admin_pot_and_not_to_the_readers_catalogues() -> None:
    admin, readers = source_messages("babel-admin.cfg"), source_messages()
    assert {"Your account", "Audit log", "Review the digest"} <= admin
    assert not {"Your account", "Audit log", "Review the digest"} & readers


@pytest.mark.parametrize("name", ["digest_review", "digest_paused"])
def test_mails_to_editors_stay_in_the_source_language(app: Flask, name: str) -> None:
    app.config["DEFAULT_LANGUAGE"] = "ru"  # a network whose readers' default is Russian
    context = {
        "list_name": "Weekly updates",
        "subject": "This week",
        "articles": 3,
        "automatic": False,
        "slot": "Fri 27 Nov 2026, 09:00",
        "review_url": "http://localhost/admin/digests/7",
        "reason": "Paused automatically.",
        "url": "http://localhost/admin/digests/7",
    }
    with app.app_context():
        from mailer.digests import weekly  # noqa: F401  (the mails' callers pass no language)

        email = render_email(name, to="editor@example.org", language="en", **context)
    assert '<html lang="en" dir="ltr">' in email.html
    assert "Hello," in email.text and "Здравствуйте" not in email.text


def _literal(arg: ast.expr) -> bool:
    """A text written in place: "..." or f"...", also as "..." % x, "..." + y, "...".format()."""
    if isinstance(arg, ast.Constant | ast.JoinedStr):
        return True
    if isinstance(arg, ast.BinOp):
        return _literal(arg.left)
    return (
        isinstance(arg, ast.Call)
        and isinstance(arg.func, ast.Attribute)
        and _literal(arg.func.value)
    )


def test_no_flashed_message_is_a_bare_literal() -> None:
    # A message flashed from Python is seen by a person too: a literal or f-string as its
    # first argument was never extracted (mailer/accounts/sessions.py's re-authentication).
    bare = []
    for path in sorted((ROOT / "mailer").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            name = getattr(node.func, "id", getattr(node.func, "attr", None))
            if name == "flash" and _literal(node.args[0]):
                bare.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert bare == []


def test_the_editors_catalogue_holds_the_account_strings() -> None:
    pot = (ROOT / "translations" / "admin.pot").read_text(encoding="utf-8")
    assert 'msgid "Confirm it is you: enter your password and a code again."' in pot
