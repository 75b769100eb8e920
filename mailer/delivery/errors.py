"""What an SMTP failure may say where it is logged or kept: codes and ids, not its text.

smtplib's exceptions carry the recipient (SMTPRecipientsRefused is a dict keyed by address)
and the server's reply, which usually repeats it ("550 5.1.1 <journalist@...>: ..."), and
an AUTH failure may echo the user name. Log lines and task retries use `describe` or
`sanitized`; a stored, redacted reply text is built from `smtp_reply` (mailer.redaction).
"""

from __future__ import annotations

import re
import smtplib

_ENHANCED = re.compile(rb"\b[245]\.\d{1,3}\.\d{1,3}\b")


def smtp_reply(exc: BaseException) -> tuple[int | None, bytes]:
    """The reply code and text a failure carries (the worst of refused recipients)."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        replies = [(code, text) for code, text in exc.recipients.values()]
        if not replies:
            return None, b""
        code, text = max(replies, key=lambda reply: reply[0])
        return code, text if isinstance(text, bytes) else str(text).encode()
    if isinstance(exc, smtplib.SMTPResponseException):
        error: bytes | str = exc.smtp_error
        return exc.smtp_code, error if isinstance(error, bytes) else str(error).encode()
    return None, b""


def enhanced_status(text: bytes) -> str | None:
    """The RFC 3463 enhanced status code in a reply text, e.g. "5.1.1"."""
    match = _ENHANCED.search(text)
    return match.group(0).decode() if match else None


def describe(exc: BaseException) -> str:
    """Class, reply code and enhanced status, e.g. "SMTPRecipientsRefused 550 5.1.1"."""
    code, text = smtp_reply(exc)
    parts = [type(exc).__name__]
    if code is not None:
        parts.append(str(code))
    status = enhanced_status(text)
    if status:
        parts.append(status)
    errno = getattr(exc, "errno", None)
    if code is None and isinstance(errno, int):
        parts.append(f"errno {errno}")
    return " ".join(parts)


def sanitized(exc: BaseException) -> BaseException:
    """The same kind of failure with the same code, without addresses or the server's text.

    For a task retry: Celery logs the exception it is given ("Retry in 5s: ...").
    """
    code, text = smtp_reply(exc)
    status = (enhanced_status(text) or "").encode()
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return smtplib.SMTPRecipientsRefused({"[recipient]": (code or 0, status)})
    if isinstance(exc, smtplib.SMTPSenderRefused):
        return smtplib.SMTPSenderRefused(exc.smtp_code, status, "[sender]")
    if isinstance(exc, smtplib.SMTPResponseException):
        try:
            return type(exc)(exc.smtp_code, status)
        except TypeError:  # a subclass with another signature
            return smtplib.SMTPResponseException(exc.smtp_code, status)
    if isinstance(exc, smtplib.SMTPException | OSError):
        return exc  # connection trouble: no recipient in it
    return RuntimeError(describe(exc))
