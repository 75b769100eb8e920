"""SMTP PIPELINING (RFC 2920): MAIL, RCPT and DATA in one write, replies read in order."""

from __future__ import annotations

import smtplib
import socket
from collections.abc import Iterator
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from mailer.delivery.message import SmtpData, dot_stuff
from mailer.delivery.smtp import SmtpServer, SmtpTransport
from tests.conftest import RecordingHandler


class PipeliningHandler(RecordingHandler):
    """aiosmtpd reads commands line by line, so it serves pipelined clients; say so in EHLO."""

    refuse: set[str] = set()

    async def handle_EHLO(  # noqa: N802 (aiosmtpd's hook name)
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        session.host_name = hostname
        return [*responses[:-1], "250-PIPELINING", responses[-1]]

    async def handle_RCPT(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 No such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"


@pytest.fixture
def server() -> Iterator[tuple[PipeliningHandler, int]]:
    handler = PipeliningHandler()
    handler.refuse = set()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield handler, port
    controller.stop()


def message(n: int) -> bytes:
    return (
        f"From: a@example.org\r\nTo: r{n}@example.org\r\nSubject: {n}\r\n\r\n"
        ".a line that starts with a dot\r\n..two dots\r\nend\r\n"
    ).encode()


def test_pipelined_messages_arrive_intact_and_a_refusal_leaves_the_session_usable(
    server: tuple[PipeliningHandler, int],
) -> None:
    handler, port = server
    handler.refuse = {"gone@example.org"}
    transport = SmtpTransport(SmtpServer.from_url(f"smtp://127.0.0.1:{port}?starttls=off"), 5)
    conn = transport._connection()
    assert conn.has_extn("pipelining")
    transport.send_raw("b@example.org", "r1@example.org", message(1))
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        transport.send_raw("b@example.org", "gone@example.org", message(2))
    assert refused.value.recipients["gone@example.org"][0] == 550
    transport.send_raw("b@example.org", "r3@example.org", message(3))
    assert transport._conn is conn  # the same session throughout
    transport.close()
    assert [r.rcpt_tos for r in handler.received] == [["r1@example.org"], ["r3@example.org"]]
    raw = handler.received[0].raw.replace(b"\r\n", b"\n")
    body = message_from_bytes(raw, policy=policy.default).get_content()
    assert body == ".a line that starts with a dot\n..two dots\nend\n"


def test_a_refusal_at_the_end_of_data_raises_with_its_code(
    server: tuple[PipeliningHandler, int],
) -> None:
    handler, port = server
    handler.reply = lambda envelope: "451 4.3.0 Try later"
    transport = SmtpTransport(SmtpServer.from_url(f"smtp://127.0.0.1:{port}?starttls=off"), 5)
    with pytest.raises(smtplib.SMTPDataError) as error:
        transport.send_raw("b@example.org", "r1@example.org", message(1))
    assert error.value.smtp_code == 451
    transport.close()


@pytest.mark.parametrize("pipelining", [True, False])
def test_data_stuffed_already_arrives_as_the_message_itself(
    server: tuple[PipeliningHandler, int], monkeypatch: pytest.MonkeyPatch, pipelining: bool
) -> None:
    handler, port = server
    if not pipelining:  # the sendmail path stuffs on its own: it must get the message unstuffed
        monkeypatch.delattr(PipeliningHandler, "handle_EHLO")
    transport = SmtpTransport(SmtpServer.from_url(f"smtp://127.0.0.1:{port}?starttls=off"), 5)
    assert transport._connection().has_extn("pipelining") is pipelining
    transport.send_raw("b@example.org", "r1@example.org", SmtpData(dot_stuff(message(1))))
    transport.close()
    assert handler.received[0].raw.replace(b"\r\n", b"\n") == message(1).replace(b"\r\n", b"\n")
