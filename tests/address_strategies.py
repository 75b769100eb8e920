"""Hypothesis strategies for the addresses of the audience at risk, and where they hide.

Local parts and domains in Latin, Cyrillic, Arabic and Persian script, IDN domains in their
Unicode and punycode (xn--) forms, quoted local parts ("john doe"@...), and the contexts an
address reaches a log line or a stored text in: SMTP replies, reprs of exceptions and bytes,
query strings and mailto: links (percent-encoded), JSON and ascii() (\\u escapes).
"""

from __future__ import annotations

import json
from urllib.parse import quote

from hypothesis import strategies as st

LATIN = "abcdefghijklmnopqrstuvwxyz0123456789"
CYRILLIC = "абвгдеёжзийклмнопрстуфхцчшщъыьэюя"
ARABIC = "ابتثجحخدذرزسشصضطظعغفقكلمنهوي"
PERSIAN = "پچژگکیآابتسشفقلمنوه"
GERMAN = "äöüß"  # ß stays ß in IDNA 2008, ä becomes xn--
SCRIPTS = [LATIN, CYRILLIC, ARABIC, PERSIAN, LATIN + GERMAN]
TLDS = ["org", "de", "рф", "ایران", "مصر", "xn--p1ai", "xn--mgba3a4f16a", "com", "укр"]


@st.composite
def _word(draw: st.DrawFn, min_size: int = 1, max_size: int = 12) -> str:
    alphabet = draw(st.sampled_from(SCRIPTS))
    return draw(st.text(alphabet, min_size=min_size, max_size=max_size))


@st.composite
def local_parts(draw: st.DrawFn) -> str:
    words = draw(st.lists(_word(), min_size=1, max_size=3))
    # {, }, | and ` are valid in a local part (email-validator accepts them) and end a
    # domain: a redaction that stops an address at them leaves the start of it behind.
    joiner = draw(st.sampled_from([".", "+", "-", "_", "{", "}", "|", "`"]))
    local = joiner.join(words)
    if draw(st.booleans()) and draw(st.booleans()):  # a quarter: quoted, with a space
        local = f'"{local} {draw(_word())}"'
    return local


def _punycode(label: str) -> str:
    try:
        return label.encode("idna").decode("ascii")
    except UnicodeError:
        return label


@st.composite
def domains(draw: st.DrawFn) -> str:
    labels = draw(st.lists(_word(min_size=2), min_size=1, max_size=2))
    tld = draw(st.sampled_from(TLDS))
    if draw(st.booleans()):  # the punycode form, as an MTA writes it
        labels = [_punycode(label) for label in labels]
    return ".".join([*labels, tld])


@st.composite
def addresses(draw: st.DrawFn) -> str:
    return f"{draw(local_parts())}@{draw(domains())}"


CONTEXTS = [
    "{}",
    "sent to {} today",
    "550 5.1.1 <{}>: Recipient address rejected",
    "To: Someone <{}>, other@example.net",
    "SMTPRecipientsRefused({{{!r}: (550, b'rejected')}})",
    "mailto:{}?subject=unsubscribe",
    "{}.",
]


@st.composite
def texts_with_address(draw: st.DrawFn, address: str) -> str:
    """A log-line-like text that holds `address` in one of its usual spellings."""
    form = draw(
        st.sampled_from(
            [
                address,
                address.upper(),
                repr(address.encode()),  # b'\xd0\xb6...@...' in a repr of bytes
                quote(address, safe=""),  # a query string value
                quote(address, safe="@"),  # "@" kept, the rest encoded
                json.dumps(address),  # "\u0436...@..." in a JSON log line
                ascii(address),  # '\u0436...' in an ascii() or a !a repr
            ]
        )
    )
    return draw(st.sampled_from(CONTEXTS)).format(form)


def spellings(address: str) -> set[str]:
    """Every spelling of an address to look for (casefolded): Unicode and punycode domain,
    percent-encoded, as the escapes of a bytes repr, and the quoted local part's inside."""
    local, _, domain = address.rpartition("@")
    labels = domain.split(".")
    unicode_domain = ".".join(_from_punycode(label) for label in labels)
    ascii_domain = ".".join(_punycode(label) for label in labels)
    bases = {f"{local}@{d}" for d in (domain, unicode_domain, ascii_domain)}
    if local.startswith('"'):
        bases |= {f"{local.strip(chr(34))}@{d}" for d in (unicode_domain, ascii_domain)}
    forms = set(bases)
    for base in bases:
        forms |= {quote(base, safe=""), quote(base, safe="@"), repr(base.encode())[2:-1]}
        forms |= {json.dumps(base)[1:-1], ascii(base)[1:-1]}
    return {f.casefold() for f in forms}


def _from_punycode(label: str) -> str:
    try:
        return label.encode("ascii").decode("idna") if label.startswith("xn--") else label
    except UnicodeError:
        return label


def leaks(text: str, address: str) -> list[str]:
    """The spellings of `address` found in `text` (compared casefolded), and the start of its
    local part left in front of a placeholder (a match that began too late)."""
    folded = text.casefold()
    found = {f for f in spellings(address) if f in folded}
    for form in spellings(address):
        local = form.rpartition("@")[0] or form.rpartition("%40")[0]
        for i, char in enumerate(local):
            if char in "{}|`" and f"{local[: i + 1]}[address]" in folded:
                found.add(local[: i + 1] + "[address]")
    return sorted(found)
