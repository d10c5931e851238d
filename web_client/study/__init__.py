"""Study mode: researchers' studies, participants' sessions and everything they do, stored in a
database (SQLite by default, PostgreSQL by URL) through SQLAlchemy, its schema versioned by Alembic."""

from __future__ import annotations

from pathlib import Path


def default_database_url(data_dir: str) -> str:
    return f"sqlite:///{Path(data_dir).resolve() / 'maskscope.db'}"


def add_database_flags(parser) -> None:
    from maskscope.flags import add_flag
    add_flag(parser, "--data-dir", default="data", help="where the study database lives (SQLite) unless --database-url")
    add_flag(parser, "--database-url", default="", secret=True,
             help="the study database, a SQLAlchemy URL (postgresql+psycopg://user@host/db); default: SQLite in --data-dir")


def database_url(args) -> str:
    return args.database_url or default_database_url(args.data_dir)


def init_app(app) -> None:
    """The store on app.config's DATABASE_URL (migrated first unless STUDY_MIGRATE is false: the
    server migrates once before its worker processes start), the write limits, the routes."""
    from web_client.limits import EXTENSION as LIMITS
    from web_client.study.limits import WriteLimits
    from web_client.study.store import Store, engine_for, migrate
    from web_client.study.views import bp, photo_size
    engine = engine_for(app.config["DATABASE_URL"])
    if app.config.get("STUDY_MIGRATE", True):
        migrate(engine)
    limits = app.extensions[LIMITS][0]
    app.extensions["maskscope.study"] = {"store": Store(engine, limits, photo_size), "limits": WriteLimits()}
    app.register_blueprint(bp)
