"""Feed import: RSS and Atom, files and URLs (served on loopback), limits, all-or-nothing, CLI."""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from mailer.articles.feeds import FeedError, import_feed
from mailer.extensions import db
from mailer.models import Article
from mailer.tasks import poll_feeds

FEEDS = Path(__file__).parent / "fixtures" / "feeds"
BIG = 11 * 1024 * 1024
SLOW = 6.0  # the slow route answers after this; the 0.3 s timeout must give up long before


class FeedHandler(BaseHTTPRequestHandler):
    """Serves tests/fixtures/feeds/ under /feeds/, and a few misbehaving routes."""

    def do_GET(self) -> None:  # noqa: N802
        try:
            self._route()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client stopped reading, as it should past a limit

    def _route(self) -> None:
        path = self.path.split("?")[0]
        if path.startswith("/feeds/") and (FEEDS / path.removeprefix("/feeds/")).is_file():
            self._send(200, (FEEDS / path.removeprefix("/feeds/")).read_bytes())
        elif path == "/slow":
            time.sleep(SLOW)
            self._send(200, (FEEDS / "rss.xml").read_bytes())
        elif path in ("/big", "/big-declared"):
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml")
            if path == "/big-declared":
                self.send_header("Content-Length", str(BIG))
            self.end_headers()
            self.wfile.write(b'<?xml version="1.0"?><rss version="2.0"><channel><title>')
            for _ in range(BIG // 65536):
                self.wfile.write(b"x" * 65536)
        elif path == "/redirect-file":
            self.send_response(302)
            self.send_header("Location", "file:///etc/passwd")
            self.end_headers()
        else:
            self._send(404, b"not found")

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/rss+xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class FeedServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False


# The test feed server is on loopback, which the importer refuses by default (see
# test_a_feed_on_a_private_address_is_refused_by_default).
LOOPBACK_ALLOWED = {"FEED_PRIVATE_ADDRESSES": True}


@pytest.fixture
def config_overrides() -> dict[str, Any]:
    return LOOPBACK_ALLOWED


@pytest.fixture(scope="module")
def feed_server() -> Iterator[str]:
    """A real HTTP server on loopback; yields its base URL."""
    server = FeedServer(("127.0.0.1", 0), FeedHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def articles() -> list[Article]:
    return list(db.session.scalars(select(Article).order_by(Article.published_at)))


def count() -> int:
    return db.session.scalar(select(func.count()).select_from(Article)) or 0


def by_guid(guid: str) -> Article:
    article = db.session.scalar(select(Article).where(Article.guid == guid))
    assert article is not None, guid
    return article


def write_rss(path: Path, items: str) -> str:
    path.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"><channel>'
        f"<title>Test</title><link>https://e.org/</link><description>d</description>{items}"
        "</channel></rss>",
        encoding="utf-8",
    )
    return str(path)


def item(guid: str, link: str, title: str = "Title") -> str:
    return (
        f'<item><title>{title}</title><link>{link}</link><guid isPermaLink="false">{guid}</guid>'
        "<pubDate>Mon, 02 Mar 2026 09:30:00 GMT</pubDate></item>"
    )


# --- formats and fields -----------------------------------------------------------------------


def test_rss_import_parses_fields_images_tags_and_utc_times(app: Flask) -> None:
    with app.app_context():
        report = import_feed(str(FEEDS / "rss.xml"))
        db.session.commit()
        assert (report.added, report.updated, report.unchanged) == (2, 0, 0)
        assert report.skipped == [
            ("urn:fen:article:103", "no link"),
            ("https://news.example.org/untitled", "no title"),
        ]
        poet = by_guid("urn:fen:article:101")
        assert poet.title == "Poet freed after two years"
        assert poet.link == "https://news.example.org/poet-freed"
        assert poet.summary == (
            "The poet was released on Monday. Her lawyers welcomed the decision & called for more."
        )
        assert poet.body_html == (
            '<p>The poet was released on Monday.</p><p><a href="https://news.example.org/campaign"'
            ' rel="noopener noreferrer">Read the campaign</a></p>'
        )
        assert poet.image_url == "https://news.example.org/img/poet.jpg"
        assert poet.image_alt == "The poet outside the court"
        assert poet.image_credit == "Photo: J. Doe"
        assert poet.author == "Amina Writer"
        assert poet.tag_list == ["Prison", "Poetry"]
        assert poet.language == "fr"  # from the channel's fr-FR
        assert poet.published_at == datetime(2026, 3, 2, 8, 30, tzinfo=UTC)  # was +01:00
        assert poet.published_at.utcoffset() is not None

        appeal = by_guid("urn:fen:article:102")
        assert appeal.image_url == "https://news.example.org/img/court.png"  # enclosure
        assert appeal.image_alt is None
        assert appeal.tags == "Courts"
        assert appeal.published_at == datetime(2026, 3, 3, 12, 0, tzinfo=UTC)


def test_atom_import(app: Flask) -> None:
    with app.app_context():
        report = import_feed(str(FEEDS / "atom.xml"))
        db.session.commit()
        assert (report.added, report.skipped) == (2, [])
        net = by_guid("tag:news.example.org,2026:es-201")
        assert net.title == "Traductores en red"  # type="html" title, as text
        assert net.link == "https://news.example.org/es/traductores"
        assert net.summary == "Una red de traductores apoya a escritores exiliados."
        assert net.body_html == (
            '<h2>Una red</h2><p>Los traductores <a href="https://news.example.org/es/red" '
            'rel="noopener noreferrer">trabajan juntos</a>.</p>'
        )
        assert net.image_url == "https://news.example.org/img/translators.jpg"
        assert net.author == "Luis Autor"
        assert net.tag_list == ["Traducción", "Redes"]
        assert net.language == "es"
        assert net.published_at == datetime(2026, 3, 5, 13, 15, tzinfo=UTC)
        # No <published>: the <updated> time.
        report_article = by_guid("tag:news.example.org,2026:es-202")
        assert report_article.published_at == datetime(2026, 3, 4, 18, 0, tzinfo=UTC)


def test_media_description_is_the_alt_not_the_body(app: Flask, tmp_path: Path) -> None:
    """feedparser alone would make the caption the entry's content (kurtmckee/feedparser#53)."""
    path = write_rss(
        tmp_path / "nyt.xml",
        "<item><title>T</title><link>https://e.org/1</link>"
        "<description>The real summary.</description>"
        '<media:content url="https://e.org/i.jpg" medium="image" width="1024">'
        "<media:title>Media title</media:title>"
        "<media:description>The caption</media:description></media:content></item>",
    )
    with app.app_context():
        import_feed(path)
        (article,) = articles()
        assert (article.title, article.summary, article.body_html) == ("T", "The real summary.", "")
        assert (article.image_url, article.image_alt) == ("https://e.org/i.jpg", "The caption")


def test_rss_author_email_is_not_stored(app: Flask, tmp_path: Path) -> None:
    path = write_rss(
        tmp_path / "a.xml",
        "<item><title>T</title><link>https://e.org/1</link>"
        "<author>desk@example.org</author></item>",
    )
    with app.app_context():
        import_feed(path)
        assert articles()[0].author is None


def test_sanitizing_hostile_content(app: Flask) -> None:
    with app.app_context():
        report = import_feed(str(FEEDS / "hostile.xml"))
        db.session.commit()
        assert report.added == 1
        (article,) = articles()
        body = article.body_html.lower()
        for needle in ("<script", "onerror", "onmouseover", "onclick", "javascript:", "style",
                       "<iframe", "<svg", "alert(", "document.cookie", "target="):  # fmt: skip
            assert needle not in body, needle
        assert '<a href="https://hostile.example.net/ok" rel="noopener noreferrer">' in body
        assert article.summary == "Summary text"
        # Titles are plain text; templates escape them.
        assert article.title == "Hostile <script>alert(1)</script> article"


# --- deduplication ----------------------------------------------------------------------------


def test_reimport_is_unchanged_then_updated(app: Flask, tmp_path: Path) -> None:
    with app.app_context():
        import_feed(str(FEEDS / "rss.xml"))
        db.session.commit()
        again = import_feed(str(FEEDS / "rss.xml"))
        assert (again.added, again.updated, again.unchanged) == (0, 0, 2)
        edited = tmp_path / "rss.xml"
        edited.write_text(
            (FEEDS / "rss.xml").read_text().replace("Blogger's appeal heard", "Appeal won")
        )
        report = import_feed(str(edited))
        db.session.commit()
        assert (report.added, report.updated, report.unchanged) == (0, 1, 1)
        assert by_guid("urn:fen:article:102").title == "Appeal won"
        assert count() == 2


def test_dedupe_by_guid_then_link(app: Flask, tmp_path: Path) -> None:
    with app.app_context():
        import_feed(write_rss(tmp_path / "1.xml", item("g1", "https://e.org/1")))
        # Same guid, new link: the article moved.
        report = import_feed(write_rss(tmp_path / "2.xml", item("g1", "https://e.org/moved")))
        assert (report.added, report.updated) == (0, 1)
        # New guid, known link: still the same article.
        report = import_feed(write_rss(tmp_path / "3.xml", item("g2", "https://e.org/moved")))
        assert (report.added, report.updated) == (0, 1)
        db.session.commit()
        assert [(a.guid, a.link) for a in articles()] == [("g2", "https://e.org/moved")]


def test_entry_taking_another_articles_link_is_skipped(app: Flask, tmp_path: Path) -> None:
    with app.app_context():
        import_feed(
            write_rss(
                tmp_path / "1.xml", item("a", "https://e.org/a") + item("b", "https://e.org/b")
            )
        )
        report = import_feed(
            write_rss(
                tmp_path / "2.xml", item("a", "https://e.org/b") + item("c", "https://e.org/c")
            )
        )
        assert report.added == 1
        assert report.skipped == [("https://e.org/b", "Another article has this link.")]
        db.session.commit()
        assert sorted(a.link for a in articles()) == [
            "https://e.org/a",
            "https://e.org/b",
            "https://e.org/c",
        ]


# --- bad input: nothing written ---------------------------------------------------------------


def test_not_xml_is_refused(app: Flask) -> None:
    with app.app_context():
        with pytest.raises(FeedError, match="^The file is not an RSS or Atom feed: .+"):
            import_feed(str(FEEDS / "not-xml.txt"))
        assert count() == 0


def test_xml_that_is_not_a_feed_is_refused(app: Flask, tmp_path: Path) -> None:
    path = tmp_path / "page.xml"
    path.write_text('<?xml version="1.0"?><html><body><p>Hello</p></body></html>')
    with app.app_context():
        with pytest.raises(FeedError, match="is not an RSS or Atom feed: no feed elements"):
            import_feed(str(path))
        assert count() == 0


def test_missing_file_and_other_schemes_are_refused(app: Flask, tmp_path: Path) -> None:
    with app.app_context():
        with pytest.raises(FeedError, match="Cannot read .*No such file"):
            import_feed(str(tmp_path / "nope.xml"))
        for source in ("file:///etc/passwd", "ftp://127.0.0.1/feed.xml"):
            with pytest.raises(FeedError, match="http"):
                import_feed(source)


def test_100000_entries_are_refused_quickly(app: Flask, tmp_path: Path) -> None:
    path = write_rss(
        tmp_path / "huge.xml",
        "".join(
            f"<item><title>t{i}</title><link>https://e.org/{i}</link></item>"
            for i in range(100_000)
        ),
    )
    with app.app_context():
        started = time.monotonic()
        with pytest.raises(FeedError, match="The feed has more than 1000 entries"):
            import_feed(path)
        assert time.monotonic() - started < 5
        assert count() == 0


def test_oversize_file_is_refused(app: Flask, tmp_path: Path) -> None:
    path = write_rss(
        tmp_path / "big.xml", item("g", "https://e.org/1") + "<!--" + "x" * BIG + "-->"
    )
    with app.app_context():
        with pytest.raises(FeedError, match=r"^The feed is larger than 10 MB\.$"):
            import_feed(path)
        assert count() == 0


def test_an_error_midway_leaves_articles_as_they_were(app: Flask) -> None:
    class Stop(Exception):
        pass

    def progress(done: int, total: int) -> None:
        if done == 2:
            raise Stop

    with app.app_context():
        import_feed(str(FEEDS / "rss.xml"))
        db.session.commit()
        poet = by_guid("urn:fen:article:101")
        poet.title = "Edited by hand"
        db.session.delete(by_guid("urn:fen:article:102"))
        db.session.commit()
        with pytest.raises(Stop):
            import_feed(str(FEEDS / "rss.xml"), progress=progress)  # updates 101, adds 102
        db.session.commit()
        db.session.expire_all()
        assert [(a.guid, a.title) for a in articles()] == [
            ("urn:fen:article:101", "Edited by hand")
        ]


# --- URLs -------------------------------------------------------------------------------------


def test_url_import(app: Flask, feed_server: str) -> None:
    seen: list[tuple[int, int]] = []
    with app.app_context():
        report = import_feed(
            f"{feed_server}/feeds/atom.xml", progress=lambda d, t: seen.append((d, t))
        )
        db.session.commit()
        assert report.added == 2
        assert seen == [(0, 2), (1, 2), (2, 2)]
        assert by_guid("tag:news.example.org,2026:es-201").language == "es"


def test_url_not_a_feed(app: Flask, feed_server: str) -> None:
    with app.app_context():
        with pytest.raises(
            FeedError, match=r"The document at http://127.*/feeds/not-xml.txt is not"
        ):
            import_feed(f"{feed_server}/feeds/not-xml.txt")
        with pytest.raises(FeedError, match="HTTP 404"):
            import_feed(f"{feed_server}/feeds/missing.xml")
        with pytest.raises(FeedError, match="HTTP 302"):  # redirect to file: refused
            import_feed(f"{feed_server}/redirect-file")
        assert count() == 0


@pytest.mark.parametrize("route", ["/big", "/big-declared"])
def test_url_oversize_is_refused(app: Flask, feed_server: str, route: str) -> None:
    with app.app_context():
        with pytest.raises(FeedError, match=r"^The feed is larger than 10 MB\.$"):
            import_feed(feed_server + route)
        assert count() == 0


class TestPrivateAddresses:
    @pytest.fixture
    def config_overrides(self) -> dict[str, Any]:
        return {}  # the default: FEED_PRIVATE_ADDRESSES off

    @pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
    def test_a_feed_on_a_private_address_is_refused_by_default(
        self, app: Flask, feed_server: str, host: str
    ) -> None:
        url = feed_server.replace("127.0.0.1", host) + "/feeds/rss.xml"
        with app.app_context():
            with pytest.raises(FeedError, match="private or local network address"):
                import_feed(url)
            assert count() == 0

    def test_the_address_check_covers_the_private_ranges(self) -> None:
        from mailer.articles.fetch import _public

        for address in ("10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "::1"):
            assert not _public(address), address
        assert not _public("::ffff:127.0.0.1") and not _public("100.64.0.1")
        assert _public("93.184.216.34") and _public("2606:4700::1111")

    @pytest.mark.parametrize(
        "address",
        [
            "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254 (cloud metadata)
            "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
            "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
            "64:ff9b:1::5db8:d822",  # local-use NAT64 (RFC 8215)
            "2002:7f00:1::1",  # 6to4 of 127.0.0.1
            "2002:a9fe:a9fe::",  # 6to4 of 169.254.169.254
            "::127.0.0.1",  # IPv4-compatible
            "::a9fe:a9fe",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
            "not an address",
        ],
    )
    def test_embedded_ipv4_addresses_are_decoded(self, address: str) -> None:
        from mailer.articles.fetch import _public

        assert not _public(address)

    @pytest.mark.parametrize("address", ["64:ff9b::5db8:d822", "2002:5db8:d822::1"])
    def test_embedded_public_ipv4_addresses_stay_public(self, address: str) -> None:
        from mailer.articles.fetch import _public

        assert _public(address)

    @pytest.mark.parametrize(
        "url",
        [
            "http://127.0.0.1:{port}/feed.xml",
            "https://127.0.0.1:{port}/feed.xml",
            "http://localhost:{port}/feed.xml",
            "http://[::ffff:127.0.0.1]:{port}/feed.xml",
            "http://[::ffff:7f00:1]:{port}/feed.xml",
            "http://[::127.0.0.1]:{port}/feed.xml",
            "http://[64:ff9b::7f00:1]:{port}/feed.xml",
            "http://[2002:7f00:1::1]:{port}/feed.xml",
            "http://feeds.rebound.example:{port}/feed.xml",  # DNS answers 127.0.0.1
        ],
    )
    def test_a_refused_address_is_never_connected_to(
        self, app: Flask, monkeypatch: pytest.MonkeyPatch, url: str
    ) -> None:
        import socket

        real = socket.getaddrinfo

        def resolve(host: str, *args: Any, **kwargs: Any) -> Any:
            return real("127.0.0.1" if host.endswith(".example") else host, *args, **kwargs)

        monkeypatch.setattr(socket, "getaddrinfo", resolve)
        with socket.socket() as listener:
            listener.bind(("127.0.0.1", 0))
            listener.listen(8)
            listener.setblocking(False)
            with app.app_context(), pytest.raises(FeedError, match="private or local network"):
                import_feed(url.format(port=listener.getsockname()[1]))
            with pytest.raises(BlockingIOError):
                listener.accept()  # no connection reached the port, not even a handshake

    def test_open_and_closed_ports_are_refused_with_the_same_words(self, app: Flask) -> None:
        import socket

        with socket.socket() as closed:
            closed.bind(("127.0.0.1", 0))
            closed_port = closed.getsockname()[1]
        messages = []
        with socket.socket() as listener:
            listener.bind(("127.0.0.1", 0))
            listener.listen(8)
            for port in (listener.getsockname()[1], closed_port):
                with app.app_context(), pytest.raises(FeedError) as refused:
                    import_feed(f"http://127.0.0.1:{port}/feed.xml")
                messages.append(str(refused.value).replace(str(port), "PORT"))
        assert messages[0] == messages[1]


class TestTimeout:
    @pytest.fixture
    def config_overrides(self) -> dict[str, Any]:
        return {**LOOPBACK_ALLOWED, "FEED_TIMEOUT": 0.3}

    def test_slow_server_times_out(self, app: Flask, feed_server: str) -> None:
        with app.app_context():
            started = time.monotonic()
            with pytest.raises(FeedError, match="did not answer within 0.3 seconds"):
                import_feed(f"{feed_server}/slow")
            assert time.monotonic() - started < SLOW - 2
            assert count() == 0


# --- CLI and the periodic task ----------------------------------------------------------------


def test_cli_import_feed(app: Flask, runner: Any, tmp_path: Path) -> None:
    path = tmp_path / "rss.xml"
    shutil.copy(FEEDS / "rss.xml", path)
    result = runner.invoke(args=["import-feed", str(path)])
    assert result.exit_code == 0, result.output
    assert "added 2, updated 0, unchanged 0, skipped 2" in result.output
    assert "skipped urn:fen:article:103: no link" in result.output
    assert "skipped https://news.example.org/untitled: no title" in result.output
    with app.app_context():
        assert count() == 2  # committed


def test_cli_import_feed_refuses_a_bad_file(app: Flask, runner: Any) -> None:
    result = runner.invoke(args=["import-feed", str(FEEDS / "not-xml.txt")])
    assert result.exit_code == 1
    assert "Error: The file is not an RSS or Atom feed" in result.output
    assert "Traceback" not in result.output
    with app.app_context():
        assert count() == 0


class TestPollFeeds:
    @pytest.fixture
    def config_overrides(self, feed_server: str) -> dict[str, Any]:
        return {
            **LOOPBACK_ALLOWED,
            "FEEDS": [
                f"{feed_server}/feeds/rss.xml",
                f"{feed_server}/feeds/missing.xml",
                f"{feed_server}/feeds/atom.xml",
            ],
        }

    def test_polls_each_feed_and_goes_past_a_broken_one(
        self, app: Flask, caplog: pytest.LogCaptureFixture
    ) -> None:
        with caplog.at_level(logging.INFO, logger="mailer.tasks.imports"):
            poll_feeds()
        with app.app_context():
            assert count() == 4
        messages = [r.getMessage() for r in caplog.records if r.name == "mailer.tasks.imports"]
        assert "feed 1: 2 added, 0 updated, 0 unchanged, 2 skipped" in messages
        assert any(m.startswith("feed 2: nothing imported: ") for m in messages)
        assert "feed 3: 2 added, 0 updated, 0 unchanged, 0 skipped" in messages
