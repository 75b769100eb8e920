"""What the site says about itself, checked at start: BASE_URL (every link in mail),
MAIL_FROM (every From header) and EMBED_FRAME_ANCESTORS (a Content-Security-Policy header).

Before, each was taken as written: `BASE_URL=http://news.example.org` in production put
plain-http links in every mail to readers, a MAIL_FROM with two addresses or a line break
failed only when the first mail was built, and `EMBED_FRAME_ANCESTORS="https://a.example;
script-src *"` rewrote the sign-up page's policy.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from mailer import create_app
from mailer.config_check import ConfigError
from tests.conftest import SmtpServer, base_config, dispose, redis_db


@pytest.fixture
def config(database_url: str, redis_base_url: str, smtp_server: SmtpServer) -> dict[str, Any]:
    return base_config(database_url, redis_db(redis_base_url, 1), smtp_server.url)


def refused(config: dict[str, Any], key: str, value: Any) -> str:
    with pytest.raises(ConfigError) as caught:
        create_app({**config, key: value})
    message = str(caught.value)
    assert message.startswith(key) and "\n" not in message and "\r" not in message
    return message


def started(config: dict[str, Any], **settings: Any) -> Flask:
    app = create_app({**config, **settings})
    dispose(app)
    return app


BAD_BASE_URLS = [
    "news.example.org",  # no scheme: urlsplit reads it all as a path
    "//news.example.org",
    "ftp://news.example.org",
    "https://",
    "https:///newsletter",
    "https://news.example.org/?utm_source=mail",  # every link would carry it, mangled
    "https://news.example.org/?",
    "https://news.example.org/#top",
    "https://news.example.org:99999",
    "https://news.example.org:port",
    "https://news.example.org:0",
    "https://news.example.org:",
    "https://news example.org",
    "https://news.example.org/ ",
    " https://news.example.org",
    "https://news.example.org\n",
    "https://news.example.org/a\\b",
    "https://bad_host.example.org",
    "https://-news.example.org",
    "https://news..example.org",
    "https://[::1",
    "HTTPS://news.example.org",  # cookies' Secure and HSTS look for "https://"
    "https://nëws.example.org",  # IDNA: the xn-- form, as browsers send it
    "http://news.example.org",  # production: mail links to readers over plain http
    "http://192.0.2.10:8000",
]


@pytest.mark.parametrize("value", BAD_BASE_URLS)
def test_a_base_url_that_makes_bad_links_is_refused(config: dict[str, Any], value: str) -> None:
    refused(config, "BASE_URL", value)


def test_a_base_url_with_credentials_is_refused_without_echoing_them(
    config: dict[str, Any],
) -> None:
    message = refused(config, "BASE_URL", "https://admin:hunter2@news.example.org")
    assert "hunter2" not in message and "admin:" not in message


def test_plain_http_in_production_says_why_and_what_to_do(config: dict[str, Any]) -> None:
    message = refused(config, "BASE_URL", "http://news.example.org")
    assert "https://" in message and "MAILER_ENV=production" in message


@pytest.mark.parametrize(
    "value",
    [
        "https://news.example.org",
        "https://news.example.org/",
        "https://news.example.org/newsletter",  # mounted under a path
        "https://news.example.org:8443/newsletter/",
        "https://xn--nws-ela.example.org",
        "https://192.0.2.10",
        "https://[2001:db8::1]:8443",
        "https://localhost",
        "http://127.0.0.1:5000",  # the default: production tried on this machine only
        "http://localhost:8000",
        "http://[::1]:5000",
    ],
)
def test_a_good_base_url_starts_in_production(config: dict[str, Any], value: str) -> None:
    started(config, BASE_URL=value)


def test_development_keeps_its_loopback_http(config: dict[str, Any]) -> None:
    started(config, MAILER_ENV="development", BASE_URL="http://127.0.0.1:5000")


BAD_MAIL_FROM = [
    "",
    "newsletter",
    "Weekly updates",
    "newsletter@",
    "@example.org",
    "newsletter@example.org, other@example.org",  # two From addresses
    "Weekly <newsletter@example.org>, other@example.org",
    "Weekly <newsletter@example.org>\r\nBcc: everyone@example.net",
    "Weekly <newsletter@example.org>\nBcc: everyone@example.net",
    "newsletter@example.org\n",
    "Weekly updates <newsletter@example.org",
    "Weekly updates <newsletter@example.org> extra",
    "news letter@example.org",
    '"news letter"@example.org',  # VERP addresses are built from the local part
    "newsletter@[192.0.2.1]",
    "newsletter@bad_domain.example.org",
    "newsletter@example..org",
    "newsletter@exämple.org",
    "Team: newsletter@example.org;",  # a group
    "<>",
    "Weekly <newsletter@example.org> <other@example.org>",
]


@pytest.mark.parametrize("value", BAD_MAIL_FROM)
def test_a_mail_from_that_is_not_one_address_is_refused(config: dict[str, Any], value: str) -> None:
    refused(config, "MAIL_FROM", value)


@pytest.mark.parametrize(
    "value",
    [
        "newsletter@example.org",
        "<newsletter@example.org>",
        "Weekly updates <newsletter@example.org>",
        '"Weekly, updates" <newsletter@example.org>',
        "Réseau pour la liberté <lettre@example.org>",
        "Weekly updates <newsletter@localhost>",  # the default
        "Weekly <first.last+news@mail.example.org>",
        "Mr. Smith's desk <desk@example.org>",  # obsolete but readable: rewritten when sent
    ],
)
def test_one_address_with_or_without_a_name_starts(config: dict[str, Any], value: str) -> None:
    started(config, MAIL_FROM=value)


BAD_ANCESTORS = [
    "https://a.example; script-src 'unsafe-inline'",  # a second directive
    "https://a.example;",
    "https://a.example, https://b.example",  # a second policy, to a browser
    "https://a.example,https://b.example",
    "'unsafe-inline'",
    "'self' 'unsafe-eval'",
    '"https://a.example"',
    "'https://a.example'",
    "'self",
    "https://a.example\nhttps://b.example",
    "https://a.example\r\nSet-Cookie: x=1",
    "https://a.example\u00a0https://b.example",  # a no-break space, not a separator
    "https://a.example\u2003https://b.example",
    "https://a.example\x0bhttps://b.example",
    "   ",
    "'none' https://a.example",  # 'none' alone or not at all
    "https://a.example/path?x=1",
    "https://a.example/#top",
    "https://a_b.example",
    "https://user@a.example",
    "https://a.example:port",
    "https://*.*.example",
    "https://a.*.example",
    "data:text/html,x",
    "1https:",
    "https://[::1]",
]


@pytest.mark.parametrize("value", BAD_ANCESTORS)
def test_frame_ancestors_that_are_not_csp_sources_are_refused(
    config: dict[str, Any], value: str
) -> None:
    refused(config, "EMBED_FRAME_ANCESTORS", value)


@pytest.mark.parametrize(
    ("value", "header"),
    [
        ("https://news.example.org", "https://news.example.org"),
        ("'self' https://*.example.net", "'self' https://*.example.net"),
        (
            "  https://a.example   https://b.example:8443 ",
            "https://a.example https://b.example:8443",
        ),
        ("https://a.example\thttps://b.example", "https://a.example https://b.example"),
        ("https://a.example:* a.example b.example.", "https://a.example:* a.example b.example."),
        ("https://a.example/embed/", "https://a.example/embed/"),
        ("https: 'SELF'", "https: 'self'"),
        ("*", "*"),
        ("'none'", "'none'"),
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
    ],
)
def test_csp_sources_start_and_reach_the_header_as_written(
    config: dict[str, Any], value: str, header: str
) -> None:
    app = create_app({**config, "EMBED_FRAME_ANCESTORS": value})
    try:
        response = app.test_client().get("/subscribe?embed=1")
        csp = response.headers["Content-Security-Policy"]
        assert csp.endswith(f"frame-ancestors {header}"), csp
    finally:
        dispose(app)
