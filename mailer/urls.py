"""Absolute links for mail, built from BASE_URL (workers have no request)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import current_app
from werkzeug.routing import IntegerConverter, Map


def external_url(endpoint: str, **values: Any) -> str:
    """url_for(..., _external=True) against BASE_URL, inside or outside a request."""
    base = urlsplit(current_app.config["BASE_URL"])
    adapter = current_app.url_map.bind(
        base.netloc, script_name=base.path.rstrip("/") or "/", url_scheme=base.scheme
    )
    return adapter.build(endpoint, values, force_external=True)


MAX_ID = 2**31 - 1  # the largest INTEGER on PostgreSQL; past it, SQLite's and PG's drivers fail


class IdConverter(IntegerConverter):
    """`<int:…>` in every route: at most MAX_ID unless the rule says otherwise.

    An id past the database's integer is a 404 before the view runs, not a driver's
    OverflowError (SQLite) or "integer out of range" (PostgreSQL) answered as 500.
    """

    def __init__(self, map: Map, *args: Any, **kwargs: Any) -> None:  # noqa: A002 (werkzeug's name)
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)
