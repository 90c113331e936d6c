"""Persistence: SQLAlchemy 2 models, repositories and Alembic migrations.

The database is the truth: the manager reconciles the host to it on start.
"""

from atelier.db.session import Database

__all__ = ["Database"]
