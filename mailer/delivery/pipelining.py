"""One message over an open SMTP session, pipelined (RFC 2920).

MAIL, RCPT and DATA go in one write, and the next message's MAIL, RCPT and DATA may follow
this message's content in the same write (RFC 2920 3.1: content may start a group, DATA
ends one). A sender of many messages then waits for one reply round trip per message
instead of two. Nothing of the next message is delivered before its content is sent, and
that happens only when the caller sends it, after it has recorded this one: a crash in
between repeats nothing, and a session whose announced message is not sent is closed,
which abandons it (there is no RSET inside DATA).
"""

from __future__ import annotations

import re
import smtplib
from typing import NamedTuple

from mailer.delivery.message import SmtpData, dot_stuff

_BARE_LF = re.compile(rb"(?<!\r)\n")
Envelope = tuple[str, str]  # (MAIL FROM, RCPT TO) of one message to one recipient


class ContentReply(NamedTuple):
    """The server's reply to a message's content, and whether the next envelope followed it."""

    code: int
    message: bytes
    announced: bool


def _ascii(*values: str) -> bool:
    return all(v.isascii() for v in values)


def _commands(envelope_from: str, to: str) -> bytes:
    return f"MAIL FROM:<{envelope_from}>\r\nRCPT TO:<{to}>\r\nDATA\r\n".encode()


def can_pipeline(conn: smtplib.SMTP, envelope_from: str, to: str) -> bool:
    return conn.does_esmtp and conn.has_extn("pipelining") and _ascii(envelope_from, to)


def transact(
    conn: smtplib.SMTP,
    envelope_from: str,
    to: str,
    data: bytes,
    *,
    announced: bool = False,
    then: Envelope | None = None,
) -> ContentReply:
    """Send one message; `announced`: its envelope went out after the previous content.

    `then` is the envelope of the message the caller will send next on this session; it is
    written right after this content when the server pipelines. Refusals before the content
    raise as smtplib's sendmail would (the session reset); the reply to the content is
    returned, for the caller to raise. The message, CRLF line ends already, is dot-stuffed
    with one bytes.replace instead of smtplib's two regex passes, or not at all when it
    comes as SmtpData. Falls back to smtplib's sendmail for servers without PIPELINING,
    international addresses, or (when not announced) data with bare line feeds.
    """
    ready = isinstance(data, SmtpData)
    bare_lf = not ready and data.count(b"\n") != data.count(b"\r\n")
    if not announced and (bare_lf or not can_pipeline(conn, envelope_from, to)):
        # An internationalised address (RFC 6531) needs SMTPUTF8; smtplib raises
        # SMTPNotSupportedError when the server lacks it, rather than an encoding error.
        options = () if _ascii(envelope_from, to) else ("SMTPUTF8",)
        raw = data.unstuffed() if isinstance(data, SmtpData) else data
        conn.sendmail(envelope_from, [to], raw, mail_options=options)
        return ContentReply(250, b"", False)
    if bare_lf:  # announced already, so not for sendmail: end every line in CRLF here
        data = _BARE_LF.sub(b"\r\n", data)
    if not announced:
        conn.send(_commands(envelope_from, to))
    mail, rcpt, go = conn.getreply(), conn.getreply(), conn.getreply()
    if go[0] == 354 and (mail[0] != 250 or rcpt[0] not in (250, 251)):
        conn.send(b".\r\n")  # a server that accepted DATA anyway gets an empty message back
        conn.getreply()
    if mail[0] != 250:
        conn.rset()
        raise smtplib.SMTPSenderRefused(mail[0], mail[1], envelope_from)
    if rcpt[0] not in (250, 251):
        conn.rset()
        raise smtplib.SMTPRecipientsRefused({to: rcpt})
    if go[0] != 354:
        conn.rset()
        raise smtplib.SMTPDataError(*go)
    body = data if ready else dot_stuff(data)
    end = b".\r\n" if body.endswith(b"\r\n") else b"\r\n.\r\n"
    follow = then is not None and can_pipeline(conn, *then)
    conn.send(body + end + _commands(*then) if then is not None and follow else body + end)
    code, message = conn.getreply()
    return ContentReply(code, message, follow)
