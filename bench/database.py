"""Create the PostgreSQL database of BENCH_DATABASE_URL when it is missing.

Run before the benchmarks (`make bench` does): `python -m bench.database`. SQLite (the
default, a file in a temp dir) needs nothing.
"""

from __future__ import annotations

import os


def ensure_database(url: str | None) -> None:
    """CREATE DATABASE for a postgresql:// URL whose database does not exist yet."""
    if not url or not url.startswith(("postgresql://", "postgres://")):
        return
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import conninfo_to_dict

    params = conninfo_to_dict(url)
    name = str(params.get("dbname") or "bench")
    params["dbname"] = "postgres"
    with psycopg.connect(**params, autocommit=True) as conn:  # type: ignore[arg-type]
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


if __name__ == "__main__":
    ensure_database(os.environ.get("BENCH_DATABASE_URL"))
