"""SMTP PIPELINING (RFC 2920): MAIL, RCPT and DATA in one write, replies read in order."""

from __future__ import annotations

import smtplib
import socket
import time
from collections.abc import Iterator
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from mailer.delivery.message import SmtpData, dot_stuff
from mailer.delivery.smtp import SmtpServer, SmtpTransport
from mailer.delivery.smtp_pool import SmtpPool
from tests.conftest import RecordingHandler


class PipeliningHandler(RecordingHandler):
    """aiosmtpd reads commands line by line, so it serves pipelined clients; say so in EHLO."""

    refuse: set[str] = set()
    sessions = 0

    async def handle_EHLO(  # noqa: N802 (aiosmtpd's hook name)
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        session.host_name = hostname
        self.sessions += 1
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
    handler.sessions = 0
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


def rcpt(n: int | str) -> str:
    return f"r{n}@example.org" if isinstance(n, int) else n


def chain(
    transport: SmtpTransport | SmtpPool, names: list[int | str]
) -> list[BaseException | None]:
    """Send one message per name, each announcing the next as the engine does."""
    outcomes: list[BaseException | None] = []
    for i, name in enumerate(names):
        then = ("b@example.org", rcpt(names[i + 1])) if i + 1 < len(names) else None
        try:
            transport.send_raw("b@example.org", rcpt(name), message(i), then=then)
            outcomes.append(None)
        except smtplib.SMTPException as exc:
            outcomes.append(exc)
    return outcomes


def test_the_next_envelope_rides_with_the_content_and_each_message_arrives_whole(
    server: tuple[PipeliningHandler, int],
) -> None:
    handler, port = server
    transport = SmtpTransport(SmtpServer.from_url(f"smtp://127.0.0.1:{port}?starttls=off"), 5)
    assert chain(transport, [1, 2, 3, 4]) == [None] * 4
    assert transport._announced is None  # the last one announced nothing
    transport.close()
    assert [r.rcpt_tos for r in handler.received] == [[rcpt(n)] for n in (1, 2, 3, 4)]
    assert handler.sessions == 1
    for n, received in enumerate(handler.received):
        assert received.raw.replace(b"\r\n", b"\n") == message(n).replace(b"\r\n", b"\n")


def test_refusals_of_an_announced_or_a_pipelining_message_keep_the_session(
    server: tuple[PipeliningHandler, int],
) -> None:
    handler, port = server
    handler.refuse = {"gone@example.org"}
    # The content of the third message is refused at the end of DATA, after it announced
    # the fourth.
    handler.reply = lambda envelope: "451 4.3.0 Later" if "r3@" in envelope.rcpt_tos[0] else None
    transport = SmtpTransport(SmtpServer.from_url(f"smtp://127.0.0.1:{port}?starttls=off"), 5)
    outcomes = chain(transport, [1, "gone@example.org", 3, 4])
    transport.close()
    assert outcomes[0] is None and outcomes[3] is None
    assert isinstance(outcomes[1], smtplib.SMTPRecipientsRefused)
    assert isinstance(outcomes[2], smtplib.SMTPDataError) and outcomes[2].smtp_code == 451
    assert [r.rcpt_tos for r in handler.received] == [[rcpt(1)], [rcpt(4)]]
    assert handler.sessions == 1


def test_an_announced_message_that_is_not_sent_is_abandoned_with_its_session(
    server: tuple[PipeliningHandler, int],
) -> None:
    handler, port = server
    transport = SmtpTransport(SmtpServer.from_url(f"smtp://127.0.0.1:{port}?starttls=off"), 5)
    transport.send_raw("b@example.org", rcpt(1), message(1), then=("b@example.org", rcpt(2)))
    # The caller stopped (paused, say) and sends something else: the server is waiting for
    # the announced message's content, and only a new session gets out of that.
    transport.send_raw("b@example.org", rcpt(9), message(9), then=("b@example.org", rcpt(3)))
    started = time.monotonic()
    transport.close()  # inside DATA: no QUIT, whose reply would never come
    assert time.monotonic() - started < 3  # a QUIT would wait out the 5 s timeout
    time.sleep(0.2)
    assert [r.rcpt_tos for r in handler.received] == [[rcpt(1)], [rcpt(9)]]
    assert handler.sessions == 2


def test_a_pool_draws_the_next_server_ahead_and_keeps_weights_and_sessions() -> None:
    handlers = [PipeliningHandler(), PipeliningHandler()]
    controllers = []
    for handler in handlers:
        handler.refuse, handler.sessions = set(), 0
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        controllers.append(Controller(handler, hostname="127.0.0.1", port=port))
        controllers[-1].start()
    try:
        urls = [
            f"smtp://127.0.0.1:{c.port}?starttls=off&weight={w}"
            for c, w in zip(controllers, (3, 1), strict=True)
        ]
        pool = SmtpPool([SmtpServer.from_url(u) for u in urls], timeout=5, seed=3)
        names: list[int | str] = list(range(200))
        assert chain(pool, names) == [None] * 200
        pool.close()
    finally:
        for controller in controllers:
            controller.stop()
    got = [r.rcpt_tos[0] for h in handlers for r in h.received]
    assert sorted(got) == sorted(rcpt(n) for n in range(200))  # each exactly once
    assert 120 <= len(handlers[0].received) <= 180  # 150 expected
    # Announcements went only to the server that then got the message: no abandoned session.
    assert [h.sessions for h in handlers] == [1, 1]
