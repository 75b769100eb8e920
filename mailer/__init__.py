"""mailer: the newsletter service of a free-expression news network.

Importing this package is cheap on purpose (`mailer --help` imports it): the extensions,
blueprints and everything they pull in are imported by `create_app`.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

ROOT = Path(__file__).resolve().parent.parent


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app: defaults, then .env and the environment, then `config`."""
    import redis
    from werkzeug.middleware.proxy_fix import ProxyFix

    from mailer import config as default_config
    from mailer import i18n
    from mailer.extensions import LazyMigrate, babel, celery_init_app, csrf, db, limiter
    from mailer.privacy import install_log_redaction
    from mailer.urls import IdConverter

    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "mailer" / "static"),
        instance_path=str(ROOT / "instance"),
    )
    app.url_map.converters["int"] = IdConverter  # before any route: ids past MAX_ID are 404s
    app.config.from_object(default_config)
    app.config.update(_from_environment(app.config["ENV_SETTINGS"]))
    if config:
        app.config.update(config)
    _derive_settings(app)

    install_log_redaction()
    if app.config["TRUSTED_PROXIES"]:
        n = int(app.config["TRUSTED_PROXIES"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)  # type: ignore[method-assign]

    db.init_app(app)
    app.extensions["migrate"] = LazyMigrate(app)  # `db` commands: mailer.cli.MigrationsGroup
    csrf.init_app(app)
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(ROOT / "translations"))
    babel.init_app(
        app,
        default_locale=app.config["DEFAULT_LANGUAGE"],
        locale_selector=i18n.select_language,
    )
    app.context_processor(i18n.template_globals)
    app.jinja_env.filters["day"] = i18n.format_day
    app.jinja_env.filters["isolate"] = i18n.isolate
    app.jinja_env.filters["in_language"] = i18n.in_language
    app.jinja_env.globals["text_attrs"] = i18n.text_attrs
    app.jinja_env.filters["digits"] = i18n.digits
    app.jinja_env.filters["number"] = i18n.number
    limiter.init_app(app)
    celery_init_app(app)
    app.extensions["redis"] = redis.Redis.from_url(
        app.config["REDIS_URL"], socket_timeout=2, socket_connect_timeout=2
    )

    from mailer import errors, security
    from mailer.admin import auth
    from mailer.admin import bp as admin_bp
    from mailer.admin.invites import bp as invite_bp
    from mailer.archive.views import bp as archive_bp
    from mailer.bounces.webhooks import bp as webhooks_bp
    from mailer.subscriptions.views import bp as subscriptions_bp

    auth.init_app(app)
    app.register_blueprint(subscriptions_bp)
    app.register_blueprint(archive_bp)
    app.register_blueprint(webhooks_bp)
    app.register_blueprint(admin_bp)
    app.register_blueprint(invite_bp)
    errors.register(app)
    security.register(app)
    if app.config["MAILER_ENV"] == "development":
        from mailer.dev.views import bp as dev_bp

        app.register_blueprint(dev_bp)

    from mailer.cli import register as register_cli

    register_cli(app)
    return app


def create_app_or_exit() -> Flask:
    """create_app() for wsgi.py and worker.py: a setting refused at start is one line on
    stderr ("Error: ..." naming the setting and the fix) and exit status 2, not a traceback
    from deep inside gunicorn's or Celery's start."""
    import sys

    from mailer.config_check import ConfigError

    try:
        return create_app()
    except ConfigError as exc:
        print(f"Error: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None


def _from_environment(settings: Mapping[str, str]) -> dict[str, Any]:
    """The settings of ENV_SETTINGS, from an optional .env and then the environment."""
    from dotenv import dotenv_values

    from mailer.config_check import parse_setting

    raw: dict[str, str | None] = {}
    env_file = Path(os.environ.get("MAILER_DOTENV", ROOT / ".env"))
    if env_file.is_file():
        raw.update(dotenv_values(env_file))
    raw.update({k: v for k, v in os.environ.items() if k in settings})
    parsed: dict[str, Any] = {}
    for key, kind in settings.items():
        value = raw.get(key)
        if value is None or (value == "" and kind != "nonempty"):
            continue  # empty is unset, but where an empty value can only be a slip
        parsed[key] = parse_setting(key, kind, value)
    return parsed


def _derive_settings(app: Flask) -> None:
    from mailer.config_check import ConfigError, check_environment, check_settings
    from mailer.dev.guard import check_development
    from mailer.i18n import catalogue_languages
    from mailer.keys import check_keys

    cfg = app.config
    check_environment(cfg)
    if not cfg.get("REDIS_URL"):
        _default_redis(cfg, Path(app.instance_path))
    if cfg.get("LANGUAGES") is None:
        cfg["LANGUAGES"] = catalogue_languages(ROOT / "translations")
    if not cfg.get("SECRET_KEY"):
        if cfg["MAILER_ENV"] != "development" and not cfg.get("TESTING"):
            raise ConfigError(
                "SECRET_KEY is not set. Set it in the environment or .env "
                "(for example: python -c 'import secrets; print(secrets.token_urlsafe(48))'). "
                "For the development setup of `make run`, prefix commands with "
                "MAILER_ENV=development."
            )
        cfg["SECRET_KEY"] = _development_secret(Path(app.instance_path))
    check_keys(cfg)
    check_development(cfg)
    check_settings(cfg)
    if not cfg.get("DATABASE_URL"):
        cfg["DATABASE_URL"] = f"sqlite:///{Path(app.instance_path) / 'mailer.db'}"
    cfg["SQLALCHEMY_DATABASE_URI"] = _sqlalchemy_url(cfg["DATABASE_URL"])
    cfg.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {"pool_pre_ping": True})
    if int(cfg.get("DATABASE_POOL_SIZE") or 0) > 0:
        # As many kept connections as threads: past the pool's size, every request would open
        # and close a connection of its own (a new PostgreSQL backend each time).
        cfg["SQLALCHEMY_ENGINE_OPTIONS"] = {
            **cfg["SQLALCHEMY_ENGINE_OPTIONS"],
            "pool_size": int(cfg["DATABASE_POOL_SIZE"]),
        }
    cfg["RATELIMIT_STORAGE_URI"] = cfg["REDIS_URL"]
    cfg["RATELIMIT_IN_MEMORY_FALLBACK_ENABLED"] = True
    cfg["RATELIMIT_STORAGE_OPTIONS"] = {"socket_timeout": 2, "socket_connect_timeout": 2}
    cfg["RATELIMIT_SWALLOW_ERRORS"] = True
    if cfg["BASE_URL"].startswith("https://"):
        cfg["SESSION_COOKIE_SECURE"] = True
        cfg["PREFERRED_URL_SCHEME"] = "https"


def _default_redis(cfg: dict[str, Any], instance: Path) -> None:
    """REDIS_URL when none is set: the usual local server in production; in development,
    the Redis of the `make run` that is running, else none (commands that queue refuse)."""
    from mailer.dev import redis_state

    if cfg["MAILER_ENV"] != "development":
        cfg["REDIS_URL"] = "redis://127.0.0.1:6379/0"
        return
    url = redis_state.running_url(instance)
    if url is None:
        cfg["REDIS_MISSING"] = redis_state.MISSING
    cfg["REDIS_URL"] = url or redis_state.UNSET_URL


def _sqlalchemy_url(url: str) -> str:
    # psycopg 3 is the driver we ship; plain postgresql:// would ask for psycopg2.
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _development_secret(instance: Path) -> str:
    """A per-checkout key for `make run`, kept under instance/ so links survive a restart."""
    path = instance / "secret_key"
    if path.is_file():
        return path.read_text().strip()
    instance.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    path.write_text(key)
    path.chmod(0o600)
    return key
