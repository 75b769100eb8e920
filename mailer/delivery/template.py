"""A message built once per digest and filled per recipient in microseconds.

Per-recipient values (links, the name) sit in the text and HTML as markers. The MIME
structure, the fixed headers and the quoted-printable encoding of everything between the
markers are prepared once; `render` only encodes the few short values and joins bytes.
Each value goes on lines of its own between quoted-printable soft line breaks ("=\\r\\n"),
which decode to nothing, so lines stay within 76 characters and the decoded part is
exactly the filled text.
"""

from __future__ import annotations

import binascii
import html as html_lib
import re
import secrets
from collections.abc import Callable, Mapping
from email.header import Header
from email.utils import formatdate

from mailer.delivery.headers import check_header
from mailer.delivery.message import SmtpData, dot_stuff

CRLF = b"\r\n"
SOFT_BREAK = b"=\r\n"


def _qp(data: bytes) -> bytes:
    """Quoted-printable with CRLF line ends, lines at most 76 characters."""
    return binascii.b2a_qp(data).replace(b"\n", CRLF)


def _header_value(value: str) -> str:
    """An RFC 2047 encoded-word when the value is not plain ASCII (subjects in any language)."""
    try:
        value.encode("ascii")
    except UnicodeEncodeError:
        return Header(value, "utf-8").encode(linesep="\r\n")
    return value


class _Part:
    """One text part: static segments pre-encoded, slots between them."""

    def __init__(self, content: str, marker: re.Pattern[str], escape: Callable[[str], str]) -> None:
        pieces = marker.split(content.replace("\r\n", "\n"))
        # split() with one group alternates: static, slot name, static, slot name, ..., static
        self.static = [_qp(p.encode()) for p in pieces[0::2]]
        # Every segment starts a line (after the part's head or a soft break), so each can be
        # dot-stuffed on its own, and the static ones once.
        self.stuffed = [dot_stuff(p) for p in self.static]
        self.slots = pieces[1::2]
        self.escape = escape

    def render(self, values: Mapping[str, str], stuffed: bool = False) -> bytes:
        statics = self.stuffed if stuffed else self.static
        out = [statics[0]]
        for slot, static in zip(self.slots, statics[1:], strict=True):
            value = _qp(self.escape(values[slot]).encode())
            out += [SOFT_BREAK, dot_stuff(value) if stuffed else value, SOFT_BREAK, static]
        return b"".join(out)


class MessageTemplate:
    """multipart/alternative (text + HTML) with fixed headers, filled per recipient."""

    def __init__(
        self,
        *,
        subject: str,
        sender: str,
        text: str,
        html: str,
        headers: Mapping[str, str],
        marker: re.Pattern[str],
    ) -> None:
        self.boundary = "=_mailer_" + secrets.token_hex(12)
        # Checked raw, before encoding: RFC 2047 folding adds line breaks of its own.
        for name, value in {"From": sender, "Subject": subject, **headers}.items():
            check_header(name, value)
        fixed = {
            "From": sender,
            "Subject": _header_value(subject),
            "MIME-Version": "1.0",
            **headers,
        }
        self._fixed_headers = "".join(f"{k}: {v}\r\n" for k, v in fixed.items()).encode()
        self._content_type = (
            f'Content-Type: multipart/alternative; boundary="{self.boundary}"\r\n\r\n'.encode()
        )
        part_head = "--{b}\r\nContent-Type: text/{t}; charset=utf-8\r\n"
        part_head += "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        self._text_head = part_head.format(b=self.boundary, t="plain").encode()
        self._html_head = ("\r\n" + part_head.format(b=self.boundary, t="html")).encode()
        self._end = f"\r\n--{self.boundary}--\r\n".encode()
        self._text = _Part(text, marker, lambda v: v)
        self._html = _Part(html, marker, lambda v: html_lib.escape(v, quote=True))

    def render(
        self,
        to: str,
        message_id: str,
        values: Mapping[str, str],
        headers: Mapping[str, str] | None = None,
    ) -> bytes:
        """The whole message for one recipient, CRLF line ends (to sign, or to send)."""
        return self._render(to, message_id, values, headers, stuffed=False)

    def render_data(
        self,
        to: str,
        message_id: str,
        values: Mapping[str, str],
        headers: Mapping[str, str] | None = None,
    ) -> SmtpData:
        """`render`, dot-stuffed already: what SMTP DATA carries, with no pass over it to make."""
        return SmtpData(self._render(to, message_id, values, headers, stuffed=True))

    def _render(
        self,
        to: str,
        message_id: str,
        values: Mapping[str, str],
        headers: Mapping[str, str] | None,
        stuffed: bool,
    ) -> bytes:
        # Header lines start with a name, boundary lines with "--": only the parts can hold a
        # line that starts with ".".
        variable = {"To": to, "Message-ID": message_id, **(headers or {})}
        if any("\r" in v or "\n" in v for v in variable.values()):
            raise ValueError("a header value contains a line break")
        variable["Date"] = formatdate(usegmt=True)
        head = "".join(f"{k}: {v}\r\n" for k, v in variable.items())
        return b"".join(
            (
                head.encode(),
                self._fixed_headers,
                self._content_type,
                self._text_head,
                self._text.render(values, stuffed),
                self._html_head,
                self._html.render(values, stuffed),
                self._end,
            )
        )
