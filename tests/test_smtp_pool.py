"""SmtpPool against real aiosmtpd servers on loopback: weights, failover, cool-down, replies."""

from __future__ import annotations

import smtplib
import time
from collections import Counter
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from aiosmtpd.controller import Controller

from mailer.delivery import smtp_pool
from mailer.delivery.smtp import SmtpServer, SmtpTransport, SmtpUrlError, close_all
from mailer.delivery.smtp_pool import SmtpPool, SmtpUnavailable, get_smtp_transport
from tests.conftest import RecordingHandler, _free_port

MESSAGE = b"From: news@example.org\r\nTo: r@example.org\r\nSubject: Hi\r\n\r\nBody\r\n"


class Sink:
    """An aiosmtpd server on loopback that records what it accepts."""

    def __init__(self, port: int | None = None) -> None:
        self.handler = RecordingHandler()
        self.port = port or _free_port()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self.controller.start()
        self.running = True

    def url(self, weight: int = 1) -> str:
        return f"smtp://127.0.0.1:{self.port}?starttls=off&weight={weight}"

    @property
    def key(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.running:
            self.running = False
            self.controller.stop()


@pytest.fixture
def sinks() -> Iterator[tuple[Sink, Sink]]:
    a, b = Sink(), Sink()
    yield a, b
    a.stop()
    b.stop()


def pool(*urls: str, cooldown: float = 30.0) -> SmtpPool:
    return SmtpPool([SmtpServer.from_url(u) for u in urls], timeout=5, cooldown=cooldown, seed=7)


def nothing_listening() -> str:
    return f"smtp://127.0.0.1:{_free_port()}?starttls=off"


def send(p: SmtpPool, n: int) -> Counter[str | None]:
    used: Counter[str | None] = Counter()
    for i in range(n):
        p.send_raw("bounce@example.org", f"r{i}@example.org", MESSAGE)
        used[p.last_server] += 1
    return used


def test_messages_are_spread_by_weight(sinks: tuple[Sink, Sink]) -> None:
    a, b = sinks
    p = pool(a.url(weight=3), b.url(weight=1))
    used = send(p, 200)
    p.close()
    assert used == {a.key: len(a.handler.received), b.key: len(b.handler.received)}
    assert 120 <= len(a.handler.received) <= 180  # 150 expected
    assert len(a.handler.received) + len(b.handler.received) == 200


def test_a_server_that_is_down_is_skipped_until_its_cool_down_ends(
    sinks: tuple[Sink, Sink], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, _b = sinks
    down_port = _free_port()
    p = pool(f"smtp://127.0.0.1:{down_port}?weight=50", a.url(), cooldown=30)
    assert send(p, 20) == {a.key: 20}
    assert p.down() == [f"127.0.0.1:{down_port}"]
    back = Sink(down_port)  # the server comes back up
    try:
        # The cool-down ends: the pool's clock moves on 31 s (a slow machine cannot lapse
        # a 30 s hold during the 20 sends above, as it could a short real one).
        later = time.monotonic() + 31
        monkeypatch.setattr(smtp_pool, "time", SimpleNamespace(monotonic=lambda: later))
        assert p.down() == []
        used = send(p, 20)
        assert used[back.key] > 10 and used[back.key] == len(back.handler.received)
    finally:
        p.close()
        back.stop()


def test_a_server_that_stops_while_connected_fails_over(sinks: tuple[Sink, Sink]) -> None:
    a, b = sinks
    p = pool(a.url(weight=100), b.url())
    while p.last_server != a.key:  # a kept connection to a is open
        send(p, 1)
    a.stop()
    used = send(p, 5)
    p.close()
    assert used == {b.key: 5} and p.down() == [a.key]


def test_all_down_raises_the_connection_error() -> None:
    p = pool(nothing_listening(), nothing_listening())
    with pytest.raises(ConnectionRefusedError):
        p.send_raw("bounce@example.org", "r@example.org", MESSAGE)
    assert len(p.down()) == 2
    with pytest.raises(SmtpUnavailable, match="every SMTP server is down") as exc:
        p.send_raw("bounce@example.org", "r@example.org", MESSAGE)  # no new connection attempts
    assert isinstance(exc.value, OSError)  # the engine's transient-error path


@pytest.mark.parametrize("reply", ["550 5.1.1 no such user", "451 4.3.0 try again later"])
def test_a_reply_to_the_message_is_raised_not_failed_over(
    sinks: tuple[Sink, Sink], reply: str
) -> None:
    a, b = sinks
    answered: list[int] = []
    for sink in sinks:
        sink.handler.reply = lambda envelope, port=sink.port: answered.append(port) or reply
    p = pool(a.url(), b.url())
    with pytest.raises(smtplib.SMTPDataError) as exc:
        p.send_raw("bounce@example.org", "r@example.org", MESSAGE)
    p.close()
    assert exc.value.smtp_code == int(reply[:3])
    assert len(answered) == 1 and p.down() == []


def test_get_smtp_transport_keeps_one_url_a_plain_transport(sinks: tuple[Sink, Sink]) -> None:
    a, b = sinks
    try:
        single = get_smtp_transport(a.url(), 5)
        assert isinstance(single, SmtpTransport) and single.server_key == a.key
        several = get_smtp_transport(f"{a.url(weight=3)}, {b.url()}\n", 5)
        assert isinstance(several, SmtpPool)
        assert [(s.key, s.weight) for s in several.servers] == [(a.key, 3), (b.key, 1)]
        assert get_smtp_transport(f"{a.url(weight=3)}, {b.url()}\n", 5) is several
        several.send_raw("bounce@example.org", "r@example.org", MESSAGE)
    finally:
        close_all()
    assert len(a.handler.received) + len(b.handler.received) == 1


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "SMTP_URL is empty"),
        (" , ", "SMTP_URL is empty"),
        ("smtp://a:25, http://b:25", "entry 2 of 2: SMTP_URL must look like smtp://"),
        ("smtp://a:25?weight=0 smtp://b", "entry 1 of 2: weight must be a whole number"),
        ("smtp://a:25?weight=x,smtp://b", "entry 1 of 2: weight must be a whole number"),
        ("smtp://a:25, smtp://b:25, smtp://a", "entry 3 of 3: a:25 is listed twice"),
        ("smtp://u:hunter,2@a:25", "entry 1 of 2: the port of SMTP_URL must be a number"),
        ("smtp://a:port", "the port of SMTP_URL must be a number"),
    ],
)
def test_bad_lists_are_refused_clearly(url: str, message: str) -> None:
    with pytest.raises(SmtpUrlError, match=message) as exc:
        get_smtp_transport(url)
    assert "hunter" not in str(exc.value)  # never echo a password


def test_server_key_and_no_password_in_repr() -> None:
    server = SmtpServer.from_url("smtps://user:s3cret@[::1]:2465?weight=2")
    assert server.key == "[::1]:2465" and server.weight == 2
    assert "s3cret" not in repr(server)
