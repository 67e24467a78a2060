"""Persistence: SQLAlchemy tables, the async database handle, repositories, migrations."""
