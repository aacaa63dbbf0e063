"""Django's PostgreSQL backend, which prepares the statements of `config.prepared.prepared_plans()` and
reads moments with psycopg's own loader. Both where Django reads moments in UTC (`USE_TZ`, no `TIME_ZONE`
for the database: our settings); otherwise it is Django's backend unchanged.

No connection pooler in front of PostgreSQL may keep a client's prepared statements from one transaction
to the next: PgBouncer must not run in transaction pooling mode (docker-compose.yml has none).

Every other statement is sent as Django sends it (psycopg 3's client-side binding, or psycopg 2), so it
is planned for its values each time. A prepared statement is bound on the server and kept by psycopg
for the connection (its `prepared_max` most recently used); a connection is closed after
`DATABASE_CONN_MAX_AGE` seconds, and its statements with it.
"""

from datetime import UTC

from django.db.backends.postgresql import base
from django.db.backends.postgresql.operations import DatabaseOperations as PostgreSQLOperations
from django.db.backends.postgresql.psycopg_any import is_psycopg3

from config.prepared import PREPARED

NOT_BY_ITSELF = 2**31 - 1

if is_psycopg3:
    import psycopg
    from psycopg.adapt import AdaptersMap
    from psycopg.pq import Format

    class PreparedCursor(base.ServerBindingCursor):
        """Binds its values on the server and prepares each statement on its first run."""

        def execute(self, query, params=None, *, prepare=None, binary=None):
            return super().execute(query, params, prepare=True, binary=binary)

    # psycopg's own timestamptz loader: its C one with psycopg[binary] (a final type, so not subclassed).
    UTC_LOADER = psycopg.adapters.get_loader(base.TIMESTAMPTZ_OID, Format.TEXT)


class DatabaseOperations(PostgreSQLOperations):
    def last_executed_query(self, cursor, sql, params):
        """A prepared statement's SQL with its values written in, as Django shows its own statements (in
        `connection.queries` and the tests' captured queries), where psycopg keeps it with placeholders."""
        if is_psycopg3 and isinstance(cursor, PreparedCursor):
            try:
                return self.compose_sql(sql, params)
            except psycopg.errors.DataError:
                return None
        return super().last_executed_query(cursor, sql, params)


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations

    def get_connection_params(self):
        params = super().get_connection_params()
        if is_psycopg3 and params.get("prepare_threshold") is None:
            # Django turns psycopg's prepared statements off (None) for connection poolers. Here only the
            # statements this backend asks for are prepared: psycopg prepares nothing by itself until a
            # statement has run this many times, and Django's client-side cursors are never prepared.
            params["prepare_threshold"] = NOT_BY_ITSELF
        if self._reads_utc:
            # psycopg's loader gives moments in the connection's time zone, which Django sets to UTC
            # before any query (`_configure_timezone`), as Django's own loader does. Django's is written
            # in Python over psycopg's Python one, to set the time zone itself: the compliance CSV's
            # 35,000 moments took 9 ms of its 60 to read that way.
            params["context"] = AdaptersMap(params["context"])
            params["context"].register_loader("timestamptz", UTC_LOADER)
        return params

    @property
    def _reads_utc(self) -> bool:
        return is_psycopg3 and self.timezone == UTC and self.timezone_name == "UTC"

    def create_cursor(self, name=None):
        if not self._reads_utc:
            return super().create_cursor(name)
        # Django's, without its check that the connection's loader has Django's time zone (the loader set
        # above has the connection's, UTC, and no attribute to compare).
        if name and self.settings_dict["OPTIONS"].get("server_side_binding") is not True:
            return base.ServerSideCursor(
                self.connection, name=name, scrollable=False, withhold=self.connection.autocommit
            )
        if name:
            return self.connection.cursor(name, scrollable=False, withhold=self.connection.autocommit)
        if PREPARED.get():
            return PreparedCursor(self.connection)
        return self.connection.cursor()
