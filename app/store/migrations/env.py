"""Alembic environment: migrates the connection `Store.open()` hands over (online only).

New revisions are written by hand in versions/ (copy 0001_initial.py). The store's statements
(app/store/*.py) are plain SQL against the tables these build; the store's tests run them
against a migrated database of each kind.
"""

from alembic import context
from sqlalchemy.engine import Connection

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError("store migrations run through app.store.Store.open(), not the alembic CLI")
context.configure(connection=connection)
with context.begin_transaction():
    context.run_migrations()
