"""The Email value and its conversion to a standards-conforming EmailMessage."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, getaddresses, make_msgid

# Lines up to RFC 5322's 998: folding at 78 would turn a long unbreakable header, such as the
# one-click List-Unsubscribe URL, into an RFC 2047 encoded word that no client can follow.
SMTP_POLICY = SMTP.clone(max_line_length=998)
# For a recipient whose address is not ASCII (sent with SMTPUTF8): headers in UTF-8 (RFC 6532),
# since an RFC 2047 encoded word is not allowed inside an address.
SMTPUTF8_POLICY = SMTP_POLICY.clone(utf8=True)


class SmtpData(bytes):
    """A message already in the form SMTP DATA carries: CRLF line ends only, every line that
    starts with "." dot-stuffed (RFC 5321 4.5.2), ending in CRLF; the final "." not included.

    `MessageTemplate.render_data` makes it from parts stuffed once per digest, so the
    transport neither scans nor copies 40 KB per message to check and stuff it.
    """

    def unstuffed(self) -> bytes:
        """The message itself, for a path that stuffs on its own (smtplib's sendmail)."""
        data = bytes(self).replace(b"\r\n..", b"\r\n.")
        return data[1:] if data.startswith(b"..") else data


def dot_stuff(segment: bytes) -> bytes:
    """Dot-stuffing of a CRLF segment that starts at the start of a line."""
    segment = segment.replace(b"\r\n.", b"\r\n..")
    return b"." + segment if segment.startswith(b".") else segment


@dataclass(frozen=True)
class Email:
    """One message to one recipient: text always, HTML optionally, extra headers."""

    to: str
    subject: str
    text: str
    sender: str
    html: str | None = None
    envelope_from: str | None = None  # MAIL FROM / Return-Path; defaults to the sender address
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def envelope_sender(self) -> str:
        return self.envelope_from or sender_address(self.sender)

    def as_bytes(self) -> bytes:
        """The message as SMTP wants it: CRLF line endings (smtplib does not fix bytes)."""
        policy = SMTP_POLICY if self.to.isascii() else SMTPUTF8_POLICY
        return self.to_message().as_bytes(policy=policy)

    def to_message(self) -> EmailMessage:
        """Build the MIME message: multipart/alternative when there is HTML."""
        msg = EmailMessage()
        msg["Subject"] = self.subject
        msg["From"] = self.sender
        msg["To"] = self.to
        msg["Date"] = format_datetime(datetime.now(UTC))
        msg["Message-ID"] = make_msgid(domain=sender_domain(self.sender))
        for name, value in self.headers.items():
            msg[name] = value
        msg.set_content(self.text, cte="quoted-printable")
        if self.html is not None:
            msg.add_alternative(self.html, subtype="html", cte="quoted-printable")
        return msg


def sender_address(sender: str) -> str:
    """The bare address of a From value like 'Name <a@b>'."""
    pairs = getaddresses([sender])
    return pairs[0][1] if pairs and pairs[0][1] else sender


def sender_domain(sender: str) -> str:
    address = sender_address(sender)
    try:
        return Address(addr_spec=address).domain or "localhost"
    except (ValueError, IndexError):
        return "localhost"
