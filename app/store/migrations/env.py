"""Alembic environment: migrates the connection `Store.open()` hands over (online only).

New revisions are written by hand in versions/ (copy 0001_initial.py); tests check that the
migrated schema matches `app.store.sql.metadata`.
"""

from alembic import context
from sqlalchemy.engine import Connection

from app.store.schema import metadata

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError("store migrations run through app.store.Store.open(), not the alembic CLI")
context.configure(connection=connection, target_metadata=metadata)
with context.begin_transaction():
    context.run_migrations()
