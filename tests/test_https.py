"""HTTPS: the same-origin check that replaces the Referer check, HSTS, caching, framing, proxies."""

from __future__ import annotations

import runpy
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from gunicorn.config import Config
from sqlalchemy import func, select

from mailer.admin.auth import create_editor
from mailer.extensions import db
from mailer.models import Subscriber, Subscription
from mailer.subscriptions import links, service
from tests.conftest import ROOT, csrf_token

SITE = "https://news.example.org"
PASSWORD = "correct horse battery staple"
BROWSER_SAME_ORIGIN = {"Origin": "null", "Sec-Fetch-Site": "same-origin"}  # Chromium, no-referrer
CROSS_SITE = {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}


@pytest.fixture
def config_overrides() -> dict[str, Any]:
    return {"BASE_URL": SITE}


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A client that talks to the app over https, at BASE_URL's host."""
    return app.test_client()


def get(client: FlaskClient, path: str, **kwargs: Any) -> Any:
    return client.get(path, base_url=SITE, **kwargs)


def post(client: FlaskClient, path: str, headers: dict[str, str], **kwargs: Any) -> Any:
    assert "Referer" not in headers
    return client.post(path, base_url=SITE, headers=headers, **kwargs)


def signup_data(
    client: FlaskClient, email: str = "reader@example.org", **get_args: Any
) -> dict[str, str]:
    page = client.get("/subscribe", **({"base_url": SITE} | get_args)).get_data(as_text=True)
    return {
        "email": email,
        "lists": "weekly",
        "language": "en",
        "consent": "y",
        "csrf_token": csrf_token(page),
    }


def subscribers(app: Flask) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(Subscriber.id))) or 0


@pytest.mark.parametrize(
    "headers",
    [
        BROWSER_SAME_ORIGIN,
        {"Origin": SITE, "Sec-Fetch-Site": "same-origin"},
        {"Origin": SITE},  # a browser without Sec-Fetch-*
        {"Sec-Fetch-Site": "same-origin"},
        {},  # a script or curl: the CSRF token alone decides
    ],
)
def test_same_origin_post_over_https_without_referer_is_accepted(
    app: Flask, client: FlaskClient, headers: dict[str, str]
) -> None:
    response = post(client, "/subscribe", headers, data=signup_data(client))
    assert response.status_code == 303, response.get_data(as_text=True)
    assert subscribers(app) == 1


@pytest.mark.parametrize(
    "headers",
    [
        CROSS_SITE,
        {"Origin": "null", "Sec-Fetch-Site": "cross-site"},  # a sandboxed frame elsewhere
        {"Origin": "https://evil.example"},  # an older browser
        {"Sec-Fetch-Site": "same-site"},  # a sibling subdomain is another origin
        {"Sec-Fetch-Site": "none"},
        {"Origin": "http://news.example.org"},  # another scheme is another origin
        {"Origin": "https://news.example.org.evil.example"},
        {"Origin": "https://news.example.org:8443"},
    ],
)
def test_cross_site_post_is_refused_with_a_clear_page(
    app: Flask, client: FlaskClient, headers: dict[str, str]
) -> None:
    response = post(client, "/subscribe", headers, data=signup_data(client))
    assert response.status_code == 403
    assert "sent from another site" in response.get_data(as_text=True)
    assert subscribers(app) == 0


def test_same_origin_still_needs_the_csrf_token(app: Flask, client: FlaskClient) -> None:
    data = signup_data(client)
    data["csrf_token"] = "forged"
    for headers in (BROWSER_SAME_ORIGIN, {}):
        assert post(client, "/subscribe", headers, data=data).status_code == 400
    assert subscribers(app) == 0


def test_origin_of_the_request_itself_counts_as_same_origin(
    app: Flask, client: FlaskClient
) -> None:
    """Reached at another name than BASE_URL's (an alias host): that host's own origin passes."""
    alias = "https://alias.example.net"
    data = signup_data(client, base_url=alias)
    headers = {"Origin": alias}
    response = client.post("/subscribe", base_url=alias, headers=headers, data=data)
    assert response.status_code == 303


def test_cross_site_json_api_answer_is_json(client: FlaskClient) -> None:
    response = post(client, "/admin/login", {**CROSS_SITE, "Accept": "application/json"})
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "cross_site_request"


def confirmed(app: Flask) -> dict[str, str]:
    with app.app_context():
        signup = service.subscribe("reader@example.org", lists=service.lists_by_slug(["weekly"]))
        sub = db.session.get(Subscriber, signup.subscriber_id)
        assert sub is not None
        sub.subscriptions[0].status = service.SubscriptionStatus.confirmed
        db.session.commit()
        return {
            "unsubscribe": links.unsubscribe_token(sub, sub.subscriptions[0].list_id),
            "confirm": links.confirm_token(sub, [sub.subscriptions[0].list_id]),
            "preferences": links.preferences_token(sub),
        }


def weekly_status(app: Flask) -> str:
    with app.app_context():
        return db.session.scalars(select(Subscription)).one().status.value


@pytest.mark.parametrize(
    "headers",
    [{}, {"Origin": "https://mail.provider.example", "Sec-Fetch-Site": "cross-site"}],
)
def test_rfc8058_one_click_works_with_no_cookie_token_or_origin(
    app: Flask, headers: dict[str, str]
) -> None:
    token = confirmed(app)["unsubscribe"]
    bare = app.test_client(use_cookies=False)
    response = post(bare, f"/unsubscribe/{token}", headers, data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    assert weekly_status(app) == "unsubscribed"


def test_webhooks_are_not_subject_to_the_origin_check(client: FlaskClient) -> None:
    response = post(client, "/api/v1/webhooks/mailgun", CROSS_SITE, json={})
    assert response.get_json()["error"]["code"] != "cross_site_request"


def test_token_pages_work_over_https_and_refuse_cross_site(app: Flask, client: FlaskClient) -> None:
    tokens = confirmed(app)
    url = f"/preferences/{tokens['preferences']}/unsubscribe-all"
    page = get(client, f"/preferences/{tokens['preferences']}").get_data(as_text=True)
    refused = post(client, url, CROSS_SITE, data={"csrf_token": csrf_token(page)})
    assert refused.status_code == 403 and weekly_status(app) == "confirmed"
    done = post(client, url, BROWSER_SAME_ORIGIN, data={"csrf_token": csrf_token(page)})
    assert done.status_code == 303 and weekly_status(app) == "unsubscribed"


def test_admin_login_and_post_over_https(app: Flask, client: FlaskClient) -> None:
    with app.app_context():
        create_editor("editor@example.org", PASSWORD)
        db.session.commit()
    page = get(client, "/admin/login").get_data(as_text=True)
    data = {"email": "editor@example.org", "password": PASSWORD, "csrf_token": csrf_token(page)}
    assert post(client, "/admin/login", CROSS_SITE, data=data).status_code == 403
    assert post(client, "/admin/login", BROWSER_SAME_ORIGIN, data=data).status_code == 303
    page = get(client, "/admin/articles/new").get_data(as_text=True)
    article = {"title": "A ruling", "link": f"{SITE}/ruling", "language": "en"}
    article["csrf_token"] = csrf_token(page)
    assert post(client, "/admin/articles/new", CROSS_SITE, data=article).status_code == 403
    assert post(client, "/admin/articles/new", BROWSER_SAME_ORIGIN, data=article).status_code == 303


# --- headers ----------------------------------------------------------------------------------


def test_hsts_with_an_https_base_url(client: FlaskClient) -> None:
    for path in ("/subscribe", "/admin/login", "/nope"):
        hsts = get(client, path).headers.get("Strict-Transport-Security")
        assert hsts == "max-age=63072000; includeSubDomains"


@pytest.mark.parametrize("base_url", ["http://localhost", "http://news.example.org"])
def test_no_hsts_with_an_http_base_url(app: Flask, client: FlaskClient, base_url: str) -> None:
    app.config["BASE_URL"] = base_url
    assert "Strict-Transport-Security" not in client.get("/subscribe").headers


def test_admin_pages_are_never_cached(app: Flask, client: FlaskClient) -> None:
    assert get(client, "/admin/login").headers["Cache-Control"] == "no-store"
    with app.app_context():
        create_editor("editor@example.org", PASSWORD)
        db.session.commit()
    page = get(client, "/admin/login").get_data(as_text=True)
    data = {"email": "editor@example.org", "password": PASSWORD, "csrf_token": csrf_token(page)}
    assert post(client, "/admin/login", BROWSER_SAME_ORIGIN, data=data).status_code == 303
    for path in ("/admin/", "/admin/subscribers", "/admin/lists", "/admin/articles"):
        response = get(client, path)
        assert response.status_code == 200, path
        assert response.headers["Cache-Control"] == "no-store", path
    assert "no-store" not in get(client, "/subscribe").headers.get("Cache-Control", "")


def framing(response: Any) -> tuple[str, str | None]:
    csp = response.headers["Content-Security-Policy"]
    return csp.rsplit("frame-ancestors ", 1)[1], response.headers.get("X-Frame-Options")


def test_embed_relaxes_framing_on_the_signup_form_only(app: Flask, client: FlaskClient) -> None:
    app.config["EMBED_FRAME_ANCESTORS"] = "https://www.example.org"
    assert framing(get(client, "/subscribe?embed=1")) == ("https://www.example.org", None)
    assert framing(get(client, "/check-inbox?embed=1")) == ("https://www.example.org", None)
    invalid = post(client, "/subscribe?embed=1", BROWSER_SAME_ORIGIN, data={})
    assert framing(invalid)[1] is None  # the form again, with its messages, still in the frame
    tokens = confirmed(app)
    for path in (
        "/admin/login?embed=1",
        "/admin/subscribers?embed=1",
        f"/preferences/{tokens['preferences']}?embed=1",
        f"/unsubscribe/{tokens['unsubscribe']}?embed=1",
        f"/confirm/{tokens['confirm']}?embed=1",
        "/archive?embed=1",
        "/subscribe",
    ):
        assert framing(get(client, path)) == ("'none'", "DENY"), path


def test_embed_default_is_our_own_origin_only(app: Flask, client: FlaskClient) -> None:
    # A parent-domain guess would let every site under a public suffix frame the form
    # (https://example.co.uk -> *.co.uk); the operator lists article sites explicitly.
    ancestors, _ = framing(get(client, "/subscribe?embed=1"))
    assert ancestors == "'self'"
    app.config["EMBED_FRAME_ANCESTORS"] = "https://news.example.org"
    ancestors, _ = framing(get(client, "/subscribe?embed=1"))
    assert ancestors == "https://news.example.org"


# --- behind a proxy ---------------------------------------------------------------------------


class TestBehindAProxy:
    @pytest.fixture
    def config_overrides(self) -> dict[str, Any]:
        return {
            "BASE_URL": SITE,
            "TRUSTED_PROXIES": 1,
            "RATELIMIT_ENABLED": True,
            "RATELIMIT_SIGNUP_IP": "2 per minute",
        }

    def forwarded(self, client_ip: str) -> dict[str, str]:
        return {
            "X-Forwarded-For": client_ip,
            "X-Forwarded-Proto": "https",
            "X-Forwarded-Host": "news.example.org",
            **BROWSER_SAME_ORIGIN,
        }

    def signup_from(self, client: FlaskClient, client_ip: str, n: int) -> int:
        # The proxy talks plain http to the app; the forwarded headers say what the client used.
        via = {"base_url": "http://127.0.0.1:8000", "headers": self.forwarded(client_ip)}
        data = signup_data(client, f"r{n}@example.org", **via)
        return client.post("/subscribe", data=data, **via).status_code

    def test_per_ip_limits_see_the_real_client(self, app: Flask, client: FlaskClient) -> None:
        first = [self.signup_from(client, "203.0.113.7", n) for n in range(3)]
        assert first == [303, 303, 429]
        assert self.signup_from(client, "198.51.100.9", 9) == 303  # someone else, same proxy


class TestWithoutTrustedProxies:
    @pytest.fixture
    def config_overrides(self) -> dict[str, Any]:
        return {"BASE_URL": SITE, "RATELIMIT_ENABLED": True, "RATELIMIT_SIGNUP_IP": "2 per minute"}

    def test_forwarded_headers_are_ignored(self, app: Flask, client: FlaskClient) -> None:
        statuses = []
        for n, client_ip in enumerate(["203.0.113.7", "198.51.100.9", "192.0.2.1"]):
            headers = {"X-Forwarded-For": client_ip, **BROWSER_SAME_ORIGIN}
            data = signup_data(client, f"r{n}@example.org")
            statuses.append(post(client, "/subscribe", headers, data=data).status_code)
        assert statuses == [303, 303, 429]  # a forged X-Forwarded-For changes nothing


# --- the gunicorn configuration ---------------------------------------------------------------


def test_gunicorn_trusts_no_forwarded_headers(monkeypatch: pytest.MonkeyPatch) -> None:
    """gunicorn by default believes X-Forwarded-Proto from 127.0.0.1; ours believes no one."""
    for name in ("WEB_BIND", "WEB_CONCURRENCY", "WEB_THREADS", "FORWARDED_ALLOW_IPS"):
        monkeypatch.delenv(name, raising=False)
    cfg = Config()
    for key, value in runpy.run_path(str(ROOT / "gunicorn.conf.py")).items():
        if key in cfg.settings:
            cfg.set(key, value)
    assert cfg.forwarded_allow_ips == [] and cfg.secure_scheme_headers == {}
    assert cfg.worker_class_str == "gthread" and cfg.threads >= 8
    assert cfg.bind == ["127.0.0.1:8000"] and cfg.accesslog is None
    monkeypatch.setenv("WEB_THREADS", "4")
    monkeypatch.setenv("WEB_BIND", "0.0.0.0:9000")
    assert runpy.run_path(str(ROOT / "gunicorn.conf.py"))["threads"] == 4
    assert runpy.run_path(str(ROOT / "gunicorn.conf.py"))["bind"] == ["0.0.0.0:9000"]
