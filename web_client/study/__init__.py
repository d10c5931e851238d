"""Study mode: researchers' studies, participants' sessions and everything they do, stored in a
database (SQLite by default, PostgreSQL by URL) through SQLAlchemy, its schema versioned by Alembic."""
