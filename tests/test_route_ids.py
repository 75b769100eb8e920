"""An id in a URL too large for the database's integer is a 404, never a 500 (SQLite and PG)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask

from tests.role_helpers import login, make_editors

TOO_LARGE = (2**31, 2**63, 2**64)  # PostgreSQL's integer ends at 2**31 - 1, SQLite's at 2**63 - 1


@pytest.fixture
def config_overrides() -> dict[str, Any]:
    return {"WTF_CSRF_ENABLED": False}  # the refusal must come from the URL, not the token


def id_routes(app: Flask) -> list[tuple[str, str]]:
    """(method, rule) of every route with an integer in its path."""
    found = []
    for rule in app.url_map.iter_rules():
        if "<int" not in rule.rule:
            continue
        for method in sorted((rule.methods or set()) & {"GET", "POST"}):
            found.append((method, rule.rule))
    return found


def test_there_are_routes_with_ids(app: Flask) -> None:
    assert len(id_routes(app)) >= 20


@pytest.mark.parametrize("number", TOO_LARGE)
def test_an_id_too_large_for_the_database_is_refused_not_a_500(app: Flask, number: int) -> None:
    make_editors(app)
    client = app.test_client()
    login(client, "owner@example.org")
    for method, rule in id_routes(app):
        path = re.sub(r"<int[^>]*>", str(number), rule)
        path = re.sub(r"<any\(([a-z_]+)[^>]*>", r"\1", path)
        response = client.open(path, method=method)
        # 405 where a rule of the same path for another method exists (werkzeug's matcher
        # names the methods of the path before the converter refuses): a refusal all the same.
        assert response.status_code in (404, 405), (method, path, response.status_code)
