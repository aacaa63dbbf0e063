"""Django's PostgreSQL backend, which prepares the statements of `config.prepared.prepared_plans()`.

No connection pooler in front of PostgreSQL may keep a client's prepared statements from one transaction
to the next: PgBouncer must not run in transaction pooling mode (docker-compose.yml has none).

Every other statement is sent as Django sends it (psycopg 3's client-side binding, or psycopg 2), so it
is planned for its values each time. A prepared statement is bound on the server and kept by psycopg
for the connection (its `prepared_max` most recently used); a connection is closed after
`DATABASE_CONN_MAX_AGE` seconds, and its statements with it.
"""

from django.db.backends.postgresql import base
from django.db.backends.postgresql.psycopg_any import is_psycopg3

from config.prepared import PREPARED

NOT_BY_ITSELF = 2**31 - 1

if is_psycopg3:

    class PreparedCursor(base.ServerBindingCursor):
        """Binds its values on the server and prepares each statement on its first run."""

        def execute(self, query, params=None, *, prepare=None, binary=None):
            return super().execute(query, params, prepare=True, binary=binary)


class DatabaseWrapper(base.DatabaseWrapper):
    def get_connection_params(self):
        params = super().get_connection_params()
        if is_psycopg3 and params.get("prepare_threshold") is None:
            # Django turns psycopg's prepared statements off (None) for connection poolers. Here only the
            # statements this backend asks for are prepared: psycopg prepares nothing by itself until a
            # statement has run this many times, and Django's client-side cursors are never prepared.
            params["prepare_threshold"] = NOT_BY_ITSELF
        return params

    def create_cursor(self, name=None):
        if name is None and is_psycopg3 and PREPARED.get():
            factory = self.connection.cursor_factory
            self.connection.cursor_factory = PreparedCursor
            try:
                return super().create_cursor(name)
            finally:
                self.connection.cursor_factory = factory
        return super().create_cursor(name)
