"""Keep email addresses out of logs and stored error texts, whatever script they are in.

The readers at risk often have internationalised addresses (Cyrillic, Arabic or Persian local
parts and domains, IDN domains and their punycode form), so the patterns accept any
non-delimiter character, not only ASCII. They run on every log record: each alternative
starts only at a boundary (a delimiter or the start of the text) and has no nested
ambiguity, so a long line costs one linear pass, and a line without "@" or "%40" costs two
substring searches.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from mailer.controls import one_line
from mailer.delivery.errors import describe, smtp_reply

# What ends a bare (unquoted) local part in running text: white space, brackets, quotes of
# the message around it, separators. "'" and "\" stay inside: reprs of bytes write UTF-8
# as \xd0\xbf..., JSON and ascii() as \u043f..., and O'Brien is a valid local part; so do
# {, }, | and ` (valid in a local part: "{john}@example.org").
_STOP = r"\s<>\"(),;:@\[\]"
# A domain also ends at those four, and at "'" and "\" (escapes are matched on their own).
_DOMAIN_STOP = _STOP + r"{}|`'\\"
_DOT = r"[.\u3002\uff0e\uff61]"  # IDNA treats the ideographic and full-width stops as dots
# A label's characters, or a \xNN, \uNNNN or \UNNNNNNNN escape: backslashes are in
# _DOMAIN_STOP, so the two never compete for a character and the repetition stays linear.
_ESCAPE = r"\\(?:x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8})"
_CHAR = rf"(?:[^{_DOMAIN_STOP}.\u3002\uff0e\uff61]|{_ESCAPE})"
_DOMAIN = rf"(?:{_CHAR}+{_DOT})+{_CHAR}{{2,}}|\[[^\]\s]{{1,64}}\]"
_ADDRESS_RE = re.compile(
    # "john doe"@example.org, or its escapes (\xNN per octet, \uNNNN per character): a
    # match cannot cross a quote, so a line of many quotes still costs one pass.
    rf'"[^"\r\n]{{1,1000}}"@(?:{_DOMAIN})'
    rf"|(?<![^{_STOP}])[^{_STOP}]+@(?:{_DOMAIN})"
)

# Percent-encoded (query strings, mailto: links): %40 for "@", %25 40 when encoded twice.
_URL_STOP = r"\s&?=/#<>\"'(),;:@\[\]{}|`\\"
# The local part never holds the %40 itself: one place to split a run, so no quadratic
# backtracking on a line of many %40s.
_ENCODED_LOCAL = rf"(?:[^{_URL_STOP}%]|%(?!(?:25)?40))+"
_ENCODED_RE = re.compile(
    rf"(?<![^{_URL_STOP}]){_ENCODED_LOCAL}%(?:25)?40(?:[^{_URL_STOP}.]+\.)+[^{_URL_STOP}.]{{2,}}"
)

# Links in mail carry credentials (preferences pages can download or erase data).
_TOKEN_PATH_RE = re.compile(r"/(confirm|unsubscribe|preferences|data|erase)/[A-Za-z0-9_.\-]{16,}")

PLACEHOLDER = "[address]"


def redact(text: str) -> str:
    """Replace addresses (any script, quoted, percent-encoded) and link tokens in a text."""
    if "/" in text:
        text = _TOKEN_PATH_RE.sub(r"/\1/[token]", text)
    if "@" in text:
        text = _ADDRESS_RE.sub(PLACEHOLDER, text)
    if "%40" in text or "%2540" in text:
        text = _ENCODED_RE.sub(PLACEHOLDER, text)
    return text


def address_forms(address: str) -> set[str]:
    """The spellings of one address a text may hold: as given, lower-cased, punycode, encoded."""
    local, _, domain = address.rpartition("@")
    forms = {address, address.lower()}
    try:
        ascii_domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        ascii_domain = domain
    forms |= {f"{local}@{ascii_domain}", f"{local}@{ascii_domain}".lower()}
    forms |= {quote(f, safe="") for f in list(forms)}
    return {f for f in forms if f}


def scrub(text: str, address: str | None = None) -> str:
    """redact(), and remove one known address's every form and its local part too.

    Servers sometimes echo the recipient's local part alone ("<john>... User unknown"), which
    no pattern can tell from other words; the caller who knows the address can.
    The result can be longer than the text: cut it to its column after scrubbing.
    """
    if address:
        for form in sorted(address_forms(address), key=len, reverse=True):
            text = re.sub(re.escape(form), PLACEHOLDER, text, flags=re.IGNORECASE)
        local = address.rpartition("@")[0].strip('"')
        if len(local) >= 3:
            # A whole word only: the local part "mail" must not eat into "email".
            pattern = rf"(?<!\w){re.escape(local)}(?!\w)"
            text = re.sub(pattern, "[local-part]", text, flags=re.IGNORECASE)
    return redact(text)


def smtp_error_text(exc: BaseException, recipient: str | None = None, limit: int = 480) -> str:
    """A failure as stored on a row: class, code, enhanced status, then the server's text
    (or the error's own, for connection trouble) with every address, and the recipient's
    local part, removed.
    """
    code, reply = smtp_reply(exc)
    detail = reply.decode("utf-8", "replace") if code is not None else str(exc)
    detail = one_line(detail)  # a NUL in a server's reply: PostgreSQL refuses it
    head = describe(exc)
    return scrub(f"{head}: {detail}" if detail else head, recipient)[:limit]
